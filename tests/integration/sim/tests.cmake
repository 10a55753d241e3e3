# clinicflow-sim: a small month end to end, compared with the analytics reports.
cf_integration_test(sim.month sim/test_month.py)
set_tests_properties(integration.sim.month PROPERTIES COST 60)
