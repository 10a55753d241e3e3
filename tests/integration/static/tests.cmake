cf_integration_test(static.compose static/test_compose.py)
