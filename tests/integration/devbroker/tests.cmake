cf_integration_test(devbroker.control devbroker/test_devbroker.py)
