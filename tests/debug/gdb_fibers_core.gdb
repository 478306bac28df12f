# gdb script for check_gdb_fibers.sh (core): the weft-gdb.py checks on a core file.
set pagination off
set width 0
set height 0
python weft_check()
