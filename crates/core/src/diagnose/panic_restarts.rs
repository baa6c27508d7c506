//! `GoPanicRestarts`: containers whose last termination had exit code 2 — what the Go runtime exits
//! with on an unrecovered panic (also `flag` usage errors and explicit `os.Exit(2)`, hence *likely*,
//! not proven) — restarted at least `minRestarts` times. From pod status alone; when the container
//! uses `terminationMessagePolicy: FallbackToLogsOnError`, the panic and its faulty function are read
//! from the termination message.

use gohealth_pprof::model::Frame;

use crate::finding::{CheckId, Confidence, Finding, Severity, TargetRef};
use crate::target::ContainerRestarts;

use super::config::PanicRestartsCheck;

/// Go's exit code for an unrecovered panic (and for fatal runtime errors).
pub const GO_PANIC_EXIT_CODE: i32 = 2;

pub fn panic_restarts(target: &TargetRef, containers: &[ContainerRestarts], cfg: &PanicRestartsCheck) -> Vec<Finding> {
    if !cfg.enabled {
        return Vec::new();
    }
    containers.iter().filter_map(|cs| container_finding(target, cs, cfg)).collect()
}

fn container_finding(target: &TargetRef, cs: &ContainerRestarts, cfg: &PanicRestartsCheck) -> Option<Finding> {
    let term = cs.last_termination.as_ref()?;
    if term.exit_code != GO_PANIC_EXIT_CODE || cs.restart_count < cfg.min_restarts {
        return None;
    }
    let panic = term.message.as_deref().and_then(parse_panic);
    let since = term.finished_at.as_ref().map(|t| format!(" (last at {t})")).unwrap_or_default();
    let mut message = format!(
        "Container {} restarted {} times, last exiting with code 2 — the Go runtime's exit code for an unrecovered panic{since}.",
        cs.name, cs.restart_count
    );
    match &panic {
        Some((msg, Some(frame))) => message.push_str(&format!(
            " It panicked with \"{msg}\" in {} ({}:{}): fix that code path (a nil value, a type switch without a case, an index out of range...).",
            frame.function, frame.file, frame.line
        )),
        Some((msg, None)) => message.push_str(&format!(" It panicked with \"{msg}\".")),
        None => message.push_str(&format!(
            " Read the panic and its stack with `kubectl logs -n {} {} -c {} --previous`; setting terminationMessagePolicy: FallbackToLogsOnError lets this check name the function.",
            target.namespace, target.pod, cs.name
        )),
    }
    let mut t = target.clone();
    t.container = Some(cs.name.clone());
    let mut f = Finding::new(CheckId::GoPanicRestarts, Severity::Critical, message)
        .with_target(t)
        .with_evidence("reason", format!("container:{}", cs.name))
        .with_evidence("container", &cs.name)
        .with_evidence("exitCode", term.exit_code)
        .with_evidence("restartCount", cs.restart_count);
    f.confidence = Some(Confidence::Likely);
    f.count = Some(u64::try_from(cs.restart_count).unwrap_or(0));
    if let Some(r) = &term.reason {
        f.evidence.insert("terminationReason".into(), r.clone());
    }
    if let Some(t) = &term.finished_at {
        f.evidence.insert("lastTerminatedAt".into(), t.clone());
    }
    if let Some((msg, frame)) = panic {
        f.evidence.insert("panic".into(), msg);
        if let Some(fr) = frame {
            f.function = Some(fr.function.into());
            f.file = Some(fr.file.into());
            f.line = Some(fr.line);
        }
    }
    Some(f)
}

/// Strip the argument list from a traceback function line: `main.f({0x0?, 0x0?})` → `main.f`.
fn function_name(line: &str) -> &str {
    let line = line.trim_end();
    if !line.ends_with(')') {
        return line;
    }
    let mut depth = 0usize;
    for (i, c) in line.char_indices().rev() {
        match c {
            ')' => depth += 1,
            '(' => {
                depth -= 1;
                if depth == 0 {
                    return &line[..i];
                }
            }
            _ => {}
        }
    }
    line
}

/// The panic value and the first non-runtime frame of the panicking goroutine, from a crash log
/// (the tail kept in a termination message).
pub fn parse_panic(text: &str) -> Option<(String, Option<Frame>)> {
    let mut lines = text.lines();
    let msg = lines
        .by_ref()
        .find_map(|l| l.strip_prefix("panic: ").or_else(|| l.strip_prefix("fatal error: ")))?
        .trim()
        .to_string();
    let mut frame = None;
    let mut in_goroutine = false;
    let mut pending: Option<String> = None;
    for l in lines {
        if l.starts_with("goroutine ") && l.trim_end().ends_with(':') {
            if in_goroutine {
                break;
            }
            in_goroutine = true;
            continue;
        }
        if !in_goroutine {
            continue;
        }
        if l.is_empty() {
            break;
        }
        if let Some(loc) = l.strip_prefix('\t') {
            if let Some(func) = pending.take() {
                let loc = loc.split(' ').next().unwrap_or(loc);
                let (file, line) = match loc.rsplit_once(':') {
                    Some((f, n)) => (f.to_string(), n.parse().unwrap_or(0)),
                    None => (loc.to_string(), 0),
                };
                let fr = Frame::new(func, file, line);
                if !fr.is_runtime() && fr.function != "panic" {
                    frame = Some(fr);
                    break;
                }
            }
        } else if !l.starts_with("created by ") {
            pending = Some(function_name(l).to_string());
        }
    }
    Some((msg, frame))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::Termination;

    const CRASH: &str = "panic: runtime error: invalid memory address or nil pointer dereference
[signal SIGSEGV: segmentation violation code=0x1 addr=0x18 pc=0x675bd4]

goroutine 7 [running]:
main.reconcileObject({0x0?, 0x0?})
\tgohealth.dev/e2e/fleet/cmd/crashy/main.go:50 +0x94
main.processQueue(0x1831632f00e0)
\tgohealth.dev/e2e/fleet/cmd/crashy/main.go:57 +0x30
created by main.main in goroutine 1
\tgohealth.dev/e2e/fleet/cmd/crashy/main.go:85 +0x509
";

    fn pod(exit: i32, restarts: i32, message: Option<&str>) -> Vec<ContainerRestarts> {
        vec![ContainerRestarts {
            name: "app".into(),
            restart_count: restarts,
            last_termination: Some(Termination {
                exit_code: exit,
                reason: Some("Error".into()),
                message: message.map(str::to_string),
                finished_at: None,
            }),
        }]
    }

    fn target() -> TargetRef {
        TargetRef { namespace: "n".into(), pod: "crashy".into(), container: None }
    }

    #[test]
    fn exit_code_2_over_threshold() {
        let cfg = PanicRestartsCheck::default();
        let f = panic_restarts(&target(), &pod(2, 5, None), &cfg);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].check, CheckId::GoPanicRestarts);
        assert_eq!(f[0].evidence["restartCount"], "5");
        assert_eq!(f[0].target.as_ref().unwrap().container.as_deref(), Some("app"));
        assert!(f[0].message.contains("--previous"));
        // Negative: below threshold, other exit codes, no last state.
        assert!(panic_restarts(&target(), &pod(2, 2, None), &cfg).is_empty());
        assert!(panic_restarts(&target(), &pod(1, 9, None), &cfg).is_empty());
        assert!(panic_restarts(&target(), &pod(137, 9, None), &cfg).is_empty());
        assert!(panic_restarts(&target(), &[], &cfg).is_empty());
        let off = PanicRestartsCheck { enabled: false, ..Default::default() };
        assert!(panic_restarts(&target(), &pod(2, 5, None), &off).is_empty());
    }

    #[test]
    fn names_the_function_from_the_termination_message() {
        let f = panic_restarts(&target(), &pod(2, 3, Some(CRASH)), &PanicRestartsCheck::default());
        assert_eq!(f[0].function.as_deref(), Some("main.reconcileObject"));
        assert_eq!(f[0].line, Some(50));
        assert!(f[0].message.contains("main.reconcileObject"));
        assert_eq!(f[0].evidence["panic"], "runtime error: invalid memory address or nil pointer dereference");
    }

    #[test]
    fn parses_captured_panics() {
        for v in ["go1.21", "go1.26", "go1.27"] {
            for file in ["panic.txt", "panic-gotraceback-all.txt", "panic-gotraceback-system.txt"] {
                let path = format!("{}/../pprof/fixtures/{v}/{file}", env!("CARGO_MANIFEST_DIR"));
                let text = std::fs::read_to_string(&path).unwrap();
                let (_, frame) = parse_panic(&text).unwrap();
                let frame = frame.unwrap_or_else(|| panic!("{path}: no frame"));
                assert_eq!(frame.function, "main.reconcileObject", "{path}");
                assert!(frame.file.ends_with("cmd/crashy/main.go"), "{path}");
            }
        }
        assert!(parse_panic("hello").is_none());
    }
}
