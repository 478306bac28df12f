module weft/bench/go_sync

go 1.19
