module weft/bench/go_runtime

go 1.19
