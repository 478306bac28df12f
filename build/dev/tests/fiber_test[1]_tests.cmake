set(  fiber_test_TESTS)
