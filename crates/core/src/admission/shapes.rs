//! Text shapes that carry kube-apiserver arguments inside something else: fenced code blocks and
//! heredocs (Markdown guides, shell scripts), process listings (`ps -ef`, `ps -fC`, `ps aux`),
//! `/proc/PID/cmdline` (NUL separated) and literal flags in Helm/Terraform templates. Pure.

/// Where an embedded block was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockKind {
    /// A Markdown fenced code block (```` ``` ```` or `~~~`).
    Fence,
    /// A shell heredoc (`cat <<EOF | sudo tee ...`).
    Heredoc,
}

impl BlockKind {
    pub fn describe(self) -> &'static str {
        match self {
            BlockKind::Fence => "fenced code block",
            BlockKind::Heredoc => "heredoc",
        }
    }
}

/// One embedded block: its 1-based first line in the outer text and its content as the file it
/// stands for would hold it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    pub kind: BlockKind,
    pub line: usize,
    pub body: String,
}

/// Fenced code blocks, then heredocs (a heredoc inside a fence is found again when the caller
/// parses that fence's body; a stray or unbalanced fence must not hide a heredoc).
pub fn embedded_blocks(text: &str) -> Vec<Block> {
    let mut blocks = fenced_blocks(text);
    blocks.extend(heredocs(text));
    blocks
}

fn fenced_blocks(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<(String, usize, usize, Vec<&str>)> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        match &mut open {
            None => {
                for marker in ["```", "~~~"] {
                    if trimmed.starts_with(marker) {
                        let fence: String = trimmed.chars().take_while(|c| marker.starts_with(*c)).collect();
                        open = Some((fence, indent, i + 2, Vec::new()));
                        break;
                    }
                }
            }
            Some((fence, fence_indent, start, body)) => {
                if trimmed.starts_with(fence.as_str()) && trimmed.trim_end().chars().all(|c| fence.starts_with(c)) {
                    let text = body.iter().map(|l| dedent(l, *fence_indent)).collect::<Vec<_>>().join("\n");
                    out.push(Block { kind: BlockKind::Fence, line: *start, body: text + "\n" });
                    open = None;
                } else {
                    body.push(line);
                }
            }
        }
    }
    out
}

/// Drops up to `n` leading spaces (a fence indented inside a Markdown list).
fn dedent(line: &str, n: usize) -> &str {
    let spaces = line.len() - line.trim_start_matches(' ').len();
    line.get(spaces.min(n)..).unwrap_or(line)
}

fn heredoc_start() -> Option<&'static regex::Regex> {
    use std::sync::OnceLock;
    static RE: OnceLock<Option<regex::Regex>> = OnceLock::new();
    RE.get_or_init(|| regex::Regex::new(r#"<<(-?)\s*(['"]?)([A-Za-z_][A-Za-z0-9_]*)(['"]?)"#).ok()).as_ref()
}

/// `<<EOF`, `<<-EOF`, `<< 'EOF'`, `<<"EOF"`: the lines up to the delimiter. An unquoted delimiter
/// means the shell expands the body: `\\` → `\`, `\$` → `$`, backslash-newline joins lines.
fn heredocs(text: &str) -> Vec<Block> {
    let Some(re) = heredoc_start() else {
        return Vec::new();
    };
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        i += 1;
        // `<<<` is a here-string (no body); `$((a<<2))` does not match (no delimiter word)
        if line.contains("<<<") {
            continue;
        }
        let Some(c) = re.captures(line) else {
            continue;
        };
        let strip_tabs = c.get(1).is_some_and(|m| !m.as_str().is_empty());
        let quoted = c.get(2).is_some_and(|m| !m.as_str().is_empty());
        let Some(delim) = c.get(3).map(|m| m.as_str()) else {
            continue;
        };
        let start = i + 1;
        let mut body = Vec::new();
        while i < lines.len() {
            let l = lines[i];
            i += 1;
            if l.trim() == delim {
                break;
            }
            body.push(if strip_tabs { l.trim_start_matches('\t') } else { l });
        }
        let raw = body.join("\n") + "\n";
        let body = if quoted { raw } else { expand_unquoted(&raw) };
        out.push(Block { kind: BlockKind::Heredoc, line: start, body });
    }
    out
}

fn expand_unquoted(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.peek() {
            Some('\\' | '$' | '`') => {
                if let Some(e) = chars.next() {
                    out.push(e);
                }
            }
            Some('\n') => {
                chars.next();
            }
            _ => out.push('\\'),
        }
    }
    out
}

/// A process listing line: `UID PID PPID C STIME TTY TIME CMD` (`ps -ef`, `ps -fC`) or
/// `USER PID %CPU %MEM VSZ RSS TTY STAT START TIME COMMAND` (`ps aux`). The PID is the second
/// column; the command is the first word whose program is kube-apiserver. `grep` lines are skipped.
/// Returns the arguments after the program and the 1-based line, for each apiserver process.
pub fn process_listing(text: &str) -> Vec<(Vec<String>, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.len() < 3 || !words[1].chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let Some(at) = words.iter().position(|w| program(w) == "kube-apiserver") else {
            continue;
        };
        if at < 2 || words[..at].iter().any(|w| matches!(program(w), "grep" | "pgrep" | "egrep")) {
            continue;
        }
        let mut args: Vec<String> = words[at + 1..].iter().map(|w| w.to_string()).collect();
        // guides print a long command wrapped, one flag per line, with `...` for elided ones
        for next in &lines[i + 1..] {
            let t = next.trim();
            if t.starts_with("--") {
                args.extend(t.split_whitespace().map(String::from));
            } else if t != "..." && t != "…" {
                break;
            }
        }
        out.push((args, i + 1));
    }
    out
}

fn program(word: &str) -> &str {
    word.rsplit('/').next().unwrap_or(word)
}

/// A pod's `command:`/`args:` list cut out of its manifest (`kubectl get pod -o yaml | grep -C30
/// command`, a guide quoting a few lines): `- kube-apiserver` followed by `- --flag=value` items.
/// Returns the arguments after the program and its 1-based line.
pub fn yaml_list_argv(text: &str) -> Option<(Vec<String>, usize)> {
    let item = |l: &str| -> Option<String> {
        let v = l.trim_start().strip_prefix("- ")?.trim();
        let v = v.strip_prefix('"').and_then(|x| x.strip_suffix('"')).unwrap_or(v);
        let v = v.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')).unwrap_or(v);
        Some(v.to_string())
    };
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.iter().position(|l| item(l).is_some_and(|v| program(&v) == "kube-apiserver"))?;
    let mut args = Vec::new();
    for l in &lines[start + 1..] {
        let t = l.trim();
        // a Helm/Jinja control line (`{{- if .Values.x }}`, `{% endif %}`) inside the list
        let template_action = (t.starts_with("{{") && t.ends_with("}}")) || (t.starts_with("{%") && t.ends_with("%}"));
        if t.is_empty() || t.starts_with('#') || template_action {
            continue;
        }
        match item(l) {
            Some(v) if v.starts_with('-') => args.push(v),
            _ => break,
        }
    }
    Some((args, start + 1))
}

/// `/proc/PID/cmdline`: the argv, NUL separated (the last one NUL terminated).
pub fn cmdline_args(text: &str) -> Vec<String> {
    text.split('\0').filter(|a| !a.is_empty()).map(|a| a.trim_matches('\n').to_string()).collect()
}

/// True when the text is a template (Helm/Go, Terraform, Jinja, shell variables in config).
pub fn is_template(text: &str) -> bool {
    ["{{", "${", "%{", "{%"].iter().any(|m| text.contains(m))
}

fn literal_flag() -> Option<&'static regex::Regex> {
    use std::sync::OnceLock;
    static RE: OnceLock<Option<regex::Regex>> = OnceLock::new();
    RE.get_or_init(|| {
        regex::Regex::new(
            r#"(?:^|[^A-Za-z0-9_-])(?:--)?["']?(enable-admission-plugins|disable-admission-plugins|admission-control-config-file|admission-control|feature-gates)["']?\s*(?:=|:|\s)\s*["']?([^\s"'\]\\]+)"#,
        )
        .ok()
    })
    .as_ref()
}

/// Admission flags written literally in a template (`"--enable-admission-plugins=A,B"` in a Helm
/// or Terraform list, `enable-admission-plugins: A` in a templated kubeadm config). Values that are
/// themselves templated are not read (the safety net reports them). Comment lines are skipped.
pub fn literal_flags(text: &str) -> Vec<(String, String)> {
    let Some(re) = literal_flag() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with('#') || t.starts_with("//") {
            continue;
        }
        for c in re.captures_iter(line) {
            let (Some(name), Some(value)) = (c.get(1), c.get(2)) else {
                continue;
            };
            let value = value.as_str().trim_end_matches([',', ')']);
            let list = !matches!(name.as_str(), "admission-control-config-file" | "feature-gates");
            // a plugin list is names and commas; anything else (`.*/` in a sed expression) is not one
            let names_only = value.chars().all(|c| c.is_ascii_alphanumeric() || c == ',');
            if is_template(value) || value.starts_with('$') || value.is_empty() || (list && !names_only) {
                continue;
            }
            out.push((name.as_str().to_string(), value.to_string()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fences_dedent_and_heredocs_expand() {
        let md = "# Guide\n\n1. Write it:\n   ```bash\n   kube-apiserver \\\n     --enable-admission-plugins=A\n   ```\n\n~~~\nplain\n~~~\n";
        let b = fenced_blocks(md);
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].line, 5);
        assert_eq!(b[0].body, "kube-apiserver \\\n  --enable-admission-plugins=A\n");
        assert_eq!(b[1].body, "plain\n");

        let sh = "cat <<EOF | sudo tee /etc/systemd/system/kube-apiserver.service\n[Service]\nExecStart=/usr/local/bin/kube-apiserver \\\\\n  --admission-control=Initializers \\\\\n  --v=2\nEOF\ncat <<'EOF' > x\nliteral \\\\ $HOME\nEOF\n";
        let b = embedded_blocks(sh);
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].kind, BlockKind::Heredoc);
        assert_eq!(b[0].line, 2);
        assert_eq!(
            b[0].body,
            "[Service]\nExecStart=/usr/local/bin/kube-apiserver \\\n  --admission-control=Initializers \\\n  --v=2\n"
        );
        assert_eq!(b[1].body, "literal \\\\ $HOME\n");
        assert!(embedded_blocks("x=$((1<<2))\ncat <<< \"$v\"\n").is_empty());
    }

    #[test]
    fn process_listings() {
        let ef = "UID   PID  PPID  C STIME TTY   TIME CMD\nroot  2617 2565  8 17:46 ?  00:00:14 kube-apiserver --enable-admission-plugins=NodeRestriction --v=2\nroot  9 1 0 17:47 pts/0 00:00:00 grep --color=auto kube-apiserver\n";
        let p = process_listing(ef);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].0, vec!["--enable-admission-plugins=NodeRestriction", "--v=2"]);
        assert_eq!(p[0].1, 2);
        let aux = "root 1234 5.0 3.1 1123456 254321 ? Ssl 10:00 1:23 /usr/local/bin/kube-apiserver --admission-control=AlwaysAdmit\n";
        assert_eq!(process_listing(aux)[0].0, vec!["--admission-control=AlwaysAdmit"]);
        assert!(process_listing("exec /usr/bin/kube-apiserver --x\n").is_empty());
    }

    #[test]
    fn cmdline_and_literals() {
        assert_eq!(cmdline_args("kube-apiserver\0--a=b\0\0"), vec!["kube-apiserver", "--a=b"]);
        let tf = "command = [\n  \"kube-apiserver\",\n  \"--enable-admission-plugins=NodeRestriction,AlwaysPullImages\",\n  \"--disable-admission-plugins=${var.off}\",\n]\n# \"--admission-control=AlwaysAdmit\"\n";
        assert!(is_template(tf));
        assert_eq!(
            literal_flags(tf),
            vec![("enable-admission-plugins".to_string(), "NodeRestriction,AlwaysPullImages".to_string())]
        );
        let helm = "    extraArgs:\n      enable-admission-plugins: {{ .Values.plugins }}\n      admission-control-config-file: /etc/k/adm.yaml\n";
        assert_eq!(
            literal_flags(helm),
            vec![("admission-control-config-file".to_string(), "/etc/k/adm.yaml".to_string())]
        );
    }
}
