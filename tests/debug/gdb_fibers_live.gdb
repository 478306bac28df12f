# gdb script for check_gdb_fibers.sh (live): stop gdb_target at
# weft_gdb_stop_here, run the weft-gdb.py checks, then let it run to the end.
# weft-gdb.py and gdb_fibers_check.py are sourced first by the caller.
set pagination off
set width 0
set height 0
set confirm off
set print thread-events off
break weft_gdb_stop_here
run
python weft_check()
delete
echo @@CONT-BEGIN\n
continue
echo @@CONT-END\n
