#![no_main]
//! detect + parse of any body (gzip bombs bounded by a 1 MiB limit).

use gohealth_fuzz::pprof::{self, ContentionKind, ParseOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = pprof::detect(data);
    let _ = pprof::parse(data, 1 << 20);
    let mut opts = ParseOptions::new(1 << 20);
    opts.leak_profile = Some(true);
    opts.contention_kind = Some(ContentionKind::Mutex);
    let _ = pprof::parse_with(data, &opts);
});
