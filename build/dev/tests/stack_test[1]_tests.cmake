set(  stack_test_TESTS)
