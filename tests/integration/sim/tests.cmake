# clinicflow-sim: a small month end to end, compared with the analytics reports.
cf_integration_test(sim.month sim/test_month.py)
set_tests_properties(integration.sim.month PROPERTIES COST 60)
# clinicflow-sim --load with every broker down for a few seconds mid-run
# (~25 s on two cores under ASan; it owns its devbroker).
cf_integration_test(sim.load_faults sim/test_load_faults.py)
set_tests_properties(integration.sim.load_faults PROPERTIES COST 30 TIMEOUT 180)
# clinicflow-sim's site visitors: a number from the pool, then the call to it
# through UIS, attributed to the visitor's ad (~15 s).
cf_integration_test(sim.dni sim/test_dni.py)
set_tests_properties(integration.sim.dni PROPERTIES COST 20)
