# The analytics dashboard in Debian's chromium (tests/browser/dashboard.mjs,
# playwright-core from tests/browser/node_modules): every page against the
# API, filters, drill-down, sign-in and sign-out, a clinic-limited key, the
# live worklist, and screenshots in artifacts/dashboard.
cf_integration_test(dashboard.browser dashboard/test_dashboard.py)
set_tests_properties(integration.dashboard.browser PROPERTIES COST 60)
