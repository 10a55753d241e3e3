cf_integration_test(leads.tasks leads/test_tasks.py)
