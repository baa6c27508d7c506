//! `process_*` metrics of the operator itself, read from `/proc/self` (the prometheus crate's `process`
//! feature would pull procfs for this).

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ProcessStats {
    pub cpu_seconds: f64,
    pub resident_bytes: f64,
    pub virtual_bytes: f64,
    pub start_time_seconds: f64,
    pub threads: f64,
    pub open_fds: Option<f64>,
}

/// None off Linux, or when `/proc` is unreadable.
pub(crate) fn process_stats() -> Option<ProcessStats> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let boot_time = std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse::<f64>()
        .ok()?;
    let open_fds = std::fs::read_dir("/proc/self/fd").ok().map(|d| d.count() as f64);
    parse_proc_stat(&stat, boot_time, open_fds)
}

/// Clock ticks and page size are 100 Hz and 4 KiB on every Linux the image targets (x86_64, arm64).
const CLK_TCK: f64 = 100.0;
const PAGE_SIZE: f64 = 4096.0;

fn parse_proc_stat(stat: &str, boot_time: f64, open_fds: Option<f64>) -> Option<ProcessStats> {
    // comm may contain spaces and parentheses: fields start after the last ')'.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 (state); utime=14, stime=15, num_threads=20, starttime=22, vsize=23, rss=24.
    let f = |n: usize| -> Option<f64> { fields.get(n - 3)?.parse::<f64>().ok() };
    Some(ProcessStats {
        cpu_seconds: (f(14)? + f(15)?) / CLK_TCK,
        threads: f(20)?,
        start_time_seconds: boot_time + f(22)? / CLK_TCK,
        virtual_bytes: f(23)?,
        resident_bytes: f(24)? * PAGE_SIZE,
        open_fds,
    })
}

/// Text exposition of `p`, appended after the registry's families.
pub(crate) fn render_process(p: &ProcessStats) -> String {
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, value: f64| {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"));
    };
    metric("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.", p.cpu_seconds);
    metric("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", p.resident_bytes);
    metric("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", p.virtual_bytes);
    metric(
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since unix epoch in seconds.",
        p.start_time_seconds,
    );
    metric("process_threads", "gauge", "Number of OS threads in the process.", p.threads);
    if let Some(fds) = p.open_fds {
        metric("process_open_fds", "gauge", "Number of open file descriptors.", fds);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_parses_with_odd_comm() {
        let stat = "4242 (go (h) ealth) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 7 0 12345 104857600 2560 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
        let p = parse_proc_stat(stat, 1_700_000_000.0, Some(12.0)).expect("parses");
        assert_eq!(p.cpu_seconds, 3.0);
        assert_eq!(p.threads, 7.0);
        assert_eq!(p.start_time_seconds, 1_700_000_123.45);
        assert_eq!(p.virtual_bytes, 104_857_600.0);
        assert_eq!(p.resident_bytes, 2560.0 * 4096.0);
        let text = render_process(&p);
        assert!(text.contains("process_resident_memory_bytes 10485760\n"));
        assert!(text.contains("process_open_fds 12\n"));
    }

    #[test]
    fn truncated_stat_is_none() {
        assert_eq!(parse_proc_stat("4242 (gohealth) S 1 2 3", 0.0, None), None);
        assert_eq!(parse_proc_stat("no parenthesis", 0.0, None), None);
    }
}
