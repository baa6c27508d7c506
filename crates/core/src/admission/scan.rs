//! The safety net behind the structured parse: a tolerant scan of the whole input for admission
//! settings (flag names in any spelling, installer variables, known plugin names next to them).
//! Whatever it finds that the parse did not place becomes an `AdmissionInputNotUnderstood`
//! finding, so an input that mentions admission settings never gets a clean bill unread. Pure.

use std::collections::BTreeSet;

use super::args::AdmissionFlags;
use super::kb::KnowledgeBase;
use crate::finding::{CheckId, Finding, Severity};

/// Which flag a spelling stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setting {
    Enable,
    Disable,
    Control,
    ConfigFile,
}

impl Setting {
    pub fn flag(self) -> &'static str {
        match self {
            Setting::Enable => "--enable-admission-plugins",
            Setting::Disable => "--disable-admission-plugins",
            Setting::Control => "--admission-control",
            Setting::ConfigFile => "--admission-control-config-file",
        }
    }
}

/// Every spelling the scan knows, longest first so `admission-control-config-file` is never read
/// as `admission-control`.
const SPELLINGS: [(&str, Setting); 16] = [
    ("kube_apiserver_admission_control_config_file", Setting::ConfigFile),
    ("kube_apiserver_enable_admission_plugins", Setting::Enable),
    ("kube_apiserver_disable_admission_plugins", Setting::Disable),
    ("kube_apiserver_admission_control", Setting::Control),
    ("admission-control-config-file", Setting::ConfigFile),
    ("admission_control_config_file", Setting::ConfigFile),
    ("enable-admission-plugins", Setting::Enable),
    ("disable-admission-plugins", Setting::Disable),
    ("enable_admission_plugins", Setting::Enable),
    ("disable_admission_plugins", Setting::Disable),
    ("admissionControlConfigFile", Setting::ConfigFile),
    ("appendAdmissionPlugins", Setting::Enable),
    ("enableAdmissionPlugins", Setting::Enable),
    ("disableAdmissionPlugins", Setting::Disable),
    ("admission-control", Setting::Control),
    ("admission_control", Setting::Control),
];

/// One admission setting seen in the text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mention {
    /// 1-based line of the setting's name.
    pub line: usize,
    pub setting: Setting,
    /// Known plugin names in its value (same line, or the `- Name` items below a bare key).
    pub plugins: Vec<String>,
    /// The value is a template or variable (`{{ }}`, `${ }`, `$VAR`): nobody can read it offline.
    pub templated: bool,
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// The admission settings in `text`. Comment lines are skipped, as is a trailing ` # comment`.
pub fn mentions(kb: &KnowledgeBase, text: &str) -> Vec<Mention> {
    let names: BTreeSet<&str> = kb.plugins.iter().map(|p| p.name.as_str()).collect();
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, raw) in lines.iter().enumerate() {
        let line = strip_comment(raw);
        let found = settings_in(line);
        for (k, (at, len, setting)) in found.iter().enumerate() {
            let end = found.get(k + 1).map(|n| n.0).unwrap_or(line.len());
            let value = line.get(at + len..end).unwrap_or("");
            // the value ends at the next flag on the line (` --x`, `' '--x`, `","--x`, NUL): a
            // `--feature-gates=MutatingAdmissionPolicy=true` after it names a gate, not a plugin
            let value = value.split("--").next().unwrap_or(value);
            let mut plugins = plugin_names(&names, value);
            let mut templated = value_is_templated(value);
            let bare_key = value.trim().trim_matches(['"', '\'']).trim_start_matches(':').trim().is_empty();
            if bare_key && k + 1 == found.len() {
                let (items, templated_item) = list_items(&names, &lines[i + 1..]);
                plugins.extend(items);
                templated |= templated_item;
            }
            out.push(Mention { line: i + 1, setting: *setting, plugins, templated });
        }
    }
    out
}

fn strip_comment(line: &str) -> &str {
    let t = line.trim_start();
    if t.starts_with('#') || t.starts_with("//") || t.starts_with(';') {
        return "";
    }
    match line.find(" #") {
        Some(at) => line.get(..at).unwrap_or(line),
        None => line,
    }
}

/// (byte offset, length, setting) of every spelling on the line, in order, at name boundaries.
fn settings_in(line: &str) -> Vec<(usize, usize, Setting)> {
    let mut found: Vec<(usize, usize, Setting)> = Vec::new();
    for (spelling, setting) in SPELLINGS {
        for (at, _) in line.match_indices(spelling) {
            let before = line.get(..at).and_then(|s| s.chars().next_back());
            let after = line.get(at + spelling.len()..).and_then(|s| s.chars().next());
            let bounded = before.is_none_or(|c| !is_name_char(c) || c == '-')
                && after.is_none_or(|c| !is_name_char(c))
                // `--enable-...` is preceded by '-', but `x-enable-...` is another word
                && !line.get(..at).is_some_and(|s| s.ends_with('-') && !s.ends_with("--"));
            let inside = found.iter().any(|(a, l, _)| at >= *a && at < a + l);
            if bounded && !inside {
                found.push((at, spelling.len(), setting));
            }
        }
    }
    found.sort_by_key(|f| f.0);
    found
}

fn plugin_names(names: &BTreeSet<&str>, value: &str) -> Vec<String> {
    value.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| names.contains(w)).map(String::from).collect()
}

/// `- Name` items (YAML block list) right below a bare key, and whether one of them is templated.
fn list_items(names: &BTreeSet<&str>, below: &[&str]) -> (Vec<String>, bool) {
    let mut out = Vec::new();
    let mut templated = false;
    let mut in_item = false;
    for raw in below {
        let t = raw.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        match t.strip_prefix("- ").or_else(|| (t == "-").then_some("")) {
            Some(item) => {
                let item = strip_comment(item).trim();
                // `- >-` / `- |`: a folded scalar follows, indented below the dash
                in_item = matches!(item, ">-" | ">" | "|" | "|-");
                templated |= super::shapes::is_template(item);
                out.extend(plugin_names(names, item));
            }
            None if in_item && raw.starts_with([' ', '\t']) => {
                templated |= super::shapes::is_template(t);
                out.extend(plugin_names(names, t));
            }
            None => break,
        }
    }
    (out, templated)
}

fn value_is_templated(value: &str) -> bool {
    super::shapes::is_template(value) || value.contains("$(") || {
        let v = value.trim_start_matches([' ', '=', ':', '"', '\'']);
        v.starts_with('$')
    }
}

/// What the parse placed, by setting.
fn placed(flags: &AdmissionFlags, setting: Setting) -> Option<BTreeSet<&str>> {
    fn names(l: &Option<Vec<String>>) -> Option<BTreeSet<&str>> {
        l.as_ref().map(|v| v.iter().map(|s| s.trim()).collect())
    }
    match setting {
        Setting::Enable => names(&flags.enable),
        Setting::Disable => names(&flags.disable),
        Setting::Control => names(&flags.admission_control),
        Setting::ConfigFile => flags.config_file.as_ref().map(|_| BTreeSet::new()),
    }
}

/// Why one mention was not placed.
fn unplaced(m: &Mention, flags: Option<&AdmissionFlags>) -> Option<String> {
    let what = m.setting.flag();
    if m.templated && m.setting != Setting::ConfigFile {
        return Some(format!("line {}: {what} has a templated value that cannot be read offline", m.line));
    }
    let Some(flags) = flags else {
        return Some(match m.plugins.as_slice() {
            [] => format!("line {}: {what}", m.line),
            p => format!("line {}: {what} naming {}", m.line, p.join(", ")),
        });
    };
    if m.plugins.is_empty() {
        // a name without a readable plugin list (prose, a path, a bare key): read if the parse
        // found any admission setting at all
        return (flags.is_empty() && placed(flags, m.setting).is_none())
            .then(|| format!("line {}: {what}, but no admission flag was read", m.line));
    }
    let set = placed(flags, m.setting).unwrap_or_default();
    let missing: Vec<&str> = m.plugins.iter().map(String::as_str).filter(|p| !set.contains(p)).collect();
    (!missing.is_empty()).then(|| format!("line {}: {what} naming {} was not read", m.line, missing.join(", ")))
}

/// The `AdmissionInputNotUnderstood` finding for `text`, given what the parse placed (None: the
/// parse found no configuration). None when every mention is accounted for.
pub fn not_understood(kb: &KnowledgeBase, text: &str, flags: Option<&AdmissionFlags>) -> Option<Finding> {
    let found = mentions(kb, text);
    let reasons: Vec<(usize, String)> = found.iter().filter_map(|m| unplaced(m, flags).map(|r| (m.line, r))).collect();
    let first = reasons.first()?.0;
    let lines: Vec<String> = reasons.iter().map(|(l, _)| l.to_string()).collect();
    let head = if flags.is_some() {
        "the input mentions admission settings that were not read"
    } else {
        "no kube-apiserver configuration could be read, but the input mentions admission settings"
    };
    let mut f = Finding::new(
        CheckId::AdmissionInputNotUnderstood,
        Severity::Warning,
        format!(
            "{head} ({}); the other findings do not cover them. Audit the flags in a shape docs/admission.md lists (e.g. the kube-apiserver command line) or pass --kubernetes-version with the rendered config",
            reasons.iter().map(|(_, r)| r.as_str()).collect::<Vec<_>>().join("; ")
        ),
    )
    .with_evidence("lines", lines.join(","))
    .with_evidence("reason", if flags.is_some() { "Unplaced" } else { "Unrecognised" });
    f.line = u32::try_from(first).ok();
    Some(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::args::flags_from_args;

    fn kb() -> KnowledgeBase {
        KnowledgeBase::embedded().expect("kb")
    }

    #[test]
    fn spellings_lists_and_boundaries() {
        let kb = kb();
        let text = "# --admission-control=AlwaysAdmit\nkube_apiserver_enable_admission_plugins:\n  - EventRateLimit\n  # - AlwaysPullImages\n  - NodeRestriction  # CIS 1.2.14\nfoo: 1\n--admission-control-config-file=/x --disable-admission-plugins=ServiceAccount,PodPreset\nx-enable-admission-plugins=NodeRestriction\n";
        let m = mentions(&kb, text);
        assert_eq!(m.len(), 3, "{m:?}");
        // a feature gate named like a plugin, later on the same command line, is not in the list
        let ps = "root 1 0 kube-apiserver --enable-admission-plugins=NodeRestriction --feature-gates=MutatingAdmissionPolicy=true\n";
        assert_eq!(mentions(&kb, ps)[0].plugins, vec!["NodeRestriction"]);
        assert_eq!(m[0].setting, Setting::Enable);
        assert_eq!(m[0].plugins, vec!["EventRateLimit", "NodeRestriction"]);
        assert_eq!(m[1].setting, Setting::ConfigFile);
        assert_eq!(m[2].plugins, vec!["ServiceAccount", "PodPreset"]);
        assert_eq!(m[2].line, 7);
    }

    #[test]
    fn placed_names_are_quiet_and_the_rest_is_reported() {
        let kb = kb();
        let text = "kube-apiserver --enable-admission-plugins=NodeRestriction,PodSecurityPolicy\n";
        let read = flags_from_args(&["--enable-admission-plugins=NodeRestriction,PodSecurityPolicy"]);
        assert!(not_understood(&kb, text, Some(&read)).is_none());
        let partial = flags_from_args(&["--enable-admission-plugins=NodeRestriction"]);
        let f = not_understood(&kb, text, Some(&partial)).expect("finding");
        assert_eq!(f.check, CheckId::AdmissionInputNotUnderstood);
        assert_eq!(f.severity, Severity::Warning);
        assert!(f.message.contains("PodSecurityPolicy"), "{}", f.message);
        assert_eq!(f.line, Some(1));
        let none = AdmissionFlags::default();
        assert!(not_understood(&kb, text, Some(&none)).is_some());
        let f = not_understood(&kb, text, None).expect("finding");
        assert_eq!(f.evidence["reason"], "Unrecognised");
        let templated = "  - --enable-admission-plugins={{ .Values.plugins }}\n";
        assert!(not_understood(&kb, templated, Some(&partial)).is_some());
        assert!(not_understood(&kb, "echo hello\n", None).is_none());
    }
}
