#![no_main]
//! mutex/block?debug=1 text.

use gohealth_fuzz::pprof;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = pprof::parse_contention_debug1(data);
});
