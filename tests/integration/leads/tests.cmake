# clinicflow-leads through the running service.
cf_integration_test(leads.contract leads/test_contract.py)
