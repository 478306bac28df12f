set(  sched_test_TESTS)
