#![no_main]
//! goroutine?debug=2 dumps and panic tracebacks.

use gohealth_fuzz::pprof;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(t) = pprof::parse_traceback(data) {
        // invariants: groups add up to the total, ids are capped
        assert_eq!(t.profile.sum_of_groups(), t.profile.total);
        assert!(t.profile.groups.iter().all(|g| g.goids().len() <= pprof::GOIDS_PER_GROUP));
    }
});
