module gohealth.dev/e2e/images/pause

go 1.26
