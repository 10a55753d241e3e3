cf_integration_test(leads.intake leads/test_intake.py)
cf_integration_test(leads.events leads/test_events.py)
cf_integration_test(leads.tasks leads/test_tasks.py)
