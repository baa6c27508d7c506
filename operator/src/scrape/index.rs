//! The `/debug/pprof/` index page: which profiles a target serves, learned without side effects
//! (rendering it runs no GC and stops nothing).
//!
//! `net/http/pprof.Index` renders one row per profile:
//! `<tr><td>COUNT</td><td><a href='NAME?debug=1'>NAME</a></td></tr>`
//! (same shape from Go 1.21 to 1.27; the fixtures hold real pages).

/// One row of the index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexEntry {
    pub name: String,
    /// `Profile.Count()` at render time (for goroutineleak: leaks found by the *last* detection).
    pub count: u64,
}

/// A parsed pprof index.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PprofIndex {
    pub entries: Vec<IndexEntry>,
}

impl PprofIndex {
    pub fn has(&self, name: &str) -> bool {
        self.entries.iter().any(|e| e.name == name)
    }

    pub fn count(&self, name: &str) -> Option<u64> {
        self.entries.iter().find(|e| e.name == name).map(|e| e.count)
    }

    pub fn names(&self) -> Vec<String> {
        self.entries.iter().map(|e| e.name.clone()).collect()
    }
}

/// One `<tr>` row: `<td>COUNT</td><td><a href='NAME?debug=1'>`. None for other rows.
fn parse_row(row: &str) -> Option<IndexEntry> {
    let rest = row.trim_start().strip_prefix("<td>")?;
    let (count, rest) = rest.split_once("</td>")?;
    let count = count.trim().parse().ok()?;
    let rest = rest.trim_start().strip_prefix("<td>")?.trim_start();
    let rest = rest.strip_prefix("<a href=")?;
    let rest = rest.trim_start_matches(['\'', '"']);
    let (name, _) = rest.split_once("?debug=1")?;
    let valid = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    valid.then(|| IndexEntry { name: name.to_string(), count })
}

/// Parses the index page. `None` when the body is not a pprof index: some other app's HTML, a login
/// page, JSON... A real index always lists the `goroutine` profile.
pub fn parse_index(body: &[u8]) -> Option<PprofIndex> {
    // The page is a few KiB; anything far larger is not the index.
    if body.len() > 1 << 20 {
        return None;
    }
    let text = String::from_utf8_lossy(body);
    let entries: Vec<IndexEntry> = text.split("<tr>").skip(1).filter_map(parse_row).collect();
    let index = PprofIndex { entries };
    index.has("goroutine").then_some(index)
}

/// A short description of a body that is not an index, for notes and errors.
pub fn describe_body(body: &[u8]) -> String {
    if body.is_empty() {
        return "an empty body".into();
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(512)]);
    let lower = text.to_ascii_lowercase();
    if lower.contains("<html") || lower.contains("<!doctype") {
        if let (Some(a), Some(b)) = (lower.find("<title>"), lower.find("</title>"))
            && b > a + 7
        {
            // `get`, not indexing: a cut inside a character is no title rather than a panic.
            let title: String = text.get(a + 7..b).unwrap_or_default().trim().chars().take(80).collect();
            return format!("an HTML page titled {title:?}");
        }
        return "an HTML page".into();
    }
    let first: String = text.lines().next().unwrap_or_default().chars().filter(|c| !c.is_control()).take(80).collect();
    format!("{:?}", first)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GO121: &[u8] = include_bytes!("../../../crates/pprof/fixtures/go1.21/index.html");
    const GO126: &[u8] = include_bytes!("../../../crates/pprof/fixtures/go1.26/index.html");
    const GO126X: &[u8] =
        include_bytes!("../../../crates/pprof/fixtures/go1.26-goroutineleakprofile/index-after-leak.html");
    const GO127: &[u8] = include_bytes!("../../../crates/pprof/fixtures/go1.27/index.html");

    #[test]
    fn real_indexes_parse() {
        let i = parse_index(GO127).unwrap();
        assert_eq!(
            i.names(),
            [
                "allocs",
                "block",
                "cmdline",
                "goroutine",
                "goroutineleak",
                "heap",
                "mutex",
                "profile",
                "symbol",
                "threadcreate",
                "trace"
            ]
        );
        assert_eq!(i.count("goroutine"), Some(21));
        assert_eq!(i.count("goroutineleak"), Some(0));

        let i = parse_index(GO121).unwrap();
        assert!(i.has("goroutine") && i.has("heap") && i.has("mutex") && i.has("block"));
        assert!(!i.has("goroutineleak"));

        let i = parse_index(GO126).unwrap();
        assert!(!i.has("goroutineleak"));

        let i = parse_index(GO126X).unwrap();
        assert!(i.has("goroutineleak"));
        assert!(i.count("goroutineleak").unwrap_or(0) > 0);
    }

    #[test]
    fn other_pages_are_not_an_index() {
        let login = b"<!DOCTYPE html><html><head><title>Sign in</title></head><body><form></form></body></html>";
        assert_eq!(parse_index(login), None);
        assert_eq!(describe_body(login), "an HTML page titled \"Sign in\"");
        assert_eq!(parse_index(b"404 page not found\n"), None);
        assert_eq!(describe_body(b"404 page not found\n"), "\"404 page not found\"");
        assert_eq!(parse_index(b""), None);
        assert_eq!(describe_body(b""), "an empty body");
        // a table without the goroutine row
        assert_eq!(parse_index(b"<tr><td>1</td><td><a href='heap?debug=1'>heap</a></td></tr>"), None);
    }

    #[test]
    fn double_quotes_and_spacing_tolerated() {
        let i = parse_index(b"<tr> <td>7</td> <td><a href=\"goroutine?debug=1\">goroutine</a></td></tr>").unwrap();
        assert_eq!(i.count("goroutine"), Some(7));
    }
}
