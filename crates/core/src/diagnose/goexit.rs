//! `GoexitInDefer`: goroutines stuck in a deferred call that `runtime.Goexit` ran (a deferred
//! function calling Goexit, or `t.FailNow`-style code), e.g.
//! `main.cleanupAfterExit(...)` ← `runtime.Goexit()` ← `main.abortWithGoexit`. The stacks show
//! `runtime.Goexit` as an ordinary frame with the blocked deferred call above it (often inlined, as
//! `f(...)`), and no `deferreturn`/`deferCallSave` frame; rule: a Goexit frame that is not the top
//! frame, with user code above it.

use crate::finding::{CheckId, Confidence, Finding, Severity};

use super::site::{block_kind_of, goexit_index, normalize_state, sites_where};
use super::{Input, created_by_text, site_finding, thousands};

pub(crate) fn check(input: &Input) -> Vec<Finding> {
    let cfg = &input.checks.goexit_in_defer;
    if !cfg.enabled {
        return Vec::new();
    }
    let Some(profile) = input.snapshot.goroutines_full.as_ref().or(input.snapshot.goroutines.as_ref()) else {
        return Vec::new();
    };
    let sites = sites_where(profile, |g| {
        let running = g.state().is_some_and(|s| matches!(&*normalize_state(s), "running" | "runnable"));
        goexit_index(g.frames()).is_some() && !running
    });
    let mut out = Vec::new();
    for site in sites.iter().filter(|s| s.count >= cfg.min_goroutines) {
        let caller = site.goexit_caller.as_ref();
        let caller_text =
            caller.map(|c| format!("{} ({}:{})", c.function, c.file, c.line)).unwrap_or_else(|| "its caller".into());
        let kind = block_kind_of(site.states.iter().next().map(String::as_str), &site.frames);
        let message = format!(
            "{} goroutines are stuck in deferred call {} ({}){}: runtime.Goexit, called from {caller_text}, ran the deferred calls and this one blocks in {}, so the goroutines never exit. Do not call runtime.Goexit (or t.FailNow) where deferred cleanup can block; make the deferred cleanup non-blocking or bounded (select with ctx.Done()/a timeout).",
            thousands(site.count),
            site.function,
            site.location(),
            created_by_text(site),
            kind.describe(),
        );
        let mut f = site_finding(
            Finding::new(CheckId::GoexitInDefer, Severity::Warning, message),
            input.target,
            site,
            site.count,
        );
        f.confidence = Some(if site.leaked > 0 { Confidence::Proven } else { Confidence::Likely });
        if let Some(c) = caller {
            f.evidence.insert("goexitCalledFrom".into(), c.function.to_string());
            f.evidence.insert("goexitCalledAt".into(), format!("{}:{}", c.file, c.line));
        }
        out.push(f);
    }
    out
}
