//! Flags + version → the effective plugin set and the admission findings. Pure.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::args::AdmissionFlags;
use super::kb::{KnowledgeBase, Plugin, Registration};
use super::version::KubeVersion;
use crate::finding::{CheckId, Finding, Severity};

/// The plugins kube-apiserver runs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Effective {
    /// Sorted plugin names.
    pub plugins: Vec<String>,
    /// False when this is a lower bound (version unknown, or only observed in metrics).
    pub complete: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Result of evaluating one configuration.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Evaluation {
    pub effective: Effective,
    pub findings: Vec<Finding>,
    /// The version the findings were computed for (target, else current).
    pub evaluated_version: Option<KubeVersion>,
    pub notes: Vec<String>,
}

/// Which flags name a plugin.
#[derive(Clone, Copy, Debug, Default)]
struct Named {
    enable: bool,
    disable: bool,
    control: bool,
}

impl Named {
    fn enabled(self) -> bool {
        self.enable || self.control
    }
    fn flags(self) -> String {
        let mut v = Vec::new();
        if self.enable {
            v.push("--enable-admission-plugins");
        }
        if self.disable {
            v.push("--disable-admission-plugins");
        }
        if self.control {
            v.push("--admission-control");
        }
        v.join(",")
    }
    /// kube-apiserver's own error text for the first flag naming it.
    fn startup_error(self, kb: &KnowledgeBase, name: &str) -> String {
        let t = if self.control {
            &kb.startup.admission_control_unknown
        } else if self.enable {
            &kb.startup.enable_unknown
        } else {
            &kb.startup.disable_unknown
        };
        t.replace("{name}", name)
    }
}

/// effective = defaults(version) ∪ enabled − disabled, or exactly the `--admission-control` list.
pub fn effective(kb: &KnowledgeBase, flags: &AdmissionFlags, version: Option<KubeVersion>) -> Effective {
    if let Some(list) = &flags.admission_control {
        let plugins: BTreeSet<String> = list.iter().cloned().collect();
        return Effective {
            plugins: plugins.into_iter().collect(),
            complete: true,
            note: Some("--admission-control replaces the default list: exactly these plugins run".into()),
        };
    }
    let enable: BTreeSet<&String> = flags.enable.iter().flatten().collect();
    let disable: BTreeSet<&String> = flags.disable.iter().flatten().collect();
    let defaults = version.and_then(|v| kb.defaults(v));
    let mut set: BTreeSet<String> = defaults.map(|d| d.plugins.iter().cloned().collect()).unwrap_or_default();
    set.extend(enable.iter().map(|s| s.to_string()));
    set.retain(|p| !disable.contains(p));
    let note = match (version, defaults) {
        (None, _) => Some("Kubernetes version unknown: the default-on plugins are not included, only what the flags enable".into()),
        (Some(v), None) => Some(format!(
            "{v} is outside the knowledge base ({}–{}): its default-on plugins are unknown and not included",
            kb.coverage.from, kb.coverage.to
        )),
        (Some(_), Some(_)) => None,
    };
    Effective {
        plugins: set.into_iter().collect(),
        complete: defaults.is_some(),
        note,
    }
}

/// Audits a flag set. `current` is the running/stated version, `target` an upgrade to preview.
pub fn evaluate(
    kb: &KnowledgeBase,
    flags: &AdmissionFlags,
    current: Option<KubeVersion>,
    target: Option<KubeVersion>,
) -> Evaluation {
    let eval = target.or(current);
    let preview = target.is_some();
    let eff = effective(kb, flags, eval);
    let mut findings = Vec::new();
    let mut notes = Vec::new();
    if let Some(v) = eval
        && !kb.covers(v)
    {
        notes.push(format!(
            "{v} is outside the knowledge base ({}–{}); findings rely on what is known up to {}",
            kb.coverage.from, kb.coverage.to, kb.coverage.to
        ));
    }
    if eval.is_none() {
        notes.push("Kubernetes version unknown: removal findings are stated conditionally and default-on plugins are not assumed; pass a version to be exact".into());
    }

    // every name the flags mention, with the flags that mention it
    let mut named: BTreeMap<String, Named> = BTreeMap::new();
    for n in flags.enable.iter().flatten() {
        named.entry(n.clone()).or_default().enable = true;
    }
    for n in flags.disable.iter().flatten() {
        named.entry(n.clone()).or_default().disable = true;
    }
    for n in flags.admission_control.iter().flatten() {
        named.entry(n.clone()).or_default().control = true;
    }

    for (name, how) in &named {
        name_findings(kb, name, *how, eval, preview, &flags.feature_gates, &mut findings);
    }

    // both enabled and disabled
    for (name, how) in &named {
        if how.enable && how.disable {
            let msg = kb.startup.overlap.replace("{names}", name);
            findings.push(
                finding(
                    CheckId::ConflictingAdmissionPlugin,
                    Severity::Critical,
                    name,
                    format!(
                        "{name} is both enabled and disabled; kube-apiserver refuses to start: \"{msg}\". Remove it from one of the flags"
                    ),
                )
                .with_evidence("flag", how.flags())
                .with_evidence("startupError", msg),
            );
        }
    }

    if let Some(list) = &flags.admission_control {
        if flags.enable.is_some() || flags.disable.is_some() {
            let mut f = Finding::new(
                CheckId::ConflictingAdmissionPlugin,
                Severity::Critical,
                format!(
                    "--admission-control is combined with --enable/--disable-admission-plugins; kube-apiserver refuses to start: \"{}\"",
                    kb.startup.mutually_exclusive
                ),
            )
            .with_evidence("reason", "MutuallyExclusiveFlags")
            .with_evidence("startupError", kb.startup.mutually_exclusive.clone());
            f.plugin = None;
            findings.push(f);
        }
        let dep = kb.admission_control_flag.deprecated_in;
        if eval.is_none_or(|v| v >= dep) {
            findings.push(
                Finding::new(
                    CheckId::DeprecatedAdmissionFlag,
                    Severity::Warning,
                    format!(
                        "--admission-control is deprecated since {dep} and replaces the whole default list (here: {} plugins); use --enable-admission-plugins / --disable-admission-plugins",
                        list.len()
                    ),
                )
                .with_evidence("reason", "admission-control")
                .with_evidence("deprecatedIn", dep),
            );
        }
    }

    // insecure plugins that run
    for p in &kb.plugins {
        let Some(ins) = &p.insecure else { continue };
        if eff.plugins.contains(&p.name) && eval.is_none_or(|v| kb.is_registered(&p.name, v)) {
            let mut f = finding(
                CheckId::InsecureAdmissionPlugin,
                Severity::Warning,
                &p.name,
                format!(
                    "{} is enabled: {}{}. Remove it from the admission flags",
                    p.name,
                    ins.reason,
                    ins.cis.as_ref().map(|c| format!(" (CIS {c})")).unwrap_or_default()
                ),
            );
            if let Some(c) = &ins.cis {
                f = f.with_evidence("cis", c);
            }
            if let Some(d) = &p.deprecated {
                f = f.with_evidence("deprecatedIn", d.in_version);
            }
            findings.push(f);
        }
    }

    findings.extend(recommended_findings(kb, flags, &eff, eval, &named));
    dedupe(&mut findings);
    Evaluation {
        effective: eff,
        findings,
        evaluated_version: eval,
        notes,
    }
}

fn finding(check: CheckId, severity: Severity, plugin: &str, message: String) -> Finding {
    let mut f = Finding::new(check, severity, message);
    f.plugin = Some(plugin.to_string());
    f
}

fn replacement_text(p: &Plugin) -> String {
    p.replacement
        .as_ref()
        .map(|r| format!(" Replacement: {}.", r.text))
        .unwrap_or_default()
}

fn name_findings(
    kb: &KnowledgeBase,
    name: &str,
    how: Named,
    eval: Option<KubeVersion>,
    preview: bool,
    gates: &BTreeMap<String, bool>,
    out: &mut Vec<Finding>,
) {
    let whitespace = name.trim() != name || name.is_empty();
    let Some(v) = eval else {
        unknown_version_findings(kb, name, how, whitespace, out);
        return;
    };
    let refuses = |v: KubeVersion| {
        if preview {
            format!("kube-apiserver {v} and later will not start")
        } else {
            format!("kube-apiserver {v} refuses to start")
        }
    };
    match kb.registration(name, v) {
        Registration::Registered(p) => {
            registered_findings(p, how, v, preview, gates, out);
        }
        Registration::Removed(p) => {
            let removed = p.removed.as_ref().map(|r| r.in_version).unwrap_or(v);
            let only_disabled = !how.enabled();
            let mut msg = format!(
                "{name} is {}; it was removed in {removed}: {} (\"{}\").",
                if only_disabled { "named in --disable-admission-plugins" } else { "enabled" },
                refuses(if preview { removed } else { v }),
                how.startup_error(kb, name)
            );
            if only_disabled {
                msg.push_str(" kube-apiserver validates disabled names too: delete it from the flag.");
            } else {
                msg.push_str(&replacement_text(p));
            }
            let mut f = finding(CheckId::RemovedAdmissionPlugin, Severity::Critical, name, msg)
                .with_evidence("removedIn", removed)
                .with_evidence("flag", how.flags())
                .with_evidence("startupError", how.startup_error(kb, name));
            if let Some(d) = &p.deprecated {
                f = f.with_evidence("deprecatedIn", d.in_version);
            }
            out.push(f);
        }
        Registration::NotYet(p) => {
            out.push(
                finding(
                    CheckId::UnknownAdmissionPlugin,
                    Severity::Critical,
                    name,
                    format!(
                        "{name} is not registered in {v} (it was added in {}); kube-apiserver {v} refuses to start: \"{}\"",
                        p.registered.from,
                        how.startup_error(kb, name)
                    ),
                )
                .with_evidence("addedIn", p.registered.from)
                .with_evidence("flag", how.flags()),
            );
        }
        Registration::NotAPlugin(n) => {
            out.push(
                finding(
                    CheckId::UnknownAdmissionPlugin,
                    Severity::Critical,
                    name,
                    format!(
                        "{}; kube-apiserver refuses to start: \"{}\"",
                        n.explanation,
                        how.startup_error(kb, name)
                    ),
                )
                .with_evidence("reason", n.kind.clone())
                .with_evidence("flag", how.flags()),
            );
        }
        Registration::Unknown => {
            let beyond = v > kb.coverage.to;
            let mut msg = if whitespace {
                format!(
                    "{name:?} is not a plugin name: kube-apiserver does not trim spaces in the list, so it refuses to start: \"{}\"",
                    how.startup_error(kb, name)
                )
            } else if beyond {
                format!(
                    "{name} is not an admission plugin in any release up to {}; {v} is newer than the knowledge base, so check it against that release",
                    kb.coverage.to
                )
            } else {
                format!(
                    "{name} is not an admission plugin of kube-apiserver {v}; it refuses to start: \"{}\"",
                    how.startup_error(kb, name)
                )
            };
            if let Some(close) = closest(kb, name) {
                msg.push_str(&format!(" Did you mean {close}?"));
            }
            let sev = if beyond && !whitespace { Severity::Warning } else { Severity::Critical };
            out.push(
                finding(CheckId::UnknownAdmissionPlugin, sev, name, msg)
                    .with_evidence("flag", how.flags()),
            );
        }
    }
}

fn registered_findings(
    p: &Plugin,
    how: Named,
    v: KubeVersion,
    preview: bool,
    gates: &BTreeMap<String, bool>,
    out: &mut Vec<Finding>,
) {
    let name = &p.name;
    if !how.enabled() {
        return; // disabling a registered plugin is never a deprecation problem
    }
    let removal = p.removed.as_ref().map(|r| r.in_version);
    if let Some(d) = &p.deprecated
        && v >= d.in_version
    {
        let mut msg = format!("{name} is deprecated since {}", d.in_version);
        match removal {
            Some(r) => msg.push_str(&format!(
                " and removed in {r}: kube-apiserver {r} and later will not start with it"
            )),
            None => msg.push_str(" (still registered)"),
        }
        if let Some(note) = &d.note {
            msg.push_str(&format!("; {note}"));
        }
        msg.push('.');
        msg.push_str(&replacement_text(p));
        let mut f = finding(CheckId::DeprecatedAdmissionPlugin, Severity::Warning, name, msg)
            .with_evidence("deprecatedIn", d.in_version)
            .with_evidence("flag", how.flags());
        if let Some(r) = removal {
            f = f.with_evidence("removedIn", r);
        }
        out.push(f);
    } else if let Some(r) = removal {
        // not (yet) deprecated at v but gone in a later release: still an upgrade blocker to announce
        out.push(
            finding(
                CheckId::DeprecatedAdmissionPlugin,
                Severity::Warning,
                name,
                format!(
                    "{name} is removed in {r}: kube-apiserver {r} and later will not start with it.{}",
                    replacement_text(p)
                ),
            )
            .with_evidence("removedIn", r)
            .with_evidence("flag", how.flags()),
        );
    }
    if let Some(g) = &p.feature_gate
        && g.from <= v
        && v <= g.to
        && gates.get(&g.name) != Some(&true)
    {
        // the plugin factory fails without its gate: a startup error, not a warning
        out.push(
            finding(
                CheckId::DeprecatedAdmissionPlugin,
                Severity::Critical,
                name,
                format!(
                    "{name} needs --feature-gates={}=true in {}–{}: {}",
                    g.name,
                    g.from,
                    g.to,
                    g.note.clone().unwrap_or_default()
                ),
            )
            .with_evidence("reason", "FeatureGateRequired")
            .with_evidence("featureGate", g.name.clone())
            .with_evidence("preview", preview),
        );
    }
}

fn unknown_version_findings(
    kb: &KnowledgeBase,
    name: &str,
    how: Named,
    whitespace: bool,
    out: &mut Vec<Finding>,
) {
    match kb.registration(name, kb.coverage.to) {
        Registration::Registered(p) | Registration::Removed(p) | Registration::NotYet(p) => {
            if let Some(r) = &p.removed {
                out.push(
                    finding(
                        CheckId::RemovedAdmissionPlugin,
                        if how.enabled() { Severity::Warning } else { Severity::Info },
                        name,
                        format!(
                            "{name} was removed in {}: if this kube-apiserver is {} or later it will not start (\"{}\"); the version is unknown.{}",
                            r.in_version,
                            r.in_version,
                            how.startup_error(kb, name),
                            replacement_text(p)
                        ),
                    )
                    .with_evidence("removedIn", r.in_version)
                    .with_evidence("flag", how.flags()),
                );
            } else if let Some(d) = &p.deprecated
                && how.enabled()
            {
                out.push(
                    finding(
                        CheckId::DeprecatedAdmissionPlugin,
                        Severity::Warning,
                        name,
                        format!("{name} is deprecated since {}.{}", d.in_version, replacement_text(p)),
                    )
                    .with_evidence("deprecatedIn", d.in_version),
                );
            }
        }
        Registration::NotAPlugin(n) => out.push(
            finding(
                CheckId::UnknownAdmissionPlugin,
                Severity::Critical,
                name,
                format!("{}; kube-apiserver refuses to start: \"{}\"", n.explanation, how.startup_error(kb, name)),
            )
            .with_evidence("reason", n.kind.clone()),
        ),
        Registration::Unknown => out.push(finding(
            CheckId::UnknownAdmissionPlugin,
            if whitespace { Severity::Critical } else { Severity::Warning },
            name,
            format!(
                "{name:?} is not an admission plugin in any kube-apiserver release {}–{}{}",
                kb.coverage.from,
                kb.coverage.to,
                if whitespace { " (kube-apiserver does not trim spaces in the list)" } else { "" }
            ),
        )),
    }
}

fn recommended_findings(
    kb: &KnowledgeBase,
    flags: &AdmissionFlags,
    eff: &Effective,
    eval: Option<KubeVersion>,
    named: &BTreeMap<String, Named>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for p in &kb.plugins {
        let Some(rec) = &p.recommended else { continue };
        if eval.is_some_and(|v| !kb.is_registered(&p.name, v)) {
            continue;
        }
        let running = eff.plugins.contains(&p.name);
        let explicitly_disabled = named.get(&p.name).is_some_and(|n| n.disable);
        let ever_default = kb.default_enabled.iter().any(|d| d.plugins.contains(&p.name));
        // only what we can prove: a complete effective set, an explicit disable, or a plugin no
        // release turns on by default that the flags do not enable
        let disabled = if eff.complete {
            !running
        } else {
            explicitly_disabled || (!ever_default && !running)
        };
        if !disabled {
            continue;
        }
        let how = if flags.admission_control.is_some() {
            "not in the --admission-control list"
        } else if explicitly_disabled {
            "disabled by --disable-admission-plugins"
        } else {
            "not enabled"
        };
        let severity = if rec.severity == "info" { Severity::Info } else { Severity::Warning };
        let mut f = finding(
            CheckId::RecommendedAdmissionPluginDisabled,
            severity,
            &p.name,
            format!(
                "{} is {how}: {}{}",
                p.name,
                rec.reason,
                rec.cis.as_ref().map(|c| format!(" (CIS {c})")).unwrap_or_default()
            ),
        );
        if let Some(c) = &rec.cis {
            f = f.with_evidence("cis", c);
        }
        out.push(f);
    }
    out
}

/// Plugins seen in the apiserver's admission metrics: they prove "enabled", never "disabled".
pub fn evaluate_observed(
    kb: &KnowledgeBase,
    observed: &BTreeSet<String>,
    current: Option<KubeVersion>,
    target: Option<KubeVersion>,
) -> Evaluation {
    let eval = target.or(current);
    let preview = target.is_some();
    let mut findings = Vec::new();
    for name in observed {
        let how = Named { enable: true, ..Named::default() };
        if let Some(v) = eval {
            match kb.registration(name, v) {
                Registration::Registered(p) => {
                    registered_findings(p, how, v, preview, &BTreeMap::new(), &mut findings)
                }
                // on the target version a running plugin may be gone: that is the blocker
                Registration::Removed(_) | Registration::NotYet(_) => {
                    name_findings(kb, name, how, eval, preview, &BTreeMap::new(), &mut findings)
                }
                // unknown names in metrics are plugins of a newer or patched build: not an error
                Registration::NotAPlugin(_) | Registration::Unknown => {}
            }
        } else {
            unknown_version_findings(kb, name, how, false, &mut findings);
        }
    }
    // the gate requirement cannot be judged without flags; drop it
    findings.retain(|f| f.evidence.get("reason").map(String::as_str) != Some("FeatureGateRequired"));
    for p in &kb.plugins {
        if let Some(ins) = &p.insecure
            && observed.contains(&p.name)
        {
            let mut f = finding(
                CheckId::InsecureAdmissionPlugin,
                Severity::Warning,
                &p.name,
                format!("{} handles requests (seen in the apiserver's admission metrics): {}", p.name, ins.reason),
            );
            if let Some(c) = &ins.cis {
                f = f.with_evidence("cis", c);
            }
            findings.push(f);
        }
    }
    dedupe(&mut findings);
    Evaluation {
        effective: Effective {
            plugins: observed.iter().cloned().collect(),
            complete: false,
            note: Some("only plugins that have handled a request appear in /metrics: this proves enabled, never disabled".into()),
        },
        findings,
        evaluated_version: eval,
        notes: vec![],
    }
}

/// Same check + plugin once, most severe first; stable order for output.
fn dedupe(findings: &mut Vec<Finding>) {
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(a.check.cmp(&b.check))
            .then(a.plugin.cmp(&b.plugin))
            .then(a.message.cmp(&b.message))
    });
    let mut seen = BTreeSet::new();
    findings.retain(|f| {
        seen.insert((
            f.check,
            f.plugin.clone(),
            f.evidence.get("reason").cloned(),
        ))
    });
}

/// A registered plugin or non-plugin whose name differs only in case or by one edit.
fn closest(kb: &KnowledgeBase, name: &str) -> Option<String> {
    let lower = name.trim().to_ascii_lowercase();
    kb.plugins
        .iter()
        .map(|p| p.name.as_str())
        .find(|p| p.to_ascii_lowercase() == lower || edit_distance(&p.to_ascii_lowercase(), &lower) == 1)
        .map(String::from)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}
