//! One target's scrape: read the index, then fetch what the enabled checks need.
//!
//! Cost to the target decides the order and the guards: the index and `goroutine?debug=1` are cheap;
//! `goroutine?debug=2` stops the world (only below a goroutine cap); `goroutineleak` forces a GC (only
//! when due). A failure of the primary goroutine profile fails the target with its typed reason; a
//! failure of any other profile becomes a note.

use crate::scrape::endpoint::Endpoint;
use crate::scrape::http::Collector;
use crate::scrape::index::{PprofIndex, describe_body, parse_index};
use gohealth_core::diagnose::config::ChecksConfig;
use gohealth_core::diagnose::dump_schedule::DumpBaseline;
use gohealth_core::scrape_error::ScrapeError;
use gohealth_core::snapshot::Snapshot;
use gohealth_pprof::model::{ContentionKind, ContentionProfile, GoroutineProfile, Profile};
use gohealth_pprof::{ParseOptions, parse_with};

/// Which profiles to fetch from each target in one audit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScrapePlan {
    /// `goroutine?debug=1`: the total and aggregated groups. The primary profile.
    pub goroutine_debug1: bool,
    /// `goroutine?debug=2`: wait reasons and minutes. Stops the world in the target.
    pub full_dump: bool,
    /// debug=2 only when the debug=1 total is below this.
    pub full_dump_cap: u64,
    /// The target's last dump found nothing and is fresh: debug=2 is skipped when debug=1 shows no
    /// counted site new or grown since (`dump_schedule`).
    pub defer_dump: Option<DumpBaseline>,
    /// `goroutineleak?debug=1` (when the index lists it). Forces a GC in the target.
    pub leak_profile: bool,
    /// `heap?debug=1` for MemStats.
    pub heap: bool,
    pub mutex: bool,
    pub block: bool,
}

impl ScrapePlan {
    /// What the enabled checks need. `leak_profile_due`: the proven-leak check's own interval has
    /// elapsed for this target (the caller keeps that clock).
    pub fn from_checks(checks: &ChecksConfig, leak_profile_due: bool) -> ScrapePlan {
        ScrapePlan {
            // The total is recorded in status and feeds growth even when every check is off.
            goroutine_debug1: true,
            // Wait reasons and minutes only exist in debug=2.
            full_dump: checks.long_blocked_goroutines.enabled
                || checks.goroutine_leak.enabled
                || checks.ticker_loop_growth.enabled,
            full_dump_cap: checks.long_blocked_goroutines.max_goroutines_for_full_dump,
            defer_dump: None,
            leak_profile: checks.proven_goroutine_leak.enabled && leak_profile_due,
            heap: checks.gc_pressure.enabled,
            mutex: checks.lock_contention.enabled,
            block: checks.lock_contention.enabled,
        }
    }

    /// Every profile, debug=2 below `full_dump_cap` (the `analyze URL` case).
    pub fn everything(full_dump_cap: u64) -> ScrapePlan {
        ScrapePlan {
            goroutine_debug1: true,
            full_dump: true,
            full_dump_cap,
            defer_dump: None,
            leak_profile: true,
            heap: true,
            mutex: true,
            block: true,
        }
    }
}

/// The kind of profile an endpoint must yield.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    Goroutine,
    Leak,
    Heap,
    Contention(ContentionKind),
}

impl Collector {
    /// Scrapes one target according to `plan`. Holds one permit of the shared limiter for the whole
    /// target, so profiles of one target are fetched one after another (gentle on the target) while
    /// up to `concurrency` targets proceed in parallel.
    pub async fn scrape(&self, endpoint: &Endpoint, plan: &ScrapePlan) -> Result<Snapshot, ScrapeError> {
        if self.options().bearer_token.is_some() && !endpoint.is_tls() {
            return Err(ScrapeError::CredentialsOverPlainHttp(format!(
                "{}: a bearer token is configured and the endpoint is http; nothing was sent",
                endpoint.base_url
            )));
        }
        let _permit = self.limiter().acquire().await?;
        self.for_one_target(endpoint.is_tls()).scrape_target(endpoint, plan).await
    }

    /// [`Self::scrape`] under a permit, with a collector whose connection ends with the scrape.
    async fn scrape_target(&self, endpoint: &Endpoint, plan: &ScrapePlan) -> Result<Snapshot, ScrapeError> {
        let mut snap = Snapshot { notes: endpoint.notes.clone(), ..Snapshot::default() };

        // 1. Index: cheap, and tells which profiles exist (goroutineleak: Go 1.27, or 1.26 + experiment).
        let index_url = endpoint.url("");
        let index: Result<PprofIndex, String> = match self.fetch_unlimited(&index_url).await {
            Ok(body) => parse_index(&body)
                .ok_or_else(|| format!("{index_url} is not a pprof index (found {})", describe_body(&body))),
            // Not an index, but maybe a custom mux that registered the handlers without it.
            Err(e @ (ScrapeError::HttpStatus(_) | ScrapeError::NotAProfile(_))) => {
                Err(format!("pprof index {index_url}: {e}"))
            }
            // The target is unreachable or hostile: fail now rather than time out six more times.
            Err(e) => return Err(e),
        };
        match &index {
            Ok(i) => snap.available = i.names(),
            Err(why) => snap.notes.push(why.clone()),
        }
        let listed = |name: &str| index.as_ref().map_or(true, |i| i.has(name));

        // 2. goroutine?debug=1: the primary profile.
        if plan.goroutine_debug1 || plan.full_dump {
            match self.fetch_profile(endpoint, "goroutine?debug=1", Expect::Goroutine).await {
                Ok(Profile::Goroutine(p)) => snap.goroutines = Some(p),
                Ok(_) => {
                    return Err(ScrapeError::NotAProfile("goroutine?debug=1 is not a goroutine profile".into()));
                }
                Err(e) => {
                    return Err(match (&index, e) {
                        (Err(why), ScrapeError::HttpStatus(404) | ScrapeError::NotAProfile(_)) => {
                            ScrapeError::NotAProfile(format!(
                                "{why}; goroutine?debug=1 did not answer with a profile either"
                            ))
                        }
                        (_, e) => e,
                    });
                }
            }
        } else if let Err(why) = &index {
            return Err(ScrapeError::NotAProfile(why.clone()));
        }

        // Secondary profiles: failures are notes; after one timeout the rest are skipped, so a target
        // that stalls costs at most one more deadline instead of five.
        let mut sec = Secondary { notes: std::mem::take(&mut snap.notes), stalled: false, forced_gcs: 0 };

        // 3. goroutine?debug=2: stops the world for a time proportional to the goroutine count.
        if plan.full_dump {
            let total = snap.goroutines.as_ref().map_or(0, |g| g.total);
            if total >= plan.full_dump_cap {
                sec.notes.push(format!(
                    "goroutine?debug=2 skipped: {total} goroutines >= cap {} (debug=2 stops the world)",
                    plan.full_dump_cap
                ));
            } else if let Some(b) =
                plan.defer_dump.as_ref().filter(|b| snap.goroutines.as_ref().is_some_and(|g| b.covers(g)))
            {
                snap.full_dump_deferred = Some(b.at);
            } else if let Some(p) = self.secondary(endpoint, "goroutine?debug=2", Expect::Goroutine, &mut sec).await {
                snap.goroutines_full = goroutine_or_note(p, "goroutine?debug=2", &mut sec.notes);
            }
        }

        // 4. goroutineleak: forces a (leak-detection) GC in the target.
        if plan.leak_profile {
            match &index {
                Ok(i) if i.has("goroutineleak") => {
                    if let Some(p) = self.secondary(endpoint, "goroutineleak?debug=1", Expect::Leak, &mut sec).await {
                        snap.leaks = goroutine_or_note(p, "goroutineleak?debug=1", &mut sec.notes).map(|mut p| {
                            p.leak_profile = true;
                            p
                        });
                    }
                }
                Ok(_) => sec.notes.push(
                    "goroutineleak not served (needs Go 1.27, or Go 1.26 built with GOEXPERIMENT=goroutineleakprofile)"
                        .into(),
                ),
                Err(_) => sec.notes.push("goroutineleak skipped: without an index its presence is unknown".into()),
            }
        }

        // 5. heap?debug=1 for MemStats.
        if plan.heap {
            if !listed("heap") {
                sec.notes.push("heap profile not listed in the index".into());
            } else if let Some(p) = self.secondary(endpoint, "heap?debug=1", Expect::Heap, &mut sec).await {
                match p {
                    Profile::Heap(h) if h.mem_stats.is_some() => snap.mem_stats = h.mem_stats,
                    Profile::Heap(_) => sec.notes.push("heap?debug=1 has no runtime.MemStats trailer".into()),
                    _ => sec.notes.push("heap?debug=1 is not a heap profile".into()),
                }
            }
        }

        // 6. mutex / block: cumulative since start, cheap.
        for (wanted, name, kind) in
            [(plan.mutex, "mutex", ContentionKind::Mutex), (plan.block, "block", ContentionKind::Block)]
        {
            if !wanted {
                continue;
            }
            if !listed(name) {
                sec.notes.push(format!("{name} profile not listed in the index"));
                continue;
            }
            let path = format!("{name}?debug=1");
            match self.secondary(endpoint, &path, Expect::Contention(kind), &mut sec).await {
                Some(Profile::Contention(c)) if kind == ContentionKind::Mutex => snap.mutex = Some(c),
                Some(Profile::Contention(c)) => snap.block = Some(c),
                Some(_) => sec.notes.push(format!("{path} is not a contention profile")),
                None => {}
            }
        }

        snap.notes = sec.notes;
        snap.forced_gcs = sec.forced_gcs;
        snap.at = jiff::Timestamp::now().as_second();
        Ok(snap)
    }

    /// A secondary profile: `None` (with a note) when skipped or failed.
    async fn secondary(&self, endpoint: &Endpoint, path: &str, expect: Expect, sec: &mut Secondary) -> Option<Profile> {
        if sec.stalled {
            sec.notes.push(format!("{path} skipped: the target timed out earlier in this scrape"));
            return None;
        }
        let r = self.fetch_profile(endpoint, path, expect).await;
        if expect == Expect::Leak && forced_gc_happened(&r) {
            sec.forced_gcs += 1;
        }
        match r {
            Ok(p) => Some(p),
            Err(e) => {
                sec.stalled |= matches!(e, ScrapeError::Timeout(_));
                sec.notes.push(format!("{path} failed: {e}"));
                None
            }
        }
    }

    /// Fetches `path` under the endpoint's prefix and parses it (off the async workers: a debug=2
    /// dump can be 64 MiB). The format is detected from the content; `expect` only fills in what the
    /// content cannot say (leak profile, mutex vs block).
    async fn fetch_profile(&self, endpoint: &Endpoint, path: &str, expect: Expect) -> Result<Profile, ScrapeError> {
        let body = self.fetch_raw_unlimited(&endpoint.url(path)).await?;
        let limit = usize::try_from(self.options().max_body_bytes).unwrap_or(usize::MAX);
        let opts = ParseOptions {
            limit,
            leak_profile: match expect {
                Expect::Leak => Some(true),
                Expect::Goroutine => Some(false),
                _ => None,
            },
            contention_kind: match expect {
                Expect::Contention(k) => Some(k),
                _ => None,
            },
        };
        let profile = tokio::task::spawn_blocking(move || parse_with(&body, &opts))
            .await
            .map_err(|e| ScrapeError::NotAProfile(format!("{path}: parser task failed: {e}")))?
            .map_err(|e| match ScrapeError::from(e) {
                ScrapeError::NotAProfile(m) => ScrapeError::NotAProfile(format!("{path}: {m}")),
                other => other,
            })?;
        Ok(fix_contention_kind(profile, expect))
    }
}

/// State of the secondary fetches of one scrape.
struct Secondary {
    notes: Vec<String>,
    /// A request timed out: the target is stalling, stop asking it.
    stalled: bool,
    forced_gcs: u64,
}

fn goroutine_or_note(p: Profile, path: &str, notes: &mut Vec<String>) -> Option<GoroutineProfile> {
    match p {
        Profile::Goroutine(g) => Some(g),
        _ => {
            notes.push(format!("{path} is not a goroutine profile"));
            None
        }
    }
}

/// The mutex and block endpoints say which they are; trust the endpoint over a guess from frames.
fn fix_contention_kind(profile: Profile, expect: Expect) -> Profile {
    match (profile, expect) {
        (Profile::Contention(c), Expect::Contention(kind)) => Profile::Contention(ContentionProfile { kind, ..c }),
        (p, _) => p,
    }
}

/// Whether a goroutineleak request reached the handler (which runs a GC before answering), so the GC
/// checks can discount it. Connection-level failures and 404 never reached it.
fn forced_gc_happened<T>(r: &Result<T, ScrapeError>) -> bool {
    match r {
        Ok(_) => true,
        Err(
            ScrapeError::ConnectionRefused
            | ScrapeError::Connect(_)
            | ScrapeError::TlsError(_)
            | ScrapeError::Auth(_)
            | ScrapeError::NoEndpoint(_)
            | ScrapeError::HttpStatus(_),
        ) => false,
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests;
