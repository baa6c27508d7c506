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
        let mut plugins: BTreeSet<String> = list.iter().cloned().collect();
        if let Some(v) = version {
            plugins.retain(|p| kb.is_registered(p, v) || (v > kb.coverage.to && kb.plugin(p).is_none()));
        }
        return Effective {
            plugins: plugins.into_iter().collect(),
            complete: true,
            note: Some("--admission-control replaces the default list: exactly these plugins run".into()),
        };
    }
    let enable: BTreeSet<&String> = flags.enable.iter().flatten().collect();
    let disable: BTreeSet<&String> = flags.disable.iter().flatten().collect();
    let defaults = version.and_then(|v| kb.defaults(v));
    // a feature gate or invented name never runs, whatever the version
    let enable: BTreeSet<&String> = enable.into_iter().filter(|n| kb.not_a_plugin(n).is_none()).collect();
    let mut set: BTreeSet<String> = defaults.map(|d| d.plugins.iter().cloned().collect()).unwrap_or_default();
    set.extend(enable.iter().map(|s| s.to_string()));
    set.retain(|p| !disable.contains(p));
    // names the apiserver does not register at this version cannot run (it would not start)
    if let Some(v) = version {
        set.retain(|p| kb.is_registered(p, v) || (v > kb.coverage.to && kb.plugin(p).is_none()));
    }
    let note = match (version, defaults) {
        (None, _) => Some(
            "Kubernetes version unknown: default-on plugins are not included (only what the flags enable) and removals are stated conditionally; pass the version to be exact"
                .into(),
        ),
        (Some(v), None) => Some(format!(
            "{v} is outside the knowledge base ({}–{}): its default-on plugins are unknown and not included",
            kb.coverage.from, kb.coverage.to
        )),
        (Some(_), Some(_)) => None,
    };
    Effective { plugins: set.into_iter().collect(), complete: defaults.is_some(), note }
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

    // both enabled and disabled; Go prints the sorted overlap as one "[A B]" list
    let overlap: Vec<&str> = named.iter().filter(|(_, h)| h.enable && h.disable).map(|(n, _)| n.as_str()).collect();
    let msg = kb.startup.overlap.replace("{names}", &overlap.join(" "));
    for (name, how) in &named {
        if how.enable && how.disable {
            let msg = msg.clone();
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
    Evaluation { effective: eff, findings, evaluated_version: eval, notes }
}

trait EvidenceExt {
    fn with_evidence_opt(self, key: &str, value: Option<KubeVersion>) -> Self;
}

impl EvidenceExt for Finding {
    fn with_evidence_opt(self, key: &str, value: Option<KubeVersion>) -> Self {
        match value {
            Some(v) => self.with_evidence(key, v),
            None => self,
        }
    }
}

fn finding(check: CheckId, severity: Severity, plugin: &str, message: String) -> Finding {
    let mut f = Finding::new(check, severity, message);
    f.plugin = Some(plugin.to_string());
    f
}

fn replacement_text(p: &Plugin) -> String {
    p.replacement.as_ref().map(|r| format!(" Replacement: {}.", r.text)).unwrap_or_default()
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
                .with_evidence("flag", how.flags())
                .with_evidence("startupError", how.startup_error(kb, name)),
            );
        }
        Registration::NotAPlugin(n) => {
            out.push(
                finding(
                    CheckId::UnknownAdmissionPlugin,
                    Severity::Critical,
                    name,
                    format!("{}; kube-apiserver refuses to start: \"{}\"", n.explanation, how.startup_error(kb, name)),
                )
                .with_evidence("reason", n.kind.clone())
                .with_evidence("flag", how.flags())
                .with_evidence("startupError", how.startup_error(kb, name)),
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
            let mut f = finding(CheckId::UnknownAdmissionPlugin, sev, name, msg).with_evidence("flag", how.flags());
            if !beyond || whitespace {
                f = f.with_evidence("startupError", how.startup_error(kb, name));
            }
            out.push(f);
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
    let deprecated = p.deprecated.as_ref().filter(|d| v >= d.in_version);
    let mut msg = match (deprecated, removal) {
        (Some(d), Some(r)) => format!(
            "{name} is deprecated since {} and removed in {r}: kube-apiserver {r} and later will not start with it",
            d.in_version
        ),
        (Some(d), None) => format!("{name} is deprecated since {} (still registered)", d.in_version),
        // not (yet) deprecated at v but gone in a later release: still an upgrade blocker to announce
        (None, Some(r)) => format!("{name} is removed in {r}: kube-apiserver {r} and later will not start with it"),
        (None, None) => String::new(),
    };
    if let Some(note) = deprecated.and_then(|d| d.note.as_ref()) {
        msg.push_str(&format!("; {note}"));
    }
    // the plugin factory fails without its gate: a startup error, so the one finding turns critical
    let gate = p.feature_gate.as_ref().filter(|g| g.from <= v && v <= g.to && gates.get(&g.name) != Some(&true));
    if let Some(g) = gate {
        if !msg.is_empty() {
            msg.push_str(". ");
        }
        msg.push_str(&format!(
            "In {}–{} it also needs --feature-gates={}=true: {}",
            g.from,
            g.to,
            g.name,
            g.note.clone().unwrap_or_default()
        ));
    }
    if msg.is_empty() {
        return;
    }
    msg.push('.');
    msg.push_str(&replacement_text(p));
    let severity = if gate.is_some() { Severity::Critical } else { Severity::Warning };
    let mut f = finding(CheckId::DeprecatedAdmissionPlugin, severity, name, msg)
        .with_evidence("flag", how.flags())
        .with_evidence_opt("deprecatedIn", deprecated.map(|d| d.in_version))
        .with_evidence_opt("removedIn", removal);
    if let Some(g) = gate {
        f = f.with_evidence("reason", "FeatureGateRequired").with_evidence("featureGate", g.name.clone());
        if preview {
            f = f.with_evidence("preview", "true");
        }
    }
    out.push(f);
}

fn unknown_version_findings(kb: &KnowledgeBase, name: &str, how: Named, whitespace: bool, out: &mut Vec<Finding>) {
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
        let disabled = if eff.complete { !running } else { explicitly_disabled || (!ever_default && !running) };
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
                Registration::Registered(p) => registered_findings(p, how, v, preview, &BTreeMap::new(), &mut findings),
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
            note: Some(
                "only plugins that have handled a request appear in /metrics: this proves enabled, never disabled"
                    .into(),
            ),
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
    findings.retain(|f| seen.insert((f.check, f.plugin.clone(), f.evidence.get("reason").cloned())));
}

/// A known plugin whose name differs only in case or by at most two edits (typos).
fn closest(kb: &KnowledgeBase, name: &str) -> Option<String> {
    let lower = name.trim().to_ascii_lowercase();
    kb.plugins
        .iter()
        .map(|p| p.name.as_str())
        .find(|p| p.to_ascii_lowercase() == lower || edit_distance(&p.to_ascii_lowercase(), &lower) <= 2)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::args::flags_from_args;

    fn kb() -> KnowledgeBase {
        KnowledgeBase::embedded().expect("embedded KB")
    }
    fn v(m: u32) -> Option<KubeVersion> {
        Some(KubeVersion::new(1, m))
    }
    fn flags(args: &[&str]) -> AdmissionFlags {
        flags_from_args(args)
    }
    fn find<'a>(e: &'a Evaluation, check: CheckId, plugin: &str) -> Option<&'a Finding> {
        e.findings.iter().find(|f| f.check == check && f.plugin.as_deref() == Some(plugin))
    }

    /// The controller keeps firstSeen by `Finding::key()`: one evaluation never yields two
    /// findings with the same key, whatever the flags.
    #[test]
    fn finding_keys_are_unique() {
        let kb = kb();
        let mut names: Vec<String> = kb.plugins.iter().map(|p| p.name.clone()).collect();
        names.extend(kb.not_admission_plugins.iter().map(|n| n.name.clone()));
        names.push("Bogus".into());
        let all = names.join(",");
        let enable = format!("--enable-admission-plugins={all}");
        let disable = format!("--disable-admission-plugins={all}");
        let control = format!("--admission-control={all}");
        let gate_args = [enable.as_str(), "--feature-gates=SecurityContextDeny=false"];
        for args in [
            vec![enable.as_str()],
            vec![enable.as_str(), disable.as_str()],
            vec![control.as_str(), disable.as_str()],
            gate_args.to_vec(),
        ] {
            for version in [9, 10, 14, 20, 21, 25, 28, 30, 31, 36, 37, 38].map(v).into_iter().chain([None]) {
                for target in [None, v(38)] {
                    let e = evaluate(&kb, &flags(&args), version, target);
                    let mut keys = BTreeSet::new();
                    for f in &e.findings {
                        assert!(keys.insert(f.key()), "duplicate key {} at {version:?}", f.key());
                    }
                }
            }
        }
    }

    #[test]
    fn psp_upgrade_preview() {
        let kb = kb();
        let f = flags(&["--enable-admission-plugins=NodeRestriction,PodSecurityPolicy"]);
        let now = evaluate(&kb, &f, v(24), None);
        let dep = find(&now, CheckId::DeprecatedAdmissionPlugin, "PodSecurityPolicy").unwrap();
        assert_eq!(dep.severity, Severity::Warning);
        assert_eq!(dep.evidence["removedIn"], "1.25");
        assert_eq!(dep.evidence["deprecatedIn"], "1.21");
        assert!(find(&now, CheckId::RemovedAdmissionPlugin, "PodSecurityPolicy").is_none());

        let up = evaluate(&kb, &f, v(24), v(25));
        assert_eq!(up.evaluated_version, v(25));
        let rem = find(&up, CheckId::RemovedAdmissionPlugin, "PodSecurityPolicy").unwrap();
        assert_eq!(rem.severity, Severity::Critical);
        assert!(rem.message.contains("kube-apiserver 1.25 and later will not start"), "{}", rem.message);
        assert!(rem.message.contains("enable-admission-plugins plugin \"PodSecurityPolicy\" is unknown"));
        assert!(rem.message.contains("PodSecurity"), "replacement named");
        assert_eq!(rem.evidence["removedIn"], "1.25");
        assert_eq!(rem.evidence["deprecatedIn"], "1.21");
        // running version says "refuses"
        let run = evaluate(&kb, &f, v(26), None);
        let rem = find(&run, CheckId::RemovedAdmissionPlugin, "PodSecurityPolicy").unwrap();
        assert!(rem.message.contains("kube-apiserver 1.26 refuses to start"), "{}", rem.message);
    }

    /// Every removed plugin in the KB: enabling it is fine (no Removed/Unknown) in its last
    /// version and a critical RemovedAdmissionPlugin from its removal on.
    #[test]
    fn every_removed_plugin_blocks_from_its_removal() {
        let kb = kb();
        let mut n = 0;
        for p in kb.plugins.iter().filter(|p| p.removed.is_some()) {
            n += 1;
            let removed = p.removed.as_ref().unwrap().in_version;
            let last = p.registered.to.unwrap();
            let arg = format!("--enable-admission-plugins={}", p.name);
            let f = flags(&[arg.as_str()]);
            let before = evaluate(&kb, &f, Some(last), None);
            assert!(find(&before, CheckId::RemovedAdmissionPlugin, &p.name).is_none(), "{}", p.name);
            assert!(find(&before, CheckId::UnknownAdmissionPlugin, &p.name).is_none(), "{}", p.name);
            let after = evaluate(&kb, &f, Some(last), Some(removed));
            let r = find(&after, CheckId::RemovedAdmissionPlugin, &p.name)
                .unwrap_or_else(|| panic!("{} at {removed}", p.name));
            assert_eq!(r.severity, Severity::Critical);
            assert_eq!(r.evidence["removedIn"], removed.to_string());
            assert!(r.message.contains(&format!("kube-apiserver {removed} and later will not start")));
        }
        assert!(n >= 11);
    }

    /// Every plugin in the KB, enabled in each version it is registered: never Unknown/Removed;
    /// enabled one version before it exists: Unknown (critical).
    #[test]
    fn every_plugin_registered_or_unknown_by_version() {
        let kb = kb();
        for p in &kb.plugins {
            let arg = format!("--enable-admission-plugins={}", p.name);
            let f = flags(&[arg.as_str()]);
            let to = p.registered.to.unwrap_or(kb.coverage.to);
            for m in p.registered.from.minor..=to.minor {
                let e = evaluate(&kb, &f, v(m), None);
                assert!(find(&e, CheckId::UnknownAdmissionPlugin, &p.name).is_none(), "{} 1.{m}", p.name);
                assert!(find(&e, CheckId::RemovedAdmissionPlugin, &p.name).is_none(), "{} 1.{m}", p.name);
                assert!(e.effective.plugins.contains(&p.name));
            }
            if p.registered.from > kb.coverage.from {
                let e = evaluate(&kb, &f, v(p.registered.from.minor - 1), None);
                let u = find(&e, CheckId::UnknownAdmissionPlugin, &p.name).unwrap_or_else(|| panic!("{}", p.name));
                assert_eq!(u.severity, Severity::Critical);
                assert!(u.message.contains("was added in"));
            }
        }
    }

    #[test]
    fn removed_plugin_only_disabled_still_stops_the_apiserver() {
        // verified against kube-apiserver v1.37.2: disable names are validated as well
        let kb = kb();
        let e = evaluate(&kb, &flags(&["--disable-admission-plugins=PodSecurityPolicy"]), v(24), v(25));
        let r = find(&e, CheckId::RemovedAdmissionPlugin, "PodSecurityPolicy").unwrap();
        assert_eq!(r.severity, Severity::Critical);
        assert!(r.message.contains("disable-admission-plugins plugin \"PodSecurityPolicy\" is unknown"));
        assert!(r.message.contains("delete it from the flag"));
        // ... but a disabled, still-registered deprecated plugin is no deprecation problem
        let e = evaluate(&kb, &flags(&["--disable-admission-plugins=PodSecurityPolicy"]), v(24), None);
        assert!(e.findings.iter().all(|f| f.plugin.as_deref() != Some("PodSecurityPolicy")));
    }

    #[test]
    fn conflicting_and_mutually_exclusive() {
        let kb = kb();
        let e = evaluate(
            &kb,
            &flags(&["--enable-admission-plugins=AlwaysPullImages", "--disable-admission-plugins=AlwaysPullImages"]),
            v(30),
            None,
        );
        let c = find(&e, CheckId::ConflictingAdmissionPlugin, "AlwaysPullImages").unwrap();
        let two =
            evaluate(&kb, &flags(&["--enable-admission-plugins=B,A", "--disable-admission-plugins=A,B"]), v(30), None);
        assert_eq!(
            two.findings.iter().find(|f| f.check == CheckId::ConflictingAdmissionPlugin).unwrap().evidence["startupError"],
            "[A B] in enable-admission-plugins and disable-admission-plugins overlapped"
        );
        assert_eq!(c.severity, Severity::Critical);
        assert!(
            c.message
                .contains("[AlwaysPullImages] in enable-admission-plugins and disable-admission-plugins overlapped")
        );
        let e = evaluate(
            &kb,
            &flags(&["--admission-control=NamespaceLifecycle", "--enable-admission-plugins=NodeRestriction"]),
            v(30),
            None,
        );
        assert!(e.findings.iter().any(|f| f.check == CheckId::ConflictingAdmissionPlugin
            && f.evidence.get("reason").map(String::as_str) == Some("MutuallyExclusiveFlags")));
    }

    #[test]
    fn admission_control_is_exact_and_deprecated() {
        let kb = kb();
        let e =
            evaluate(&kb, &flags(&["--admission-control=NamespaceLifecycle,LimitRanger,NodeRestriction"]), v(28), None);
        assert!(e.effective.complete);
        assert_eq!(e.effective.plugins, vec!["LimitRanger", "NamespaceLifecycle", "NodeRestriction"]);
        let d = e.findings.iter().find(|f| f.check == CheckId::DeprecatedAdmissionFlag).unwrap();
        assert_eq!(d.evidence["deprecatedIn"], "1.10");
        // ServiceAccount and PodSecurity are not in the list: disabled
        let sa = find(&e, CheckId::RecommendedAdmissionPluginDisabled, "ServiceAccount").unwrap();
        assert_eq!(sa.evidence["cis"], "1.2.12");
        assert!(sa.message.contains("not in the --admission-control list"));
        assert!(find(&e, CheckId::RecommendedAdmissionPluginDisabled, "PodSecurity").is_some());
        assert!(find(&e, CheckId::RecommendedAdmissionPluginDisabled, "NodeRestriction").is_none());
        // 1.9: the flag was the only one, not deprecated yet
        let e = evaluate(&kb, &flags(&["--admission-control=NamespaceLifecycle"]), v(9), None);
        assert!(e.findings.iter().all(|f| f.check != CheckId::DeprecatedAdmissionFlag));
    }

    #[test]
    fn effective_is_defaults_plus_enabled_minus_disabled() {
        let kb = kb();
        let e = effective(
            &kb,
            &flags(&["--enable-admission-plugins=NodeRestriction", "--disable-admission-plugins=DefaultStorageClass"]),
            v(37),
        );
        assert!(e.complete);
        assert!(e.plugins.contains(&"NodeRestriction".to_string()));
        assert!(e.plugins.contains(&"NamespaceLifecycle".to_string()));
        assert!(!e.plugins.contains(&"DefaultStorageClass".to_string()));
        assert_eq!(e.plugins.len(), 25);
        let unknown = effective(&kb, &flags(&["--enable-admission-plugins=NodeRestriction"]), None);
        assert!(!unknown.complete);
        assert_eq!(unknown.plugins, vec!["NodeRestriction"]);
        assert!(unknown.note.unwrap().contains("version unknown"));
    }

    #[test]
    fn not_admission_plugins_are_unknown_with_explanation() {
        let kb = kb();
        for n in &kb.not_admission_plugins {
            let arg = format!("--disable-admission-plugins={}", n.name);
            let e = evaluate(&kb, &flags(&[arg.as_str()]), v(37), None);
            let u = find(&e, CheckId::UnknownAdmissionPlugin, &n.name).unwrap_or_else(|| panic!("{}", n.name));
            assert_eq!(u.severity, Severity::Critical);
            assert!(u.message.contains(&n.explanation));
            assert!(u.message.contains("disable-admission-plugins plugin"));
        }
        for (name, says) in [
            ("PodPriority", "PodPriority is a feature gate, not an admission plugin"),
            ("LegacyServiceAccountTokenNoAutoGeneration", "is a feature gate"),
            ("RuntimeClassHandler", "the plugin is RuntimeClass"),
        ] {
            for version in [v(30), None] {
                let arg = format!("--enable-admission-plugins={name}");
                let e = evaluate(&kb, &flags(&[arg.as_str()]), version, None);
                let u = find(&e, CheckId::UnknownAdmissionPlugin, name).unwrap_or_else(|| panic!("{name}"));
                assert_eq!(u.severity, Severity::Critical);
                assert!(u.message.contains(says), "{}", u.message);
            }
        }
        let e = evaluate(&kb, &flags(&["--enable-admission-plugins=NodeRestrictoin"]), v(30), None);
        let u = find(&e, CheckId::UnknownAdmissionPlugin, "NodeRestrictoin").unwrap();
        assert!(u.message.contains("Did you mean NodeRestriction?"));
        let e = evaluate(&kb, &flags(&["--enable-admission-plugins=NodeRestriction, AlwaysPullImages"]), v(30), None);
        let u = find(&e, CheckId::UnknownAdmissionPlugin, " AlwaysPullImages").unwrap();
        assert!(u.message.contains("does not trim spaces"));
        // newer than the KB: not claimed to stop the apiserver
        let e = evaluate(&kb, &flags(&["--enable-admission-plugins=BrandNew"]), v(39), None);
        assert_eq!(find(&e, CheckId::UnknownAdmissionPlugin, "BrandNew").unwrap().severity, Severity::Warning);
    }

    #[test]
    fn insecure_and_recommended() {
        let kb = kb();
        let e = evaluate(
            &kb,
            &flags(&[
                "--enable-admission-plugins=AlwaysAdmit,NamespaceExists,NodeRestriction",
                "--disable-admission-plugins=ServiceAccount",
            ]),
            v(37),
            None,
        );
        let i = find(&e, CheckId::InsecureAdmissionPlugin, "AlwaysAdmit").unwrap();
        assert_eq!(i.evidence["cis"], "1.2.10");
        assert!(find(&e, CheckId::DeprecatedAdmissionPlugin, "AlwaysAdmit").is_some());
        let r = find(&e, CheckId::RecommendedAdmissionPluginDisabled, "ServiceAccount").unwrap();
        assert_eq!(r.severity, Severity::Warning);
        assert!(r.message.contains("disabled by --disable-admission-plugins"));
        assert!(find(&e, CheckId::RecommendedAdmissionPluginDisabled, "NodeRestriction").is_none());
        assert!(find(&e, CheckId::RecommendedAdmissionPluginDisabled, "NamespaceLifecycle").is_none());
        // CIS manual items are info
        assert_eq!(
            find(&e, CheckId::RecommendedAdmissionPluginDisabled, "AlwaysPullImages").unwrap().severity,
            Severity::Info
        );
        assert!(find(&e, CheckId::DeprecatedAdmissionPlugin, "NamespaceExists").is_none());
        // 1.9 default --admission-control=AlwaysAdmit is itself insecure
        let e = evaluate(&kb, &AdmissionFlags::default(), v(9), None);
        assert!(find(&e, CheckId::InsecureAdmissionPlugin, "AlwaysAdmit").is_some());
        // unknown version: NodeRestriction missing is provable, ServiceAccount (default-on) is not
        let e = evaluate(&kb, &flags(&["--enable-admission-plugins=AlwaysPullImages"]), None, None);
        assert!(find(&e, CheckId::RecommendedAdmissionPluginDisabled, "NodeRestriction").is_some());
        assert!(find(&e, CheckId::RecommendedAdmissionPluginDisabled, "ServiceAccount").is_none());
        assert!(e.effective.note.as_deref().is_some_and(|n| n.contains("version unknown")));
    }

    #[test]
    fn unknown_version_states_removal_conditionally() {
        let kb = kb();
        let e = evaluate(&kb, &flags(&["--enable-admission-plugins=PodSecurityPolicy"]), None, None);
        let r = find(&e, CheckId::RemovedAdmissionPlugin, "PodSecurityPolicy").unwrap();
        assert_eq!(r.severity, Severity::Warning);
        assert!(r.message.contains("version is unknown"));
        assert_eq!(e.evaluated_version, None);
    }

    #[test]
    fn security_context_deny_needs_its_gate_in_1_27_to_1_29() {
        let kb = kb();
        let on = flags(&["--enable-admission-plugins=SecurityContextDeny"]);
        let e = evaluate(&kb, &on, v(28), None);
        let g = e
            .findings
            .iter()
            .find(|f| f.evidence.get("reason").map(String::as_str) == Some("FeatureGateRequired"))
            .unwrap();
        assert_eq!(g.severity, Severity::Critical);
        let gated =
            flags(&["--enable-admission-plugins=SecurityContextDeny", "--feature-gates=SecurityContextDeny=true"]);
        let e = evaluate(&kb, &gated, v(28), None);
        assert!(e.findings.iter().all(|f| f.evidence.get("reason").map(String::as_str) != Some("FeatureGateRequired")));
        assert!(find(&e, CheckId::DeprecatedAdmissionPlugin, "SecurityContextDeny").is_some());
        let e = evaluate(&kb, &on, v(26), None);
        let d = find(&e, CheckId::DeprecatedAdmissionPlugin, "SecurityContextDeny").unwrap();
        assert_eq!(d.evidence["removedIn"], "1.30");
    }

    #[test]
    fn observed_metrics_prove_enabled_only() {
        let kb = kb();
        let seen: BTreeSet<String> =
            ["AlwaysAdmit", "NamespaceLifecycle", "MutatingAdmissionWebhook"].iter().map(|s| s.to_string()).collect();
        let e = evaluate_observed(&kb, &seen, v(30), None);
        assert!(!e.effective.complete);
        assert!(find(&e, CheckId::InsecureAdmissionPlugin, "AlwaysAdmit").is_some());
        assert!(e.findings.iter().all(|f| f.check != CheckId::RecommendedAdmissionPluginDisabled));
        let seen: BTreeSet<String> = ["PodSecurityPolicy".to_string()].into();
        let e = evaluate_observed(&kb, &seen, v(24), v(25));
        assert!(find(&e, CheckId::RemovedAdmissionPlugin, "PodSecurityPolicy").is_some());
    }
}
