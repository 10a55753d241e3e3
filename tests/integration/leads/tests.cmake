cf_integration_test(leads.notify leads/test_notify.py)
cf_integration_test(leads.codes leads/test_codes.py)
