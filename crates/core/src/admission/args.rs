//! kube-apiserver argument semantics (pflag) and the shell/systemd tokenisers that produce
//! argument vectors from text. Pure.

use std::collections::BTreeMap;

use serde::Serialize;

/// The admission-relevant flags as kube-apiserver would see them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionFlags {
    /// `--enable-admission-plugins`; None = flag absent. Repeats append (pflag StringSlice).
    pub enable: Option<Vec<String>>,
    /// `--disable-admission-plugins`; None = flag absent.
    pub disable: Option<Vec<String>>,
    /// The deprecated `--admission-control`; None = flag absent. Replaces the default list.
    pub admission_control: Option<Vec<String>>,
    /// `--admission-control-config-file` (last wins).
    pub config_file: Option<String>,
    /// `--feature-gates` (merged across repeats).
    pub feature_gates: BTreeMap<String, bool>,
}

impl AdmissionFlags {
    /// True when no admission flag at all was given.
    pub fn is_empty(&self) -> bool {
        self.enable.is_none()
            && self.disable.is_none()
            && self.admission_control.is_none()
            && self.config_file.is_none()
    }
}

const ENABLE: &str = "enable-admission-plugins";
const DISABLE: &str = "disable-admission-plugins";
const CONTROL: &str = "admission-control";
const CONFIG: &str = "admission-control-config-file";
const GATES: &str = "feature-gates";

/// pflag StringSlice parsing: csv, no trimming, "" → empty list.
pub fn split_list(value: &str) -> Vec<String> {
    if value.is_empty() {
        return Vec::new();
    }
    // pflag uses encoding/csv: quotes may wrap an element; otherwise a plain comma split.
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' if cur.is_empty() && !quoted => quoted = true,
            '"' if quoted => quoted = false,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

fn append(slot: &mut Option<Vec<String>>, value: &str) {
    // pflag: the first Set replaces the (empty) default, later ones append.
    slot.get_or_insert_with(Vec::new).extend(split_list(value));
}

/// Flags that take a value as the next argument when written without `=`. Only the ones we
/// need plus the common kube-apiserver value flags, so `--flag value` does not swallow a flag.
fn is_admission_flag(name: &str) -> bool {
    matches!(name, ENABLE | DISABLE | CONTROL | CONFIG | GATES)
}

/// Applies pflag semantics to an argument vector (without the program name).
pub fn flags_from_args<S: AsRef<str>>(args: &[S]) -> AdmissionFlags {
    let mut flags = AdmissionFlags::default();
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_ref();
        i += 1;
        if arg == "--" {
            break;
        }
        let Some(body) = arg.strip_prefix("--") else {
            continue;
        };
        let (name, value) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        if !is_admission_flag(name) {
            continue;
        }
        let value = match value {
            Some(v) => v,
            None => match args.get(i) {
                Some(next) => {
                    i += 1;
                    next.as_ref().to_string()
                }
                None => continue,
            },
        };
        apply(&mut flags, name, &value);
    }
    flags
}

/// Applies one `name=value` flag (name without dashes). A plugin list that is itself a template
/// (`{{ .Values.plugins }}`, `${PLUGINS}`) is not applied: nobody can read it offline, and the
/// safety net (`scan`) reports it instead of it becoming a bogus plugin name.
pub fn apply(flags: &mut AdmissionFlags, name: &str, value: &str) {
    if matches!(name, ENABLE | DISABLE | CONTROL) && super::shapes::is_template(value) {
        return;
    }
    match name {
        ENABLE => append(&mut flags.enable, value),
        DISABLE => append(&mut flags.disable, value),
        CONTROL => append(&mut flags.admission_control, value),
        CONFIG => flags.config_file = Some(value.to_string()),
        GATES => {
            for kv in value.split(',') {
                if let Some((k, v)) = kv.split_once('=') {
                    let on = v.trim().eq_ignore_ascii_case("true");
                    flags.feature_gates.insert(k.trim().to_string(), on);
                }
            }
        }
        _ => {}
    }
}

/// Splits shell text into commands (argument vectors): `\`-newline continuations, comments,
/// single and double quotes, `;`, `&&`, `||`, `|`, `&` and newlines as separators. Variables
/// such as `"$VAR"` are kept literally (never expanded).
pub fn shell_commands(text: &str) -> Vec<Vec<String>> {
    let mut commands = Vec::new();
    let mut cmd: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars().peekable();
    let end_word = |word: &mut String, in_word: &mut bool, cmd: &mut Vec<String>| {
        if *in_word {
            cmd.push(std::mem::take(word));
            *in_word = false;
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('\n') => {}
                Some('\r') if chars.peek() == Some(&'\n') => {
                    chars.next();
                }
                Some(other) => {
                    word.push(other);
                    in_word = true;
                }
                None => {}
            },
            '\'' => {
                in_word = true;
                for q in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    word.push(q);
                }
            }
            '"' => {
                in_word = true;
                while let Some(q) = chars.next() {
                    match q {
                        '"' => break,
                        '\\' => match chars.peek() {
                            Some('"' | '\\' | '$' | '`') => {
                                if let Some(e) = chars.next() {
                                    word.push(e);
                                }
                            }
                            Some('\n') => {
                                chars.next();
                            }
                            _ => word.push('\\'),
                        },
                        q => word.push(q),
                    }
                }
            }
            '#' if !in_word => {
                // comment to end of line
                for q in chars.by_ref() {
                    if q == '\n' {
                        break;
                    }
                }
                end_word(&mut word, &mut in_word, &mut cmd);
                if !cmd.is_empty() {
                    commands.push(std::mem::take(&mut cmd));
                }
            }
            ' ' | '\t' | '\r' => end_word(&mut word, &mut in_word, &mut cmd),
            '\n' | ';' | '&' | '|' => {
                end_word(&mut word, &mut in_word, &mut cmd);
                if !cmd.is_empty() {
                    commands.push(std::mem::take(&mut cmd));
                }
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    end_word(&mut word, &mut in_word, &mut cmd);
    if !cmd.is_empty() {
        commands.push(cmd);
    }
    commands
}

/// The arguments after the kube-apiserver program in a command, skipping `exec`, `env`,
/// `VAR=value` assignments, `sudo` and `hyperkube kube-apiserver` / `kube-apiserver` program
/// paths. None when the command does not run kube-apiserver.
pub fn apiserver_args(cmd: &[String]) -> Option<Vec<String>> {
    let mut i = 0;
    while i < cmd.len() {
        let w = cmd[i].as_str();
        let base = w.rsplit('/').next().unwrap_or(w);
        let is_assignment = !w.starts_with('-')
            && w.split_once('=')
                .is_some_and(|(k, _)| !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        if matches!(base, "exec" | "env" | "sudo" | "nohup") || is_assignment {
            i += 1;
            continue;
        }
        if base == "hyperkube" {
            // `hyperkube kube-apiserver`, and before 1.10 also `hyperkube apiserver`
            if matches!(cmd.get(i + 1).map(String::as_str), Some("kube-apiserver" | "apiserver")) {
                return Some(cmd[i + 2..].to_vec());
            }
            return None;
        }
        if base == "kube-apiserver" {
            return Some(cmd[i + 1..].to_vec());
        }
        return None;
    }
    None
}

/// Joins systemd unit lines: drops comment lines (`#`, `;`), honours trailing `\`
/// continuations (comment lines inside a continuation are skipped, as systemd does), and
/// returns the values of every `ExecStart=` (an empty one resets the list, as in drop-ins).
pub fn systemd_exec_starts(text: &str) -> Vec<String> {
    let mut logical: Vec<String> = Vec::new();
    let mut cur: Option<String> = None;
    for raw in text.lines() {
        let line = raw.trim_end_matches('\r');
        let trimmed = line.trim_start();
        if trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        let (body, continues) = match line.strip_suffix('\\') {
            Some(b) => (b, true),
            None => (line, false),
        };
        let acc = cur.get_or_insert_with(String::new);
        if !acc.is_empty() {
            acc.push(' ');
        }
        acc.push_str(body.trim());
        if !continues && let Some(done) = cur.take() {
            logical.push(done);
        }
    }
    if let Some(done) = cur.take() {
        logical.push(done);
    }
    let mut out = Vec::new();
    for l in logical {
        if let Some(v) = l.trim().strip_prefix("ExecStart=") {
            let v = v.trim();
            if v.is_empty() {
                out.clear();
            } else {
                // systemd prefixes: - @ : + ! !!
                out.push(v.trim_start_matches(['-', '@', ':', '+', '!']).to_string());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn equals_and_space_forms() {
        let f = flags_from_args(&[
            "--enable-admission-plugins=NodeRestriction,AlwaysPullImages",
            "--disable-admission-plugins",
            "ServiceAccount",
            "--admission-control-config-file",
            "/etc/k/admission.yaml",
            "--secure-port=6443",
        ]);
        assert_eq!(f.enable, Some(s(&["NodeRestriction", "AlwaysPullImages"])));
        assert_eq!(f.disable, Some(s(&["ServiceAccount"])));
        assert_eq!(f.config_file.as_deref(), Some("/etc/k/admission.yaml"));
        assert_eq!(f.admission_control, None);
    }

    #[test]
    fn repeated_list_flags_append_and_string_flags_keep_last() {
        let f = flags_from_args(&[
            "--enable-admission-plugins=NodeRestriction",
            "--enable-admission-plugins",
            "AlwaysPullImages,EventRateLimit",
            "--admission-control-config-file=/a",
            "--admission-control-config-file=/b",
        ]);
        assert_eq!(f.enable, Some(s(&["NodeRestriction", "AlwaysPullImages", "EventRateLimit"])));
        assert_eq!(f.config_file.as_deref(), Some("/b"));
    }

    #[test]
    fn names_are_not_trimmed_and_empty_means_none() {
        assert_eq!(split_list("A, B"), s(&["A", " B"]));
        assert_eq!(split_list(""), Vec::<String>::new());
        assert_eq!(split_list("\"A,B\",C"), s(&["A,B", "C"]));
        let f = flags_from_args(&["--enable-admission-plugins="]);
        assert_eq!(f.enable, Some(vec![]));
    }

    #[test]
    fn feature_gates_and_double_dash() {
        let f = flags_from_args(&[
            "--feature-gates=SecurityContextDeny=true,Foo=false",
            "--",
            "--enable-admission-plugins=X",
        ]);
        assert_eq!(f.feature_gates.get("SecurityContextDeny"), Some(&true));
        assert_eq!(f.feature_gates.get("Foo"), Some(&false));
        assert_eq!(f.enable, None);
    }

    #[test]
    fn shell_quotes_comments_continuations_vars() {
        let text = "#!/bin/sh\n# start it\nexport X=1\nexec /usr/local/bin/kube-apiserver \\\n  --enable-admission-plugins='NodeRestriction,AlwaysPullImages' \\\n  # a comment line inside is a shell comment and ends the command\n";
        let cmds = shell_commands(text);
        assert_eq!(cmds[0], s(&["export", "X=1"]));
        assert_eq!(
            cmds[1],
            s(&[
                "exec",
                "/usr/local/bin/kube-apiserver",
                "--enable-admission-plugins=NodeRestriction,AlwaysPullImages"
            ])
        );
        let cmds = shell_commands(
            "kube-apiserver --admission-control-config-file=\"$CFG\" --disable-admission-plugins \"Service\"Account && echo ok",
        );
        assert_eq!(
            cmds[0],
            s(&[
                "kube-apiserver",
                "--admission-control-config-file=$CFG",
                "--disable-admission-plugins",
                "ServiceAccount"
            ])
        );
        assert_eq!(cmds[1], s(&["echo", "ok"]));
    }

    #[test]
    fn finds_apiserver_program() {
        let c = s(&["sudo", "FOO=1", "/opt/bin/kube-apiserver", "--a=b"]);
        assert_eq!(apiserver_args(&c), Some(s(&["--a=b"])));
        let c = s(&["/hyperkube", "kube-apiserver", "--x"]);
        assert_eq!(apiserver_args(&c), Some(s(&["--x"])));
        assert_eq!(apiserver_args(&s(&["kubelet", "--x"])), None);
    }

    #[test]
    fn systemd_continuations_comments_resets() {
        let unit = "[Service]\nExecStart=\nExecStart=-/usr/bin/kube-apiserver \\\n  --enable-admission-plugins=NodeRestriction \\\n# comment inside continuation\n  --disable-admission-plugins=AlwaysDeny\n; other comment\nRestart=always\n";
        let starts = systemd_exec_starts(unit);
        assert_eq!(starts.len(), 1);
        assert_eq!(
            starts[0],
            "/usr/bin/kube-apiserver --enable-admission-plugins=NodeRestriction --disable-admission-plugins=AlwaysDeny"
        );
    }
}
