#![no_main]
//! heap?debug=1 text with the MemStats trailer.

use gohealth_fuzz::pprof;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = pprof::parse_heap_debug1(data);
});
