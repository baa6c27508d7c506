#![no_main]
//! goroutine?debug=1 text.

use gohealth_fuzz::pprof;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = pprof::parse_goroutine_debug1(data) {
        let _ = p.sum_of_groups();
    }
});
