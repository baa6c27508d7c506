//! Live sources of `analyze`, read once or every `--every`: a pprof prefix URL (every profile, as
//! the operator scrapes), single-profile URLs, and pods or the apiserver found with the kubeconfig.
//! Each round's snapshots go into the history ([`super::series`]); with several rounds the verdicts
//! are printed as they firm up.

use std::path::Path;
use std::time::Duration;

use serde_json::json;

use super::analyze::{
    AnalyzeArgs, AnalyzeError, Report, checks_for, is_url, now_secs, parse_input, report, snapshot_of,
};
use super::kube_targets::{self, Reached, Selection, parse_selection};
use super::output::{OutputFormat, print};
use super::replicas;
use super::series::{Change, Series, changes};
use crate::crd::PprofSpec;
use crate::scrape::endpoint::{Endpoint, EndpointSource};
use crate::scrape::http::{Collector, CollectorOptions};
use crate::scrape::profiles::ScrapePlan;
use gohealth_core::diagnose::{merge_seen, scrape_failed};
use gohealth_core::finding::{Finding, TargetRef};
use gohealth_core::snapshot::Snapshot;

/// Rounds with `--every` and neither `--count` nor `--for`.
const DEFAULT_ROUNDS: u32 = 4;
/// debug=2 only below this many goroutines (it stops the world in the target).
const FULL_DUMP_CAP: u64 = 10_000;
/// Last path segments that name one profile; any other URL is a prefix of all of them.
const PROFILE_NAMES: [&str; 11] = [
    "goroutine",
    "goroutineleak",
    "heap",
    "allocs",
    "mutex",
    "block",
    "threadcreate",
    "profile",
    "trace",
    "cmdline",
    "symbol",
];

/// Whether the inputs need the live path (anything but files and single-profile URLs read once).
pub(super) fn is_live(args: &AnalyzeArgs) -> bool {
    args.every.is_some()
        || args.selector.is_some()
        || args.inputs.iter().any(|i| is_prefix_url(i) || cluster_selection(i).is_some())
}

/// A selection, unless a file of that name exists (a file always wins).
fn cluster_selection(input: &str) -> Option<Selection> {
    parse_selection(input).filter(|_| !Path::new(input).exists())
}

/// `http://h:6060/debug/pprof/` (a prefix), not `http://h:6060/debug/pprof/goroutine?debug=1`.
fn is_prefix_url(input: &str) -> bool {
    if !is_url(input) {
        return false;
    }
    let Ok(url) = reqwest::Url::parse(input) else {
        return false;
    };
    let last = url.path().trim_end_matches('/').rsplit('/').next().unwrap_or_default();
    url.query().is_none() && !PROFILE_NAMES.contains(&last)
}

/// One thing scraped each round.
enum Source {
    /// A pprof prefix, scraped like the operator does.
    Prefix { target: TargetRef, endpoint: Endpoint, collector: Collector, label: String },
    /// Single-profile URLs of one program, combined into one snapshot.
    Profiles { target: TargetRef, urls: Vec<String>, collector: Collector },
    /// A pod or the apiserver, through a tunnel kept open for all rounds.
    Cluster { reached: Reached, collector: Collector },
}

pub(super) fn run(args: &AnalyzeArgs) -> Result<Report, AnalyzeError> {
    if args.inputs.iter().any(|i| !is_url(i) && cluster_selection(i).is_none()) {
        return Err(AnalyzeError::MixedSources);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| AnalyzeError::Runtime(e.to_string()))?;
    rt.block_on(run_async(args))
}

fn rounds(args: &AnalyzeArgs) -> u32 {
    match (args.every, args.count, args.for_) {
        (None, _, _) => 1,
        (Some(_), Some(n), _) => n.max(1),
        (Some(every), None, Some(total)) => (total.as_secs_f64() / every.as_secs_f64()).ceil() as u32 + 1,
        (Some(_), None, None) => DEFAULT_ROUNDS,
    }
}

fn collector(opts: &CollectorOptions, input: &str) -> Result<Collector, AnalyzeError> {
    Collector::new(opts).map_err(|err| AnalyzeError::Fetch { input: input.to_string(), err })
}

fn url_target(url: &str) -> TargetRef {
    let host = reqwest::Url::parse(url).ok().and_then(|u| {
        u.host_str().map(|h| match u.port() {
            Some(p) => format!("{h}:{p}"),
            None => h.to_string(),
        })
    });
    TargetRef { namespace: String::new(), pod: host.unwrap_or_else(|| url.to_string()), container: None }
}

async fn sources(args: &AnalyzeArgs) -> Result<Vec<Source>, AnalyzeError> {
    let opts = args.remote.collector_options(args.max_bytes as u64)?;
    let has_token = opts.bearer_token.is_some();
    // Through pods/proxy and to the apiserver the kubeconfig authenticates; the token is not sent.
    let tokenless = CollectorOptions { bearer_token: None, ..opts.clone() };
    let mut out = Vec::new();
    let mut profile_urls = Vec::new();
    for input in args.inputs.iter().filter(|i| is_url(i)) {
        args.remote.check_url(input, has_token)?;
        if is_prefix_url(input) {
            let endpoint = Endpoint {
                base_url: input.trim_end_matches('/').to_string(),
                container: None,
                source: EndpointSource::Spec,
                notes: Vec::new(),
            };
            out.push(Source::Prefix {
                target: url_target(input),
                endpoint,
                collector: collector(&opts, input)?,
                label: input.clone(),
            });
        } else {
            profile_urls.push(input.clone());
        }
    }
    if let Some(first) = profile_urls.first() {
        out.push(Source::Profiles {
            target: url_target(first),
            collector: collector(&opts, first)?,
            urls: profile_urls,
        });
    }

    let mut selections: Vec<Selection> = args.inputs.iter().filter_map(|i| cluster_selection(i)).collect();
    if let Some(l) = &args.selector {
        selections.push(Selection::Labels(l.clone()));
    }
    if selections.is_empty() {
        return Ok(out);
    }
    let (client, user) = kube_targets::client().await?;
    let namespace = args.namespace.clone().unwrap_or_else(|| client.default_namespace().to_string());
    let spec = PprofSpec {
        port: args.port.as_ref().map(|p| match p.parse::<i32>() {
            Ok(n) => k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(n),
            Err(_) => k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(p.clone()),
        }),
        path: args.path.clone(),
        ..PprofSpec::default()
    };
    let pprof = crate::validate::pprof(&spec)
        .map_err(|e| AnalyzeError::Read { input: "--port/--path".into(), err: e.to_string() })?;
    let probe = collector(&tokenless, "pods/proxy")?;
    for sel in &selections {
        if *sel == Selection::ApiServer {
            let reached = kube_targets::reach_apiserver(&client).await?;
            out.push(Source::Cluster { reached, collector: collector(&tokenless, "kube-apiserver")? });
            continue;
        }
        if let Selection::Component(component) = sel {
            // Over TLS only (their secure port), with --token or else the kubeconfig user's credentials,
            // verified against --cacert or else the kubeconfig's CA.
            let opts = CollectorOptions {
                bearer_token: opts.bearer_token.clone().or_else(|| user.token.clone()),
                client_identity_pem: if has_token { None } else { user.identity_pem.clone() },
                ca_pem: opts.ca_pem.clone().or_else(|| user.ca_pem.clone()),
                ..opts.clone()
            };
            for reached in kube_targets::reach_component(&client, *component).await? {
                out.push(Source::Cluster { reached, collector: collector(&opts, component.name())? });
            }
            continue;
        }
        for pod in kube_targets::pods(&client, &namespace, sel).await? {
            let reached = kube_targets::reach_pod(&client, &probe, &pod, &pprof).await?;
            // Forwarded or direct bytes reach the pod as sent (pods/proxy authenticates with the kubeconfig).
            let forwarded = matches!(reached.via, "port-forward" | "direct");
            let collector = match &reached.endpoint {
                // Port-forwarded bytes reach the pod as sent: the token only over TLS (or when allowed).
                Ok(e) if forwarded && has_token => {
                    args.remote.check_url(&e.base_url, true)?;
                    collector(&opts, &e.base_url)?
                }
                _ => collector(&tokenless, &reached.target.key())?,
            };
            out.push(Source::Cluster { reached, collector });
        }
    }
    Ok(out)
}

/// One source's snapshot this round, or the finding that says why not.
async fn collect(source: &Source, args: &AnalyzeArgs) -> (TargetRef, Result<Snapshot, Finding>) {
    let plan = ScrapePlan::everything(FULL_DUMP_CAP);
    match source {
        Source::Prefix { target, endpoint, collector, .. } => {
            let r = collector.scrape(endpoint, &plan).await.map_err(|e| scrape_failed(target, &e));
            (target.clone(), r)
        }
        Source::Cluster { reached, collector } => {
            let r = match &reached.endpoint {
                Ok(e) => collector.scrape(e, &plan).await.map_err(|err| scrape_failed(&reached.target, &err)),
                Err(err) => Err(scrape_failed(&reached.target, err)),
            };
            (reached.target.clone(), r)
        }
        Source::Profiles { target, urls, collector } => {
            let mut parsed = Vec::new();
            for url in urls {
                let body = match collector.fetch_raw(url).await {
                    Ok(b) => b,
                    Err(e) => return (target.clone(), Err(scrape_failed(target, &e))),
                };
                match parse_input(url, &body, now_secs(), args.max_bytes) {
                    Ok(p) => parsed.push(p),
                    Err(AnalyzeError::Parse { err, .. }) => {
                        return (target.clone(), Err(scrape_failed(target, &err.into())));
                    }
                    Err(e) => {
                        let err = gohealth_core::scrape_error::ScrapeError::NotAProfile(e.to_string());
                        return (target.clone(), Err(scrape_failed(target, &err)));
                    }
                }
            }
            (target.clone(), Ok(snapshot_of(&parsed).0))
        }
    }
}

fn describe(source: &Source) -> serde_json::Value {
    match source {
        Source::Prefix { label, .. } => json!({"source": label, "format": "live", "profile": "pprof prefix"}),
        Source::Profiles { urls, .. } => json!({"source": urls.join(" "), "format": "live", "profile": "profiles"}),
        Source::Cluster { reached, .. } => {
            let t = &reached.target;
            json!({"source": format!("{}/{}", t.namespace, t.pod), "format": "live", "profile": reached.via})
        }
    }
}

async fn run_async(args: &AnalyzeArgs) -> Result<Report, AnalyzeError> {
    let sources = sources(args).await?;
    let checks = checks_for(args);
    let rounds = rounds(args);
    let progress = rounds > 1 && args.output == OutputFormat::Table;
    let mut series = Series::new(checks.clone());
    let mut previous: Vec<Finding> = Vec::new();
    let mut snapshots = Vec::new();
    let started = std::time::Instant::now();
    for round in 0..rounds {
        if round > 0
            && let Some(every) = args.every
        {
            tokio::time::sleep(every).await;
        }
        let mut findings = Vec::new();
        snapshots.clear();
        for source in &sources {
            let (target, result) = collect(source, args).await;
            match result {
                Ok(mut snap) => {
                    // One clock for every source: the history's slopes are per second of this run.
                    snap.at = now_secs();
                    findings.extend(series.observe(&target, &snap));
                    snapshots.push(snap);
                }
                Err(f) => findings.push(f),
            }
        }
        let current = replicas::group(merge_seen(&[], findings, ""));
        if progress {
            print(&round_line(round + 1, rounds, started.elapsed(), &snapshots, &changes(&previous, &current)));
        }
        previous = current;
    }
    let inputs = sources.iter().map(describe).collect();
    Ok(report(inputs, snapshots, previous, Vec::new(), &checks, rounds as usize))
}

/// `[2/4 +20s] 1,234 goroutines; new: GoroutineGrowth at main.leak; firmer: GoroutineLeak likely at ...`
fn round_line(round: u32, rounds: u32, elapsed: Duration, snaps: &[Snapshot], ch: &[Change<'_>]) -> String {
    let total: u64 =
        snaps.iter().filter_map(|s| s.goroutines.as_ref().or(s.goroutines_full.as_ref())).map(|g| g.total).sum();
    let mut line = format!("[{round}/{rounds} +{}s] {total} goroutines", elapsed.as_secs());
    let name = |f: &Finding| {
        let conf = f.confidence.map(|c| format!(" [{}]", json!(c).as_str().unwrap_or_default())).unwrap_or_default();
        match &f.function {
            Some(func) => format!("{}{conf} at {func}", f.check.as_str()),
            None => format!("{}{conf}", f.check.as_str()),
        }
    };
    for c in ch {
        let part = match c {
            Change::New(f) => format!("new: {}", name(f)),
            Change::Firmer { now, .. } => format!("firmer: {}", name(now)),
            Change::Gone(f) => format!("gone: {}", name(f)),
        };
        line.push_str("; ");
        line.push_str(&part);
    }
    if ch.is_empty() && round > 1 {
        line.push_str("; no change");
    }
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_urls_are_told_from_profile_urls() {
        assert!(is_prefix_url("http://127.0.0.1:6060/debug/pprof/"));
        assert!(is_prefix_url("http://127.0.0.1:6060/debug/pprof"));
        assert!(is_prefix_url("https://127.0.0.1:10257/debug/pprof"));
        assert!(!is_prefix_url("http://127.0.0.1:6060/debug/pprof/goroutine?debug=2"));
        assert!(!is_prefix_url("http://127.0.0.1:6060/debug/pprof/heap"));
        assert!(!is_prefix_url("dump.txt"));
    }

    #[test]
    fn rounds_follow_count_or_for() {
        let mut a = AnalyzeArgs {
            inputs: vec![],
            namespace: None,
            selector: None,
            port: None,
            path: "/debug/pprof".into(),
            every: None,
            count: None,
            for_: None,
            spacing: None,
            remote: Default::default(),
            output: OutputFormat::Table,
            min_goroutines: None,
            min_wait_minutes: None,
            max_bytes: 1 << 20,
        };
        assert_eq!(rounds(&a), 1);
        a.every = Some(Duration::from_secs(20));
        assert_eq!(rounds(&a), DEFAULT_ROUNDS);
        a.count = Some(6);
        assert_eq!(rounds(&a), 6);
        a.count = None;
        a.for_ = Some(Duration::from_secs(60));
        assert_eq!(rounds(&a), 4, "0, 20, 40 and 60 s");
    }

    #[test]
    fn round_line_names_what_changed() {
        let f = Finding::new(
            gohealth_core::finding::CheckId::GoroutineGrowth,
            gohealth_core::finding::Severity::Warning,
            "m",
        );
        let l = round_line(2, 4, Duration::from_secs(20), &[], &[Change::New(&f)]);
        assert_eq!(l, "[2/4 +20s] 0 goroutines; new: GoroutineGrowth\n");
        assert!(round_line(3, 4, Duration::from_secs(40), &[], &[]).ends_with("no change\n"));
    }
}
