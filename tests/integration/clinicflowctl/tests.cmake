# clinicflowctl against a throwaway database of its own on the test PostgreSQL.
cf_integration_test(clinicflowctl.apply clinicflowctl/test_clinicflowctl.py)
