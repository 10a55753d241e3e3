cf_integration_test(reminders.mis reminders/test_mis.py)
cf_integration_test(reminders.planning reminders/test_planning.py)
cf_integration_test(reminders.dispatch reminders/test_dispatch.py)
