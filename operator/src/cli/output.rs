//! How the commands print a finding, one shape for `gohealth analyze` and `gohealth admission`:
//! JSON with every documented key present, and one table layout.

use std::fmt::Write as _;

use serde_json::{Map, Value, json};

use gohealth_core::finding::Finding;

/// `--output`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
}

/// Evidence keys lifted to the top of a finding's JSON: the admission docs promise them there.
const LIFTED: [&str; 2] = ["removedIn", "deprecatedIn"];
/// Evidence worth a glance in the table; the rest is in the JSON.
const TABLE_EVIDENCE: [&str; 3] = ["deprecatedIn", "removedIn", "cis"];
/// Width of the CHECK column: the longest check id plus room for " [suspected]".
const CHECK_WIDTH: usize = 35;

/// A finding as the commands print it: `check`, `severity`, `confidence`, `message`, `function`,
/// `file`, `line`, `count`, `plugin` (null when they do not apply), `removedIn`/`deprecatedIn`
/// when known, and the rest of the evidence under `evidence`. Audit bookkeeping (target,
/// firstSeen, lastSeen) is left out: a command audits once.
pub fn finding_json(f: &Finding) -> Value {
    let mut o = Map::new();
    o.insert("check".into(), json!(f.check.as_str()));
    o.insert("severity".into(), json!(f.severity.as_str()));
    o.insert("confidence".into(), json!(f.confidence));
    o.insert("message".into(), json!(f.message));
    o.insert("function".into(), json!(f.function));
    o.insert("file".into(), json!(f.file));
    o.insert("line".into(), json!(f.line));
    o.insert("count".into(), json!(f.count));
    o.insert("plugin".into(), json!(f.plugin));
    let mut evidence = Map::new();
    for (k, v) in &f.evidence {
        if LIFTED.contains(&k.as_str()) {
            o.insert(k.clone(), json!(v));
        } else {
            evidence.insert(k.clone(), json!(v));
        }
    }
    o.insert("evidence".into(), Value::Object(evidence));
    Value::Object(o)
}

/// `FINDINGS (n)` and one row per finding: severity, check [confidence], count, what it is about
/// (the plugin, or the function and its file:line), then the message.
pub fn findings_section(findings: &[Finding]) -> String {
    let mut s = format!("\nFINDINGS ({})\n", findings.len());
    if findings.is_empty() {
        s.push_str("  none\n");
        return s;
    }
    let _ = writeln!(s, "  {:<9} {:<CHECK_WIDTH$} {:>7}  SUBJECT", "SEVERITY", "CHECK", "COUNT");
    for f in findings {
        let check = match f.confidence {
            Some(c) => format!("{} [{}]", f.check.as_str(), json!(c).as_str().unwrap_or_default()),
            None => f.check.as_str().to_string(),
        };
        let count = f.count.map(|c| c.to_string()).unwrap_or_else(|| "-".into());
        let _ = writeln!(s, "  {:<9} {check:<CHECK_WIDTH$} {count:>7}  {}", f.severity.as_str(), subject(f));
        let _ = writeln!(s, "            {}{}", f.message, table_evidence(f));
    }
    s
}

fn subject(f: &Finding) -> String {
    match (&f.plugin, &f.function, &f.file) {
        (Some(p), _, _) => p.clone(),
        (None, Some(func), Some(file)) => match f.line {
            Some(line) => format!("{func} ({file}:{line})"),
            None => format!("{func} ({file})"),
        },
        (None, Some(func), None) => func.clone(),
        (None, None, _) => "-".into(),
    }
}

fn table_evidence(f: &Finding) -> String {
    let extra: Vec<String> =
        TABLE_EVIDENCE.iter().filter_map(|k| f.evidence.get(*k).map(|v| format!("{k}={v}"))).collect();
    if extra.is_empty() { String::new() } else { format!(" [{}]", extra.join(" ")) }
}

/// Writes a table to stdout, with the severity column in colour when stdout is a terminal and
/// `NO_COLOR` is not set (plain when piped, so scripts and `grep` see the same text).
pub fn print_table(s: &str) {
    use std::io::IsTerminal;
    let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    if colour { print(&colourize(s)) } else { print(s) }
}

/// Pure: ANSI colours on the severity word that starts a finding row; the padding is kept.
fn colourize(table: &str) -> String {
    const STYLES: [(&str, &str); 3] = [("critical", "\x1b[1;31m"), ("warning", "\x1b[33m"), ("info", "\x1b[2m")];
    let mut out = String::with_capacity(table.len() + 64);
    for line in table.split_inclusive('\n') {
        let styled = STYLES.iter().find_map(|(word, style)| {
            let rest = line.strip_prefix("  ")?.strip_prefix(word)?;
            rest.starts_with(' ').then(|| format!("  {style}{word}\x1b[0m{rest}"))
        });
        out.push_str(styled.as_deref().unwrap_or(line));
    }
    out
}

/// Writes to stdout; a closed pipe (`| head`) is not an error worth a panic.
pub fn print(s: &str) {
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(s.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use gohealth_core::finding::{CheckId, Confidence, Severity};

    #[test]
    fn colour_marks_only_the_severity_word_of_finding_rows() {
        let t = "FINDINGS (1)\n  warning   GoroutineLeak  120  main.leak\n  info is not a row\n";
        let c = colourize(t);
        assert!(c.contains("  \x1b[33mwarning\x1b[0m   GoroutineLeak"), "{c:?}");
        assert!(c.ends_with("  info is not a row\n") || c.contains("\x1b[2minfo\x1b[0m is"), "{c:?}");
        assert_eq!(colourize("plain\n"), "plain\n");
    }

    #[test]
    fn every_key_is_present_and_lifecycle_evidence_is_lifted() {
        let f = Finding::new(CheckId::RemovedAdmissionPlugin, Severity::Critical, "gone")
            .with_evidence("removedIn", "1.25")
            .with_evidence("flag", "--enable-admission-plugins");
        let j = finding_json(&f);
        for key in ["check", "severity", "confidence", "message", "function", "file", "line", "count", "plugin"] {
            assert!(j.get(key).is_some(), "{key} missing: {j}");
        }
        assert_eq!(j["removedIn"], "1.25");
        assert!(j.get("deprecatedIn").is_none());
        assert_eq!(j["evidence"], json!({"flag": "--enable-admission-plugins"}));
        assert!(j["plugin"].is_null());
    }

    #[test]
    fn table_row_names_the_site_or_the_plugin() {
        let mut leak = Finding::new(CheckId::GoroutineLeak, Severity::Warning, "120 goroutines blocked");
        leak.confidence = Some(Confidence::Suspected);
        leak.function = Some("main.leak".into());
        leak.file = Some("/app/main.go".into());
        leak.line = Some(47);
        leak.count = Some(120);
        let mut psp = Finding::new(CheckId::RemovedAdmissionPlugin, Severity::Critical, "gone")
            .with_evidence("removedIn", "1.25")
            .with_evidence("flag", "x");
        psp.plugin = Some("PodSecurityPolicy".into());
        let t = findings_section(&[leak, psp]);
        assert!(t.contains("FINDINGS (2)"), "{t}");
        assert!(t.contains("GoroutineLeak [suspected]"), "{t}");
        assert!(t.contains("main.leak (/app/main.go:47)"), "{t}");
        assert!(t.contains("PodSecurityPolicy"), "{t}");
        assert!(t.contains("gone [removedIn=1.25]"), "{t}");
        assert!(!t.contains("flag=x"), "{t}");
        assert!(findings_section(&[]).contains("none"));
    }
}
