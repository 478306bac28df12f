# gdb script for check_gdb_fibers.sh (core): stop gdb_target at
# weft_gdb_stop_here, write a core with gcore, then kill it with SIGABRT so
# the kernel may write one too (ulimit -c is raised by the caller).
set pagination off
set confirm off
set print thread-events off
break weft_gdb_stop_here
run
echo @@GCORE-BEGIN\n
gcore gdb_target.gcore
echo @@GCORE-END\n
delete
signal SIGABRT
