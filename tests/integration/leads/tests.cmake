cf_integration_test(leads.notify leads/test_notify.py)
