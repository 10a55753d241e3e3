cf_integration_test(leads.intake leads/test_intake.py)
cf_integration_test(leads.events leads/test_events.py)
cf_integration_test(leads.fold leads/test_fold.py)
cf_integration_test(leads.contract leads/test_contract.py)
