cf_integration_test(calls.generic calls/test_generic.py)
cf_integration_test(calls.brokers_down calls/test_brokers_down.py)
cf_integration_test(services.lifecycle calls/test_services.py)
cf_integration_test(calls.consumer calls/test_consumer.py)
