cf_integration_test(reminders.mis reminders/test_mis.py)
