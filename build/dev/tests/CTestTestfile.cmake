# CMake generated Testfile for 
# Source directory: /work/main/tests
# Build directory: /work/main/build/dev/tests
# 
# This file includes the relevant testing commands required for 
# testing this directory and lists subdirectories to be tested as well.
include("/work/main/build/dev/tests/context_test[1]_include.cmake")
include("/work/main/build/dev/tests/stack_test[1]_include.cmake")
include("/work/main/build/dev/tests/fiber_test[1]_include.cmake")
include("/work/main/build/dev/tests/sched_test[1]_include.cmake")
