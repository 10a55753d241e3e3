cf_integration_test(leads.notify leads/test_notify.py)
cf_integration_test(leads.codes leads/test_codes.py)
cf_integration_test(leads.snippet_page leads/test_snippet_page.py)
