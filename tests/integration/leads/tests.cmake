cf_integration_test(leads.fold leads/test_fold.py)
