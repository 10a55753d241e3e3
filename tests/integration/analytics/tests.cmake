# clinicflow-analytics: the calls and leads reports end to end through the
# calls and leads services' webhooks, exactly-once consumption under
# duplicates, restarts, crashes and rebalances, the report API's walls and
# refusals, the Redis cache (and Redis down), and the metrics topic.
cf_integration_test(analytics.calls_report analytics/test_calls_report.py)
cf_integration_test(analytics.exactly_once analytics/test_exactly_once.py)
cf_integration_test(analytics.report_api analytics/test_report_api.py)
# exactly_once restarts, kills and rebalances the service over backlogs of
# a thousand or two events each (~100 s on 2 cores under ASan): start it early.
set_tests_properties(integration.analytics.exactly_once PROPERTIES COST 100)
set_tests_properties(integration.analytics.calls_report PROPERTIES COST 20)
cf_integration_test(analytics.leads_report analytics/test_leads_report.py)
cf_integration_test(analytics.cache analytics/test_cache.py)
cf_integration_test(analytics.metrics_topic analytics/test_metrics_topic.py)
cf_integration_test(analytics.poison analytics/test_poison.py)
cf_integration_test(analytics.business_reports analytics/test_business_reports.py)
cf_integration_test(analytics.read_access analytics/test_read_access.py)
cf_integration_test(analytics.person_keys analytics/test_person_keys.py)
cf_integration_test(analytics.walled_figures analytics/test_walled_figures.py)
cf_integration_test(analytics.person_edges analytics/test_person_edges.py)
