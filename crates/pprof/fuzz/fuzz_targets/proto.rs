#![no_main]
//! profile.proto (plain or gzipped) through every proto entry point.

use gohealth_fuzz::pprof;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = pprof::parse_goroutine_proto(data, 1 << 20, None);
    let _ = pprof::parse_contention_proto(data, 1 << 20, None);
    let _ = pprof::parse_heap_proto(data, 1 << 20);
});
