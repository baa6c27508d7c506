//! The admission-plugin knowledge base: `config/admission-plugins.yaml`, embedded, optionally
//! extended or overridden by a ConfigMap. Loading, merging and every query are pure.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::version::KubeVersion;

/// The embedded knowledge base text.
pub const EMBEDDED: &str = include_str!("../../../../config/admission-plugins.yaml");

/// Key of the knowledge-base ConfigMap (`spec.admission.knowledgeBaseConfigMap`) that holds the overlay.
pub const KB_CONFIGMAP_KEY: &str = "plugins.yaml";

#[derive(Debug, thiserror::Error)]
pub enum KbError {
    #[error("knowledge base is not valid YAML for its schema: {0}")]
    Parse(String),
    #[error("knowledge base facts are unsourced or inconsistent: {}", .0.join("; "))]
    Invalid(Vec<String>),
}

impl KbError {
    /// Stable reason for conditions and events.
    pub fn reason(&self) -> &'static str {
        match self {
            KbError::Parse(_) => "KnowledgeBaseParseError",
            KbError::Invalid(_) => "KnowledgeBaseInvalid",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KnowledgeBase {
    pub schema_version: u32,
    pub coverage: Coverage,
    pub startup: Startup,
    pub admission_control_flag: AdmissionControlFlag,
    pub default_enabled: Vec<DefaultSet>,
    pub plugins: Vec<Plugin>,
    #[serde(default)]
    pub not_admission_plugins: Vec<NotAPlugin>,
    pub sources: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Coverage {
    pub from: KubeVersion,
    pub to: KubeVersion,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub sources: Vec<String>,
}

/// Startup error texts of kube-apiserver's flag validation (`{name}` is replaced).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Startup {
    pub enable_unknown: String,
    pub disable_unknown: String,
    pub admission_control_unknown: String,
    pub overlap: String,
    pub mutually_exclusive: String,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub sources: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionControlFlag {
    pub deprecated_in: KubeVersion,
    #[serde(default)]
    pub removed_in: Option<KubeVersion>,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub sources: Vec<String>,
}

/// The plugins on by default in an inclusive range of versions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DefaultSet {
    pub from: KubeVersion,
    pub to: KubeVersion,
    pub plugins: Vec<String>,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub sources: Vec<String>,
}

impl DefaultSet {
    fn contains(&self, v: KubeVersion) -> bool {
        self.from <= v && v <= self.to
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Plugin {
    pub name: String,
    pub registered: Registered,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecated: Option<VersionFact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed: Option<VersionFact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replacement: Option<Replacement>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature_gate: Option<FeatureGate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insecure: Option<Insecure>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recommended: Option<Recommended>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<Note>,
}

/// Versions that register the plugin (inclusive; `to: None` = still registered).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Registered {
    pub from: KubeVersion,
    #[serde(default)]
    pub to: Option<KubeVersion>,
    #[serde(default)]
    pub sources: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionFact {
    #[serde(rename = "in")]
    pub in_version: KubeVersion,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub sources: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Replacement {
    pub text: String,
    /// The replacing admission plugin, when there is one.
    #[serde(default)]
    pub plugin: Option<String>,
    #[serde(default)]
    pub sources: Vec<String>,
}

/// A feature gate the plugin needs in a range of versions (else kube-apiserver exits).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FeatureGate {
    pub name: String,
    pub from: KubeVersion,
    pub to: KubeVersion,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub sources: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Insecure {
    pub reason: String,
    #[serde(default)]
    pub cis: Option<String>,
    #[serde(default)]
    pub sources: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Recommended {
    pub reason: String,
    #[serde(default)]
    pub cis: Option<String>,
    /// "warning" (CIS automated items) or "info" (CIS manual items).
    #[serde(default = "default_warning")]
    pub severity: String,
    #[serde(default)]
    pub sources: Vec<String>,
}

fn default_warning() -> String {
    "warning".into()
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Note {
    pub text: String,
    #[serde(default)]
    pub sources: Vec<String>,
}

/// A name people put in admission flags that is not (or no longer) an admission plugin.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotAPlugin {
    pub name: String,
    /// featureGate | invented | renamed
    pub kind: String,
    pub explanation: String,
    #[serde(default)]
    pub replacement: Option<String>,
    #[serde(default)]
    pub sources: Vec<String>,
}

/// What a ConfigMap may carry: the same schema, every section optional.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Overlay {
    #[serde(default)]
    pub coverage: Option<Coverage>,
    #[serde(default)]
    pub default_enabled: Vec<DefaultSet>,
    #[serde(default)]
    pub plugins: Vec<Plugin>,
    #[serde(default)]
    pub not_admission_plugins: Vec<NotAPlugin>,
    #[serde(default)]
    pub sources: BTreeMap<String, String>,
}

/// Whether a name is registered at a version, and why not.
#[derive(Clone, Debug, PartialEq)]
pub enum Registration<'a> {
    Registered(&'a Plugin),
    /// Known plugin, removed at or before this version.
    Removed(&'a Plugin),
    /// Known plugin, not yet added at this version.
    NotYet(&'a Plugin),
    /// A known non-plugin (feature gate, invented, renamed).
    NotAPlugin(&'a NotAPlugin),
    /// Never heard of it.
    Unknown,
}

impl KnowledgeBase {
    /// The embedded knowledge base. Its validity is a unit test, so this only fails on a broken build.
    pub fn embedded() -> Result<KnowledgeBase, KbError> {
        Self::from_yaml(EMBEDDED)
    }

    pub fn from_yaml(text: &str) -> Result<KnowledgeBase, KbError> {
        let kb: KnowledgeBase = serde_norway::from_str(text).map_err(|e| KbError::Parse(e.to_string()))?;
        let problems = kb.problems();
        if problems.is_empty() { Ok(kb) } else { Err(KbError::Invalid(problems)) }
    }

    /// The embedded KB with an optional ConfigMap overlay applied.
    pub fn load(overlay_yaml: Option<&str>) -> Result<KnowledgeBase, KbError> {
        let base = Self::embedded()?;
        match overlay_yaml {
            None => Ok(base),
            Some(text) => {
                let overlay: Overlay = serde_norway::from_str(text).map_err(|e| KbError::Parse(e.to_string()))?;
                let merged = merge(base, overlay);
                let problems = merged.problems();
                if problems.is_empty() { Ok(merged) } else { Err(KbError::Invalid(problems)) }
            }
        }
    }

    pub fn plugin(&self, name: &str) -> Option<&Plugin> {
        self.plugins.iter().find(|p| p.name == name)
    }

    pub fn not_a_plugin(&self, name: &str) -> Option<&NotAPlugin> {
        self.not_admission_plugins.iter().find(|p| p.name == name)
    }

    /// Is the version inside what the KB covers?
    pub fn covers(&self, v: KubeVersion) -> bool {
        self.coverage.from <= v && v <= self.coverage.to
    }

    pub fn registration(&self, name: &str, v: KubeVersion) -> Registration<'_> {
        if let Some(p) = self.plugin(name) {
            if v < p.registered.from {
                return Registration::NotYet(p);
            }
            return match p.registered.to {
                Some(to) if v > to => Registration::Removed(p),
                _ => Registration::Registered(p),
            };
        }
        match self.not_a_plugin(name) {
            Some(n) => Registration::NotAPlugin(n),
            None => Registration::Unknown,
        }
    }

    pub fn is_registered(&self, name: &str, v: KubeVersion) -> bool {
        matches!(self.registration(name, v), Registration::Registered(_))
    }

    /// Plugins registered at `v`, sorted.
    pub fn registered_at(&self, v: KubeVersion) -> Vec<String> {
        let mut out: Vec<String> =
            self.plugins.iter().filter(|p| self.is_registered(&p.name, v)).map(|p| p.name.clone()).collect();
        out.sort();
        out
    }

    /// Default-on plugins at `v`; None when the KB has no range for it (unknown version).
    pub fn defaults(&self, v: KubeVersion) -> Option<&DefaultSet> {
        self.default_enabled.iter().find(|d| d.contains(v))
    }

    /// The inclusive version ranges in which `name` is on by default (merged across ranges).
    pub fn default_on_versions(&self, name: &str) -> Vec<(KubeVersion, KubeVersion)> {
        let mut minors: Vec<KubeVersion> = self
            .default_enabled
            .iter()
            .filter(|d| d.plugins.iter().any(|p| p == name))
            .flat_map(|d| (d.from.minor..=d.to.minor).map(move |m| KubeVersion::new(d.from.major, m)))
            .collect();
        minors.sort();
        minors.dedup();
        let mut out: Vec<(KubeVersion, KubeVersion)> = Vec::new();
        for v in minors {
            match out.last_mut() {
                Some((_, to)) if to.next() == v => *to = v,
                _ => out.push((v, v)),
            }
        }
        out
    }

    /// Every problem that makes the KB unusable: facts without sources, unknown source keys,
    /// inconsistent ranges. Empty = valid.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut check = |what: String, sources: &[String]| {
            if sources.is_empty() {
                out.push(format!("{what}: no sources"));
            }
            for s in sources {
                if !self.sources.contains_key(s) {
                    out.push(format!("{what}: source {s:?} is not in `sources`"));
                }
            }
        };
        check("coverage".into(), &self.coverage.sources);
        check("startup".into(), &self.startup.sources);
        check("admissionControlFlag".into(), &self.admission_control_flag.sources);
        for d in &self.default_enabled {
            check(format!("defaultEnabled {}..{}", d.from, d.to), &d.sources);
        }
        for p in &self.plugins {
            let n = &p.name;
            check(format!("{n}.registered"), &p.registered.sources);
            if let Some(f) = &p.deprecated {
                check(format!("{n}.deprecated"), &f.sources);
            }
            if let Some(f) = &p.removed {
                check(format!("{n}.removed"), &f.sources);
            }
            if let Some(f) = &p.replacement {
                check(format!("{n}.replacement"), &f.sources);
            }
            if let Some(f) = &p.feature_gate {
                check(format!("{n}.featureGate"), &f.sources);
            }
            if let Some(f) = &p.insecure {
                check(format!("{n}.insecure"), &f.sources);
            }
            if let Some(f) = &p.recommended {
                check(format!("{n}.recommended"), &f.sources);
            }
            for (i, note) in p.notes.iter().enumerate() {
                check(format!("{n}.notes[{i}]"), &note.sources);
            }
        }
        for n in &self.not_admission_plugins {
            check(format!("notAdmissionPlugins {}", n.name), &n.sources);
        }
        // consistency: removed == registered.to + 1; defaults registered; names unique
        let mut names = BTreeSet::new();
        for p in &self.plugins {
            if !names.insert(p.name.as_str()) {
                out.push(format!("{}: listed twice", p.name));
            }
            match (&p.registered.to, &p.removed) {
                (Some(to), Some(r)) if to.next() != r.in_version => {
                    out.push(format!("{}: registered until {to} but removed in {}", p.name, r.in_version))
                }
                (Some(to), None) => out.push(format!("{}: registered until {to} without a removed fact", p.name)),
                (None, Some(r)) => {
                    out.push(format!("{}: removed in {} but registered without an end", p.name, r.in_version))
                }
                _ => {}
            }
            if self.not_a_plugin(&p.name).is_some() {
                out.push(format!("{}: both a plugin and in notAdmissionPlugins", p.name));
            }
        }
        for d in &self.default_enabled {
            if d.from > d.to {
                out.push(format!("defaultEnabled {}..{}: empty range", d.from, d.to));
            }
            for v in (d.from.minor..=d.to.minor).map(|m| KubeVersion::new(d.from.major, m)) {
                for name in &d.plugins {
                    if !self.is_registered(name, v) {
                        out.push(format!("defaultEnabled {}..{}: {name} is not registered in {v}", d.from, d.to));
                    }
                }
            }
        }
        for p in &self.plugins {
            if let Some(r) = &p.replacement
                && let Some(rp) = &r.plugin
                && self.plugin(rp).is_none()
            {
                out.push(format!("{}: replacement {rp} is not a known plugin", p.name));
            }
        }
        out
    }
}

/// Applies a ConfigMap overlay: entries with the same name replace the embedded ones, new names
/// are added, overlay default ranges take precedence, sources are added (same key: overlay wins).
pub fn merge(mut base: KnowledgeBase, overlay: Overlay) -> KnowledgeBase {
    if let Some(c) = overlay.coverage {
        base.coverage = c;
    }
    for p in overlay.plugins {
        match base.plugins.iter_mut().find(|b| b.name == p.name) {
            Some(slot) => *slot = p,
            None => base.plugins.push(p),
        }
    }
    for n in overlay.not_admission_plugins {
        match base.not_admission_plugins.iter_mut().find(|b| b.name == n.name) {
            Some(slot) => *slot = n,
            None => base.not_admission_plugins.push(n),
        }
    }
    if !overlay.default_enabled.is_empty() {
        // first match wins in `defaults`, so overlay ranges go in front
        let mut ranges = overlay.default_enabled;
        ranges.append(&mut base.default_enabled);
        base.default_enabled = ranges;
    }
    base.sources.extend(overlay.sources);
    base
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kb() -> KnowledgeBase {
        KnowledgeBase::embedded().expect("embedded KB is valid")
    }

    fn v(m: u32) -> KubeVersion {
        KubeVersion::new(1, m)
    }

    #[test]
    fn embedded_kb_has_a_source_for_every_fact() {
        let kb: KnowledgeBase = serde_norway::from_str(EMBEDDED).expect("parses");
        assert_eq!(kb.problems(), Vec::<String>::new());
    }

    #[test]
    fn unsourced_fact_is_rejected() {
        let text = EMBEDDED.replacen("sources: [changelog-1.21-psp, pr-97171]", "sources: []", 1);
        assert_ne!(text, EMBEDDED, "fixture text must be found");
        let err = KnowledgeBase::from_yaml(&text).unwrap_err();
        assert_eq!(err.reason(), "KnowledgeBaseInvalid");
        assert!(err.to_string().contains("PodSecurityPolicy.deprecated: no sources"), "{err}");
        let text = EMBEDDED.replacen("[changelog-1.21-psp, pr-97171]", "[no-such-source]", 1);
        let err = KnowledgeBase::from_yaml(&text).unwrap_err();
        assert!(err.to_string().contains("no-such-source"), "{err}");
    }

    #[test]
    fn every_minor_has_defaults_and_registered_plugins() {
        let kb = kb();
        for m in 9..=37 {
            assert!(kb.defaults(v(m)).is_some(), "1.{m}");
            assert!(kb.registered_at(v(m)).len() >= 30, "1.{m}");
        }
        assert!(kb.defaults(v(8)).is_none());
        assert!(kb.defaults(v(38)).is_none());
    }

    /// Straight from `kube-apiserver --help` of the v1.37.2 binary the e2e control plane builds.
    #[test]
    fn v1_37_matches_kube_apiserver_help() {
        let kb = kb();
        let help_registered = "AlwaysAdmit, AlwaysDeny, AlwaysPullImages, CertificateApproval, CertificateSigning, CertificateSubjectRestriction, ClusterTrustBundleAttest, DefaultIngressClass, DefaultStorageClass, DefaultTolerationSeconds, DenyServiceExternalIPs, EventRateLimit, ExtendedResourceToleration, ImagePolicyWebhook, LimitPodHardAntiAffinityTopology, LimitRanger, MutatingAdmissionPolicy, MutatingAdmissionWebhook, NamespaceAutoProvision, NamespaceExists, NamespaceLifecycle, NodeDeclaredFeatureValidator, NodeRestriction, OwnerReferencesPermissionEnforcement, PersistentVolumeClaimResize, PodGroupProtection, PodNodeSelector, PodResizeValidator, PodSecurity, PodTolerationRestriction, PodTopologyLabels, Priority, ResourceQuota, RuntimeClass, ServiceAccount, StorageObjectInUseProtection, TaintNodesByCondition, ValidatingAdmissionPolicy, ValidatingAdmissionWebhook";
        let help_default = "NamespaceLifecycle, LimitRanger, ServiceAccount, TaintNodesByCondition, PodSecurity, Priority, DefaultTolerationSeconds, DefaultStorageClass, StorageObjectInUseProtection, PodGroupProtection, PersistentVolumeClaimResize, RuntimeClass, CertificateApproval, CertificateSigning, ClusterTrustBundleAttest, CertificateSubjectRestriction, DefaultIngressClass, PodTopologyLabels, NodeDeclaredFeatureValidator, PodResizeValidator, MutatingAdmissionPolicy, MutatingAdmissionWebhook, ValidatingAdmissionPolicy, ValidatingAdmissionWebhook, ResourceQuota";
        let split = |s: &str| s.split(", ").map(str::to_string).collect::<BTreeSet<_>>();
        assert_eq!(kb.registered_at(v(37)).into_iter().collect::<BTreeSet<_>>(), split(help_registered));
        let defaults = kb.defaults(v(37)).unwrap();
        assert_eq!(defaults.plugins.iter().cloned().collect::<BTreeSet<_>>(), split(help_default));
    }

    /// For every plugin: registered inside its range, and not-registered (with the right reason)
    /// one version before it appeared and one version after it was removed.
    #[test]
    fn every_plugin_registration_boundaries() {
        let kb = kb();
        assert!(kb.plugins.len() >= 50);
        for p in &kb.plugins {
            let from = p.registered.from;
            assert!(kb.is_registered(&p.name, from), "{} at {from}", p.name);
            if from > kb.coverage.from {
                let before = KubeVersion::new(1, from.minor - 1);
                assert!(matches!(kb.registration(&p.name, before), Registration::NotYet(_)), "{} at {before}", p.name);
            }
            match (p.registered.to, &p.removed) {
                (Some(to), Some(removed)) => {
                    assert!(kb.is_registered(&p.name, to), "{} at {to}", p.name);
                    assert!(
                        matches!(kb.registration(&p.name, removed.in_version), Registration::Removed(_)),
                        "{} at {}",
                        p.name,
                        removed.in_version
                    );
                    assert!(matches!(kb.registration(&p.name, KubeVersion::new(1, 40)), Registration::Removed(_)));
                }
                (None, None) => assert!(kb.is_registered(&p.name, v(37)), "{}", p.name),
                other => panic!("{}: inconsistent {other:?}", p.name),
            }
        }
    }

    #[test]
    fn known_history_is_recorded() {
        let kb = kb();
        let removed = |n: &str| kb.plugin(n).and_then(|p| p.removed.as_ref()).map(|r| r.in_version);
        assert_eq!(removed("PodSecurityPolicy"), Some(v(25)));
        assert_eq!(removed("SecurityContextDeny"), Some(v(30)));
        assert_eq!(removed("PersistentVolumeLabel"), Some(v(31)));
        assert_eq!(removed("PodPreset"), Some(v(20)));
        assert_eq!(removed("Initializers"), Some(v(14)));
        assert_eq!(removed("DenyEscalatingExec"), Some(v(21)));
        assert_eq!(removed("DenyExecOnPrivileged"), Some(v(21)));
        assert_eq!(removed("InitialResources"), Some(v(11)));
        assert_eq!(removed("PVCProtection"), Some(v(10)));
        assert_eq!(removed("PodGroupWorkloadExists"), Some(v(37)));
        assert_eq!(removed("AlwaysAdmit"), None);
        let dep = |n: &str| kb.plugin(n).and_then(|p| p.deprecated.as_ref()).map(|r| r.in_version);
        assert_eq!(dep("PodSecurityPolicy"), Some(v(21)));
        assert_eq!(dep("SecurityContextDeny"), Some(v(27)));
        assert_eq!(dep("AlwaysAdmit"), Some(v(10)));
        // defaults: 1.9 is the old --admission-control=AlwaysAdmit default
        assert_eq!(kb.defaults(v(9)).unwrap().plugins, vec!["AlwaysAdmit"]);
        let d = |m| kb.defaults(v(m)).unwrap().plugins.clone();
        assert!(d(23).contains(&"PodSecurity".to_string()));
        assert!(!d(21).contains(&"PodSecurity".to_string()));
        assert!(d(10).contains(&"PersistentVolumeLabel".to_string()));
        assert!(!d(11).contains(&"PersistentVolumeLabel".to_string()));
        assert!(!d(37).contains(&"NodeRestriction".to_string()));
    }

    #[test]
    fn default_on_ranges_per_plugin() {
        let kb = kb();
        assert_eq!(kb.default_on_versions("PodSecurity"), vec![(v(22), v(37))]);
        assert_eq!(kb.default_on_versions("AlwaysAdmit"), vec![(v(9), v(9))]);
        assert_eq!(kb.default_on_versions("PersistentVolumeLabel"), vec![(v(10), v(10))]);
        assert_eq!(kb.default_on_versions("Priority"), vec![(v(12), v(37))]);
        assert_eq!(kb.default_on_versions("JobValidation"), vec![(v(36), v(36))]);
        assert!(kb.default_on_versions("NodeRestriction").is_empty());
        // every default-on plugin is registered wherever it is on
        for p in &kb.plugins {
            for (from, to) in kb.default_on_versions(&p.name) {
                assert!(p.registered.from <= from && p.registered.to.is_none_or(|t| to <= t), "{}", p.name);
            }
        }
    }

    #[test]
    fn non_plugins_are_not_plugins() {
        let kb = kb();
        for n in ["PodPriority", "LegacyServiceAccountTokenNoAutoGeneration", "RuntimeClassHandler"] {
            assert!(matches!(kb.registration(n, v(30)), Registration::NotAPlugin(_)), "{n}");
        }
        assert!(kb.not_a_plugin("PodPriority").unwrap().explanation.contains("feature gate"));
        assert_eq!(kb.registration("Bogus", v(30)), Registration::Unknown);
    }

    #[test]
    fn overlay_overrides_and_extends() {
        let overlay = r#"
plugins:
  - name: AlwaysAdmit
    registered: {from: "1.9", to: "1.36", sources: [local-decision]}
    removed: {in: "1.37", sources: [local-decision]}
  - name: CorpPolicy
    registered: {from: "1.30", sources: [local-decision]}
notAdmissionPlugins:
  - {name: Foo, kind: invented, explanation: "Foo is made up", sources: [local-decision]}
sources:
  local-decision: "platform team, 2026-11"
"#;
        let kb = KnowledgeBase::load(Some(overlay)).expect("merges");
        assert!(matches!(kb.registration("AlwaysAdmit", v(37)), Registration::Removed(_)));
        assert!(kb.is_registered("CorpPolicy", v(31)));
        assert!(matches!(kb.registration("Foo", v(31)), Registration::NotAPlugin(_)));
        // an unsourced overlay is rejected, not silently merged
        let bad = "plugins:\n  - name: X\n    registered: {from: \"1.30\"}\n";
        assert!(matches!(KnowledgeBase::load(Some(bad)), Err(KbError::Invalid(_))));
        assert!(matches!(KnowledgeBase::load(Some(": : :")), Err(KbError::Parse(_))));
    }
}
