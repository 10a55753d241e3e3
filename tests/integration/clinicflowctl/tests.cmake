# clinicflowctl against a throwaway database of its own on the test PostgreSQL.
cf_integration_test(clinicflowctl.apply clinicflowctl/test_clinicflowctl.py)
# dlq list/replay against a private devbroker (no database).
cf_integration_test(clinicflowctl.dlq clinicflowctl/test_dlq.py)
