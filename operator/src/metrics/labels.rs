//! Typed labels: one struct per label shape, and [`Family`], a metric family that accepts only its own
//! label struct.
//!
//! A label struct lists its names and values in one place ([`LabelSet::pairs`]), so a family's label
//! names and the values passed to it cannot disagree. Every series an audit writes goes through
//! [`Family::series`], which records it in the audit's [`Published`] set; removal is then one generic
//! function over the [`SeriesIndex`] (no per-family code).

use std::collections::{BTreeSet, HashMap};
use std::marker::PhantomData;

use prometheus::core::{Collector, MetricVec, MetricVecBuilder};

/// Longest `function` label value; Go symbols beyond this are cut (generic instantiations can be huge).
pub(crate) const MAX_FUNCTION_LABEL_LEN: usize = 160;
/// Longest error category accepted from callers.
pub(crate) const MAX_CATEGORY_LEN: usize = 64;

/// A label shape. `Default` only serves to read the label names without a value at hand.
pub(crate) trait LabelSet: Clone + Ord + Default {
    /// (name, value) pairs, in the family's label order.
    fn pairs(&self) -> Vec<(&'static str, &str)>;

    fn names() -> Vec<&'static str> {
        Self::default().pairs().into_iter().map(|(name, _)| name).collect()
    }
}

/// The audit's identity: the label prefix of every per-audit series.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct AuditLabels {
    pub namespace: String,
    pub audit: String,
}

impl LabelSet for AuditLabels {
    fn pairs(&self) -> Vec<(&'static str, &str)> {
        vec![("namespace", &self.namespace), ("audit", &self.audit)]
    }
}

impl AuditLabels {
    /// The audit's labels followed by `extra`.
    fn with<'a, const N: usize>(&'a self, extra: [(&'static str, &'a str); N]) -> Vec<(&'static str, &'a str)> {
        let mut pairs = self.pairs();
        pairs.extend(extra);
        pairs
    }
}

/// `gohealth_findings`.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct FindingLabels {
    pub audit: AuditLabels,
    pub check: String,
    pub severity: String,
}

impl LabelSet for FindingLabels {
    fn pairs(&self) -> Vec<(&'static str, &str)> {
        self.audit.with([("check", &self.check), ("severity", &self.severity)])
    }
}

/// `gohealth_admission_findings`.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct AdmissionLabels {
    pub audit: AuditLabels,
    pub plugin: String,
    pub check: String,
    pub severity: String,
}

impl LabelSet for AdmissionLabels {
    fn pairs(&self) -> Vec<(&'static str, &str)> {
        self.audit.with([("plugin", &self.plugin), ("check", &self.check), ("severity", &self.severity)])
    }
}

/// `gohealth_leak_site_goroutines`; the function name is cut to `MAX_FUNCTION_LABEL_LEN` on construction.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct LeakSiteLabels {
    audit: AuditLabels,
    check: String,
    function: String,
}

impl LeakSiteLabels {
    pub fn new(audit: AuditLabels, check: &str, function: &str) -> LeakSiteLabels {
        LeakSiteLabels { audit, check: check.to_string(), function: truncate_label(function, MAX_FUNCTION_LABEL_LEN) }
    }

    #[cfg(test)]
    pub fn function(&self) -> &str {
        &self.function
    }
}

impl LabelSet for LeakSiteLabels {
    fn pairs(&self) -> Vec<(&'static str, &str)> {
        self.audit.with([("check", &self.check), ("function", &self.function)])
    }
}

/// `gohealth_targets` and `gohealth_scrapes_total`: a scrape result (`Ok` or a stable reason).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ReasonLabels {
    pub audit: AuditLabels,
    pub reason: String,
}

impl LabelSet for ReasonLabels {
    fn pairs(&self) -> Vec<(&'static str, &str)> {
        self.audit.with([("reason", &self.reason)])
    }
}

/// `gohealth_target_goroutines`: one audited pod.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct TargetLabels {
    pub audit: AuditLabels,
    pub target_namespace: String,
    pub target_pod: String,
}

impl LabelSet for TargetLabels {
    fn pairs(&self) -> Vec<(&'static str, &str)> {
        self.audit.with([("target_namespace", &self.target_namespace), ("target_pod", &self.target_pod)])
    }
}

/// `gohealth_reconcile_errors_total`; the category is sanitised on construction.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct CategoryLabels {
    audit: AuditLabels,
    category: String,
}

impl CategoryLabels {
    pub fn new(audit: AuditLabels, category: &str) -> CategoryLabels {
        CategoryLabels { audit, category: sanitize_category(category) }
    }
}

impl LabelSet for CategoryLabels {
    fn pairs(&self) -> Vec<(&'static str, &str)> {
        self.audit.with([("category", &self.category)])
    }
}

/// `gohealth_build_info`.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct VersionLabels {
    pub version: String,
}

impl LabelSet for VersionLabels {
    fn pairs(&self) -> Vec<(&'static str, &str)> {
        vec![("version", &self.version)]
    }
}

/// Callers promise a bounded category; still keep label values short and tame.
pub(crate) fn sanitize_category(category: &str) -> String {
    let cleaned: String = category
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .take(MAX_CATEGORY_LEN)
        .collect();
    if cleaned.is_empty() { "Other".to_string() } else { cleaned }
}

/// At most `max` bytes of `s` (whole characters), plus `…` when cut.
pub(crate) fn truncate_label(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut out = String::with_capacity(max + '…'.len_utf8());
    for c in s.chars() {
        if out.len() + c.len_utf8() > max {
            break;
        }
        out.push(c);
    }
    out.push('…');
    out
}

/// A prometheus vector (gauge, counter or histogram), seen through label values only.
pub(crate) trait Vector: Collector + Clone + 'static {
    type Child;
    fn child(&self, values: &[&str]) -> Self::Child;
    fn remove(&self, values: &[&str]);
}

impl<T: MetricVecBuilder + 'static> Vector for MetricVec<T> {
    type Child = T::M;

    fn child(&self, values: &[&str]) -> T::M {
        // Cannot panic on cardinality: values and names both come from the same `LabelSet::pairs`.
        self.with_label_values(values)
    }

    fn remove(&self, values: &[&str]) {
        // Absent series are fine: removal is idempotent by design.
        let _ = self.remove_label_values(values);
    }
}

/// Type-erased removal, so that one index can remove series of any family.
trait RemoveSeries: Send + Sync {
    fn remove_values(&self, values: &[&str]);
}

impl<V: Vector> RemoveSeries for V {
    fn remove_values(&self, values: &[&str]) {
        self.remove(values);
    }
}

/// One series: its family's name and its label values.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct SeriesKey {
    family: &'static str,
    values: Vec<String>,
}

/// Series written by one owner (an audit's report, or its lasting counters).
#[derive(Debug, Default)]
pub(crate) struct Published(BTreeSet<SeriesKey>);

impl Published {
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

/// Every registered family by name: how a `SeriesKey` finds the vector to remove itself from.
#[derive(Default)]
pub(crate) struct SeriesIndex(HashMap<&'static str, Box<dyn RemoveSeries>>);

impl SeriesIndex {
    fn remove(&self, key: &SeriesKey) {
        if let Some(family) = self.0.get(key.family) {
            let values: Vec<&str> = key.values.iter().map(String::as_str).collect();
            family.remove_values(&values);
        }
    }

    /// Remove what `old` holds and `new` does not.
    pub fn remove_stale(&self, old: &Published, new: &Published) {
        for key in old.0.difference(&new.0) {
            self.remove(key);
        }
    }

    pub fn remove_all(&self, published: Published) {
        for key in &published.0 {
            self.remove(key);
        }
    }
}

/// A registered metric family whose series are addressed by `L`.
pub(crate) struct Family<L, V> {
    name: &'static str,
    vec: V,
    labels: PhantomData<fn(&L)>,
}

impl<L: LabelSet, V: Vector> Family<L, V> {
    /// Register `vec` (named `name`) and index it for removal.
    pub fn register(
        registry: &prometheus::Registry,
        index: &mut SeriesIndex,
        name: &'static str,
        vec: V,
    ) -> prometheus::Result<Family<L, V>> {
        registry.register(Box::new(vec.clone()))?;
        index.0.insert(name, Box::new(vec.clone()));
        Ok(Family { name, vec, labels: PhantomData })
    }

    /// The series `labels`, recorded in `owner` so that it can be removed later.
    pub fn series(&self, owner: &mut Published, labels: &L) -> V::Child {
        let values: Vec<&str> = labels.pairs().into_iter().map(|(_, value)| value).collect();
        owner.0.insert(SeriesKey { family: self.name, values: values.iter().map(|v| v.to_string()).collect() });
        self.vec.child(&values)
    }

    /// A series nobody removes (process-wide, e.g. build info).
    pub fn unowned(&self, labels: &L) -> V::Child {
        let values: Vec<&str> = labels.pairs().into_iter().map(|(_, value)| value).collect();
        self.vec.child(&values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::{GaugeVec, Opts, Registry};

    fn audit(name: &str) -> AuditLabels {
        AuditLabels { namespace: "ns".into(), audit: name.into() }
    }

    #[test]
    fn names_and_values_line_up() {
        assert_eq!(FindingLabels::names(), ["namespace", "audit", "check", "severity"]);
        assert_eq!(AdmissionLabels::names(), ["namespace", "audit", "plugin", "check", "severity"]);
        assert_eq!(LeakSiteLabels::names(), ["namespace", "audit", "check", "function"]);
        assert_eq!(ReasonLabels::names(), ["namespace", "audit", "reason"]);
        assert_eq!(TargetLabels::names(), ["namespace", "audit", "target_namespace", "target_pod"]);
        assert_eq!(CategoryLabels::names(), ["namespace", "audit", "category"]);
        let l = TargetLabels { audit: audit("a"), target_namespace: "apps".into(), target_pod: "p".into() };
        let values: Vec<&str> = l.pairs().into_iter().map(|(_, v)| v).collect();
        assert_eq!(values, ["ns", "a", "apps", "p"]);
    }

    #[test]
    fn categories_are_sanitized() {
        assert_eq!(sanitize_category("KubeApi"), "KubeApi");
        assert_eq!(sanitize_category("a b\"c"), "abc");
        assert_eq!(sanitize_category("  "), "Other");
        assert_eq!(sanitize_category(&"x".repeat(500)).len(), MAX_CATEGORY_LEN);
        assert_eq!(CategoryLabels::new(audit("a"), "x y").category, "xy");
    }

    #[test]
    fn truncation_keeps_whole_characters() {
        assert_eq!(truncate_label("short", 10), "short");
        assert_eq!(truncate_label("abcdef", 3), "abc…");
        // 'é' is two bytes: cutting at 3 would split the second one
        assert_eq!(truncate_label("éééé", 3), "é…");
        let site = LeakSiteLabels::new(audit("a"), "GoroutineLeak", &"f".repeat(500));
        assert_eq!(site.function().len(), MAX_FUNCTION_LABEL_LEN + '…'.len_utf8());
    }

    #[test]
    fn stale_and_all_removal_is_generic() {
        let registry = Registry::new();
        let mut index = SeriesIndex::default();
        let vec = GaugeVec::new(Opts::new("t_reasons", "h"), &ReasonLabels::names()).expect("valid");
        let family: Family<ReasonLabels, GaugeVec> =
            Family::register(&registry, &mut index, "t_reasons", vec).expect("registers");
        let reason = |r: &str| ReasonLabels { audit: audit("a"), reason: r.into() };
        let count = || registry.gather().iter().map(|mf| mf.get_metric().len()).sum::<usize>();

        let mut old = Published::default();
        family.series(&mut old, &reason("Ok")).set(1.0);
        family.series(&mut old, &reason("Timeout")).set(2.0);
        let mut new = Published::default();
        family.series(&mut new, &reason("Ok")).set(3.0);
        assert_eq!(count(), 2);
        index.remove_stale(&old, &new);
        assert_eq!(count(), 1);
        index.remove_all(new);
        assert_eq!(count(), 0);
    }
}
