module gohealth.dev/e2e/fleet

go 1.26
