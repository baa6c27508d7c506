module gohealth.dev/bench/replay

go 1.26
