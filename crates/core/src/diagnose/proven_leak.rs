//! `ProvenGoroutineLeak`: the runtime's own goroutineleak profile (Go 1.27; 1.26 built with
//! `GOEXPERIMENT=goroutineleakprofile`) — every site in it is a leak, no heuristics. Without a fresh
//! goroutineleak profile, goroutines a previous detection marked `(leaked)` in debug=2 count too
//! (the mark persists until the next detection cycle).

use crate::finding::{CheckId, Confidence, Finding, Severity};

use super::site::{all_sites, sites_where};
use super::{Input, created_by_text, site_finding, thousands};

pub(crate) fn check(input: &Input) -> Vec<Finding> {
    if !input.checks.proven_goroutine_leak.enabled {
        return Vec::new();
    }
    let (sites, source) = match (&input.snapshot.leaks, &input.snapshot.goroutines_full) {
        (Some(leaks), _) => (all_sites(leaks), "goroutineleak profile"),
        (None, Some(full)) => (
            sites_where(full, |g| g.leaked() || g.state().is_some_and(super::site::state_is_leaked)),
            "(leaked) marks in goroutine?debug=2",
        ),
        (None, None) => return Vec::new(),
    };
    sites
        .iter()
        .map(|site| {
            let message = format!(
                "{} goroutines at {} ({}){} are leaked: the Go runtime's leak detector proved they are blocked on {} that no running goroutine can reach, so they will never finish. {}",
                thousands(site.count),
                site.function,
                site.location(),
                created_by_text(site),
                if site.states.is_empty() {
                    "a concurrency primitive".to_string()
                } else {
                    site.states.iter().cloned().collect::<Vec<_>>().join("/")
                },
                super::goroutine_leak::hint(site.kind),
            );
            let mut f = site_finding(
                Finding::new(CheckId::ProvenGoroutineLeak, Severity::Critical, message),
                input.target,
                site,
                site.count,
            );
            f.confidence = Some(Confidence::Proven);
            f.evidence.insert("source".into(), source.into());
            f
        })
        .collect()
}
