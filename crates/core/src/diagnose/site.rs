//! Blocking sites: what a goroutine group waits on, and where (the first frame outside the runtime).
//!
//! Works on every format: debug=2 carries the wait reason (`state`); proto keeps the runtime frames
//! (`runtime.gopark` → `runtime.chansend1`...); debug=1 hides the leading runtime frames, so a group
//! whose innermost frame is already user code is "parked, reason unknown" (a channel op or select in
//! practice, but a preempted running goroutine looks the same).

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use gohealth_pprof::model::{Frame, GoroutineProfile, Group, Labels, Stack};

/// What a goroutine group is waiting on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BlockKind {
    ChanSend,
    ChanRecv,
    Select,
    /// nil channel, `select {}`, or the runtime's `leaked` status: can never wake.
    Forever,
    Mutex,
    WaitGroup,
    Cond,
    /// Other runtime semaphores (`semacquire`; WaitGroup.Wait before Go 1.24).
    Sema,
    /// debug=1 without runtime frames: parked, most likely on a channel or select.
    ParkedUnknown,
    /// Sleeping, in I/O, running, in a syscall, runtime-internal: not a leak candidate.
    NotBlocked,
}

impl BlockKind {
    pub fn is_blocked(self) -> bool {
        self != BlockKind::NotBlocked
    }

    /// Waits a healthy per-object loop also shows (consumer loops, keep-alive loops): a single
    /// snapshot cannot tell a leak from a loop here, so these need growth or long waits.
    pub fn is_consumer_shaped(self) -> bool {
        matches!(self, BlockKind::ChanRecv | BlockKind::Select | BlockKind::ParkedUnknown)
    }

    pub fn describe(self) -> &'static str {
        match self {
            BlockKind::ChanSend => "chan send",
            BlockKind::ChanRecv => "chan receive",
            BlockKind::Select => "select",
            BlockKind::Forever => "a wait that can never end (nil channel / select {})",
            BlockKind::Mutex => "sync.Mutex/RWMutex lock",
            BlockKind::WaitGroup => "sync.WaitGroup.Wait",
            BlockKind::Cond => "sync.Cond.Wait",
            BlockKind::Sema => "a semaphore (semacquire)",
            BlockKind::ParkedUnknown => "a channel operation or select (reason hidden in debug=1)",
            BlockKind::NotBlocked => "not blocked",
        }
    }
}

/// The wait reason without runtime flags (`(leaked)`, `(durable)`, `(scan)`) or 1.26-style labels.
/// The checks call it for every group of every dump, so the common case (a bare reason) neither
/// allocates nor runs a substring search: cheap byte checks gate each cut.
pub fn normalize_state(state: &str) -> Cow<'_, str> {
    let mut s = state;
    if s.contains('{')
        && let Some((head, _)) = s.split_once(" labels:")
    {
        s = head;
    }
    // `, N minutes` / `, locked to thread` should already be parsed out; drop them if not.
    if let Some((head, _)) = s.split_once(',') {
        s = head;
    }
    let s = s.trim();
    if !s.contains(" (") {
        return Cow::Borrowed(s);
    }
    let mut out = s.to_string();
    for flag in [" (leaked)", " (durable)", " (synctest)", " (scan)"] {
        if out.contains(flag) {
            out = out.replace(flag, "");
        }
    }
    Cow::Owned(out.trim().to_string())
}

pub fn state_is_leaked(state: &str) -> bool {
    (state.contains('(') && state.contains("(leaked)")) || normalize_state(state) == "leaked"
}

fn kind_from_state(state: &str) -> BlockKind {
    match &*normalize_state(state) {
        "chan send" => BlockKind::ChanSend,
        "chan receive" => BlockKind::ChanRecv,
        "select" => BlockKind::Select,
        "chan send (nil chan)" | "chan receive (nil chan)" | "select (no cases)" | "leaked" => BlockKind::Forever,
        "sync.Mutex.Lock" | "sync.RWMutex.Lock" | "sync.RWMutex.RLock" => BlockKind::Mutex,
        "sync.WaitGroup.Wait" => BlockKind::WaitGroup,
        "sync.Cond.Wait" => BlockKind::Cond,
        "semacquire" => BlockKind::Sema,
        _ => BlockKind::NotBlocked,
    }
}

/// Kind from the innermost frames (proto keeps runtime frames; debug=1 hides the leading ones).
fn kind_from_frames(frames: &[Frame]) -> BlockKind {
    let Some(first) = frames.first() else {
        return BlockKind::NotBlocked;
    };
    let mut saw_runtime = false;
    for f in frames {
        let name = f.function.as_str();
        let k = match name {
            "runtime.chansend" | "runtime.chansend1" => Some(BlockKind::ChanSend),
            "runtime.chanrecv" | "runtime.chanrecv1" | "runtime.chanrecv2" => Some(BlockKind::ChanRecv),
            "runtime.selectgo" => Some(BlockKind::Select),
            "runtime.block" => Some(BlockKind::Forever),
            "sync.runtime_SemacquireWaitGroup" => Some(BlockKind::WaitGroup),
            "sync.runtime_notifyListWait" => Some(BlockKind::Cond),
            "sync.runtime_Semacquire" => Some(BlockKind::Sema),
            "internal/poll.runtime_pollWait" | "time.Sleep" => Some(BlockKind::NotBlocked),
            _ if name.ends_with("runtime_SemacquireMutex")
                || name.ends_with("runtime_SemacquireRWMutex")
                || name.ends_with("runtime_SemacquireRWMutexR") =>
            {
                Some(BlockKind::Mutex)
            }
            _ if name.starts_with("runtime/pprof.") || name.starts_with("syscall.") => Some(BlockKind::NotBlocked),
            _ => None,
        };
        if let Some(k) = k {
            return k;
        }
        if f.is_runtime() {
            saw_runtime = true;
            continue;
        }
        break;
    }
    if saw_runtime || first.is_runtime() {
        // Parked by the runtime for a reason we do not track (GC workers, timers, netpoll...).
        BlockKind::NotBlocked
    } else {
        BlockKind::ParkedUnknown
    }
}

/// What the group waits on: the runtime's wait reason when the format has it, else the frames.
pub fn block_kind(group: &Group<'_>) -> BlockKind {
    block_kind_of(group.state(), group.frames())
}

/// [`block_kind`] from the wait reason (debug=2) or else the frames.
pub fn block_kind_of(state: Option<&str>, frames: &[Frame]) -> BlockKind {
    match state {
        Some(state) => kind_from_state(state),
        None => kind_from_frames(frames),
    }
}

/// Top-level packages of the Go standard library (first element of the import path).
const STDLIB_ROOTS: &[&str] = &[
    "archive",
    "bufio",
    "builtin",
    "bytes",
    "cmp",
    "compress",
    "container",
    "context",
    "crypto",
    "database",
    "debug",
    "embed",
    "encoding",
    "errors",
    "expvar",
    "flag",
    "fmt",
    "go",
    "hash",
    "html",
    "image",
    "index",
    "internal",
    "io",
    "iter",
    "log",
    "maps",
    "math",
    "mime",
    "net",
    "os",
    "path",
    "plugin",
    "reflect",
    "regexp",
    "runtime",
    "slices",
    "sort",
    "strconv",
    "strings",
    "structs",
    "sync",
    "syscall",
    "testing",
    "text",
    "time",
    "unicode",
    "unique",
    "unsafe",
    "vendor",
    "weak",
];

/// Import path of a Go symbol: `net/http.(*Transport).dialConn` → `net/http`.
pub fn package_of(function: &str) -> &str {
    let slash = function.rfind('/').map(|i| i + 1).unwrap_or(0);
    match function[slash..].find('.') {
        Some(dot) => &function[..slash + dot],
        None => function,
    }
}

/// Standard-library code (not `main`, not a module path with a dot).
pub fn is_stdlib(function: &str) -> bool {
    let pkg = package_of(function);
    let root = pkg.split('/').next().unwrap_or(pkg);
    STDLIB_ROOTS.contains(&root)
}

/// Stdlib frames that only wrap a wait (locks, semaphores, poller, sleep): never the site itself.
fn is_wait_wrapper(function: &str) -> bool {
    let pkg = package_of(function);
    matches!(pkg, "sync" | "time" | "runtime" | "context") || pkg.starts_with("internal/")
}

/// The blocking site: the first frame outside the runtime that is user code; when every frame is
/// stdlib (HTTP keep-alive loops...), the first stdlib frame that is more than a wait wrapper.
/// Returns the frame and whether the site is stdlib-owned.
pub fn site_frame(frames: &[Frame]) -> Option<(&Frame, bool)> {
    if let Some(f) = frames.iter().find(|f| !f.is_runtime() && !is_stdlib(&f.function)) {
        return Some((f, false));
    }
    frames
        .iter()
        .find(|f| !f.is_runtime() && !is_wait_wrapper(&f.function))
        .or_else(|| frames.iter().find(|f| !f.is_runtime()))
        .or_else(|| frames.first())
        .map(|f| (f, true))
}

/// One generic function is one site in every format: debug=1/2 print its type arguments as `[...]`,
/// the proto names each shape instantiation (`Typed[go.shape.string]`, `Typed[go.shape.struct {...}]`).
/// Every bracketed type-argument list becomes `[...]`.
pub fn normalize_function(function: &str) -> String {
    if !function.contains('[') {
        return function.to_string();
    }
    let mut out = String::with_capacity(function.len());
    let mut depth = 0usize;
    for c in function.chars() {
        match c {
            '[' => {
                if depth == 0 {
                    out.push_str("[...]");
                }
                depth += 1;
            }
            ']' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// Stable id of a site, used as a compact key in history: FNV-1a of `function@line`.
pub fn site_hash(function: &str, line: u32) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in function.bytes().chain(b"@".iter().copied()).chain(line.to_string().bytes()) {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// Index of `runtime.Goexit` when something above it (a deferred call) is not the runtime:
/// a goroutine stuck in a deferred function that Goexit ran.
pub fn goexit_index(frames: &[Frame]) -> Option<usize> {
    let idx = frames.iter().position(|f| f.function == "runtime.Goexit")?;
    frames[..idx].iter().any(|f| !f.is_runtime()).then_some(idx)
}

/// Goroutines of one profile aggregated by blocking site.
#[derive(Clone, Debug, PartialEq)]
pub struct Site {
    pub function: String,
    pub file: String,
    pub line: u32,
    pub hash: u32,
    /// Most common kind among the site's goroutines.
    pub kind: BlockKind,
    pub count: u64,
    /// Wait reasons as printed (normalized), when the format has them.
    pub states: BTreeSet<String>,
    pub wait_minutes_max: Option<u64>,
    /// Every goroutine at the site printed wait minutes (debug=2).
    pub minutes_all: bool,
    /// Goroutines marked leaked by the runtime.
    pub leaked: u64,
    /// Most common creator, with its goroutine count.
    pub created_by: Option<Frame>,
    /// Distinct parent goroutine ids seen (debug=2): many parents = spawned per request.
    pub parents: BTreeSet<u64>,
    pub stdlib_owned: bool,
    /// Frames of the largest group (innermost first), shared with it.
    pub frames: Stack,
    /// For Goexit stacks: the function that called `runtime.Goexit`.
    pub goexit_caller: Option<Frame>,
    pub labels: Labels,
}

impl Site {
    pub fn location(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }
}

/// Aggregate the blocked groups of a profile by site, largest first.
pub fn blocked_sites(profile: &GoroutineProfile) -> Vec<Site> {
    sites_where(profile, |g| block_kind(g).is_blocked() || g.leaked())
}

/// Aggregate every group of a profile (e.g. the goroutineleak profile) by site, largest first.
pub fn all_sites(profile: &GoroutineProfile) -> Vec<Site> {
    sites_where(profile, |_| true)
}

pub fn sites_where(profile: &GoroutineProfile, keep: impl Fn(&Group<'_>) -> bool) -> Vec<Site> {
    struct Acc {
        site: Site,
        kinds: BTreeMap<BlockKind, u64>,
        creators: BTreeMap<Frame, u64>,
        biggest: u64,
    }
    let mut acc: BTreeMap<(String, String, u32), Acc> = BTreeMap::new();
    for g in profile.groups.iter().filter(|g| g.count() > 0 && keep(g)) {
        let all = g.frames();
        let (frames, goexit_caller) = match goexit_index(all) {
            // The site is the blocked deferred call above Goexit.
            Some(i) => (all.get(..i).unwrap_or_default(), all.get(i + 1).cloned()),
            None => (all.as_slice(), None),
        };
        let Some((frame, stdlib_owned)) = site_frame(frames) else {
            continue;
        };
        let function = normalize_function(&frame.function);
        let key = (function.clone(), frame.file.to_string(), frame.line);
        let a = acc.entry(key).or_insert_with(|| Acc {
            site: Site {
                hash: site_hash(&function, frame.line),
                function,
                file: frame.file.to_string(),
                line: frame.line,
                kind: BlockKind::NotBlocked,
                count: 0,
                states: BTreeSet::new(),
                wait_minutes_max: None,
                minutes_all: true,
                leaked: 0,
                created_by: None,
                parents: BTreeSet::new(),
                stdlib_owned,
                frames: Stack::default(),
                goexit_caller: None,
                labels: Labels::default(),
            },
            kinds: BTreeMap::new(),
            creators: BTreeMap::new(),
            biggest: 0,
        });
        let s = &mut a.site;
        let count = g.count();
        s.count += count;
        let kind = block_kind(&g);
        *a.kinds.entry(kind).or_default() += count;
        if let Some(st) = g.state() {
            let st = normalize_state(st);
            if !s.states.contains(&*st) {
                s.states.insert(st.into_owned());
            }
        }
        if let Some(w) = g.wait_minutes_max() {
            s.wait_minutes_max = Some(s.wait_minutes_max.map_or(w, |m| m.max(w)));
        }
        s.minutes_all &= g.wait_minutes_min().unwrap_or(0) >= 1;
        if g.leaked() || g.state().is_some_and(state_is_leaked) {
            s.leaked += count;
        }
        if let Some(c) = g.created_by() {
            *a.creators.entry(c.clone()).or_default() += count;
        }
        if let Some(p) = g.parent_goid() {
            s.parents.insert(p);
        }
        if count > a.biggest {
            a.biggest = count;
            s.frames = g.frames().clone();
            s.labels = g.labels();
            if goexit_caller.is_some() {
                s.goexit_caller = goexit_caller;
            }
        } else if s.goexit_caller.is_none() {
            s.goexit_caller = goexit_caller;
        }
    }
    let mut out: Vec<Site> = acc
        .into_values()
        .map(|mut a| {
            // A blocked kind wins over NotBlocked when the site mixes both (e.g. leaked + unknown).
            a.site.kind = a
                .kinds
                .iter()
                .filter(|(k, _)| k.is_blocked())
                .max_by_key(|(_, n)| **n)
                .or_else(|| a.kinds.iter().max_by_key(|(_, n)| **n))
                .map(|(k, _)| *k)
                .unwrap_or(BlockKind::NotBlocked);
            if a.site.leaked > 0 && !a.site.kind.is_blocked() {
                a.site.kind = BlockKind::Forever;
            }
            a.site.created_by = a.creators.into_iter().max_by_key(|(_, n)| *n).map(|(f, _)| f);
            a.site
        })
        .collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.function.cmp(&b.function)));
    out
}

/// Least-squares fit over (x, y): slope and Pearson r (None with fewer than 2 distinct x).
pub fn linear_fit(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    let n = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let syy: f64 = points.iter().map(|p| (p.1 - my).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    if sxx <= f64::EPSILON {
        return None;
    }
    let slope = sxy / sxx;
    // A flat series fits perfectly: r is 1 only if there is variance to explain.
    let r = if syy <= f64::EPSILON { 0.0 } else { sxy / (sxx * syy).sqrt() };
    Some((slope, r))
}

#[cfg(test)]
mod tests {
    use super::*;
    use gohealth_pprof::model::GoroutineGroup;

    fn kind(g: &GoroutineGroup) -> BlockKind {
        block_kind_of(g.state.as_deref(), &g.frames)
    }

    fn g(state: Option<&str>, count: u64, frames: &[(&str, u32)]) -> GoroutineGroup {
        GoroutineGroup {
            count,
            state: state.map(str::to_string),
            frames: frames.iter().map(|(f, l)| Frame::new(*f, "x.go", *l)).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn stdlib_detection() {
        assert!(is_stdlib("net/http.(*persistConn).writeLoop"));
        assert!(is_stdlib("sync.(*WaitGroup).Wait"));
        assert!(is_stdlib("internal/sync.(*HashTrieMap[...]).Swap"));
        assert!(!is_stdlib("main.pollLoop"));
        assert!(!is_stdlib("gohealth.dev/x/pkg.(*T).run.func1"));
        assert!(!is_stdlib("golang.org/x/net/http2.(*ClientConn).readLoop"));
        assert_eq!(package_of("net/http.(*Transport).dialConn"), "net/http");
        assert_eq!(package_of("gohealth.dev/x/pkg.F"), "gohealth.dev/x/pkg");
    }

    #[test]
    fn kinds_from_state_and_frames() {
        assert_eq!(kind(&g(Some("chan send (leaked)"), 1, &[])), BlockKind::ChanSend);
        assert_eq!(kind(&g(Some("chan receive labels:{\"a\": \"b\"}"), 1, &[])), BlockKind::ChanRecv);
        assert_eq!(kind(&g(Some("IO wait"), 1, &[])), BlockKind::NotBlocked);
        assert_eq!(kind(&g(Some("select (no cases)"), 1, &[])), BlockKind::Forever);
        assert_eq!(kind(&g(Some("semacquire"), 1, &[])), BlockKind::Sema);
        let proto =
            g(None, 3, &[("runtime.gopark", 1), ("runtime.chansend", 2), ("runtime.chansend1", 3), ("main.f", 4)]);
        assert_eq!(kind(&proto), BlockKind::ChanSend);
        let d1_user = g(None, 3, &[("main.f", 4)]);
        assert_eq!(kind(&d1_user), BlockKind::ParkedUnknown);
        let d1_mutex =
            g(None, 1, &[("internal/sync.runtime_SemacquireMutex", 1), ("sync.(*Mutex).Lock", 2), ("main.f", 3)]);
        assert_eq!(kind(&d1_mutex), BlockKind::Mutex);
        let io = g(None, 1, &[("internal/poll.runtime_pollWait", 1), ("net.(*conn).Read", 2)]);
        assert_eq!(kind(&io), BlockKind::NotBlocked);
        let gc = g(None, 1, &[("runtime.gopark", 1), ("runtime.gcBgMarkWorker", 2)]);
        assert_eq!(kind(&gc), BlockKind::NotBlocked);
        assert_eq!(kind(&g(None, 1, &[])), BlockKind::NotBlocked);
    }

    #[test]
    fn site_is_first_user_frame_else_stdlib_loop() {
        let frames = vec![
            Frame::new("sync.runtime_SemacquireWaitGroup", "runtime/sema.go", 114),
            Frame::new("sync.(*WaitGroup).Wait", "sync/waitgroup.go", 206),
            Frame::new("main.cleanupAfterExit", "main.go", 27),
        ];
        let (f, stdlib) = site_frame(&frames).unwrap();
        assert_eq!((f.function.as_str(), stdlib), ("main.cleanupAfterExit", false));
        let http = vec![
            Frame::new("runtime.gopark", "runtime/proc.go", 1),
            Frame::new("runtime.selectgo", "runtime/select.go", 2),
            Frame::new("net/http.(*persistConn).writeLoop", "net/http/transport.go", 2668),
        ];
        let (f, stdlib) = site_frame(&http).unwrap();
        assert_eq!(f.function, "net/http.(*persistConn).writeLoop");
        assert!(stdlib);
    }

    #[test]
    fn goexit_stack_site_and_caller() {
        let p = GoroutineProfile {
            total: 5,
            groups: vec![GoroutineGroup {
                count: 5,
                state: Some("sync.WaitGroup.Wait".into()),
                frames: vec![
                    Frame::new("sync.runtime_SemacquireWaitGroup", "runtime/sema.go", 114),
                    Frame::new("sync.(*WaitGroup).Wait", "sync/waitgroup.go", 206),
                    Frame::new("main.cleanupAfterExit", "main.go", 27),
                    Frame::new("runtime.Goexit", "runtime/panic.go", 694),
                    Frame::new("main.abortWithGoexit", "main.go", 32),
                    Frame::new("main.workerWithGoexit", "main.go", 45),
                ]
                .into(),
                ..Default::default()
            }]
            .into(),
            leak_profile: false,
        };
        let sites = blocked_sites(&p);
        assert_eq!(sites.len(), 1);
        assert_eq!(sites[0].function, "main.cleanupAfterExit");
        assert_eq!(sites[0].kind, BlockKind::WaitGroup);
        assert_eq!(sites[0].goexit_caller.as_ref().map(|f| f.function.as_str()), Some("main.abortWithGoexit"));
        // Goexit at the top (running its own code) is not "stuck after Goexit".
        let top = vec![Frame::new("runtime.Goexit", "p.go", 1), Frame::new("main.f", "m.go", 2)];
        assert_eq!(goexit_index(&top), None);
    }

    #[test]
    fn linear_fit_slope_and_r() {
        let (slope, r) = linear_fit(&[(0.0, 1.0), (1.0, 3.0), (2.0, 5.0)]).unwrap();
        assert!((slope - 2.0).abs() < 1e-9 && (r - 1.0).abs() < 1e-9);
        let (slope, r) = linear_fit(&[(0.0, 7.0), (1.0, 7.0), (2.0, 7.0)]).unwrap();
        assert_eq!((slope, r), (0.0, 0.0));
        assert!(linear_fit(&[(1.0, 1.0)]).is_none());
    }

    #[test]
    fn generic_shapes_are_one_site() {
        let d1 = "k8s.io/client-go/util/workqueue.(*Typed[...]).Get";
        assert_eq!(normalize_function(d1), d1);
        assert_eq!(normalize_function("k8s.io/client-go/util/workqueue.(*Typed[go.shape.string]).Get"), d1);
        assert_eq!(normalize_function("p.F[go.shape.struct { A []uint8; B map[string]int }].func1"), "p.F[...].func1");
        assert_eq!(normalize_function("main.f"), "main.f");
        let group = |name: &str, n| GoroutineGroup {
            count: n,
            state: Some("sync.Cond.Wait".into()),
            frames: vec![Frame::new(name, "queue.go", 286)].into(),
            ..Default::default()
        };
        let p = GoroutineProfile {
            total: 5,
            groups: vec![group("q.(*Typed[go.shape.string]).Get", 3), group("q.(*Typed[go.shape.int]).Get", 2)].into(),
            leak_profile: false,
        };
        let sites = blocked_sites(&p);
        assert_eq!(sites.len(), 1);
        assert_eq!((sites[0].function.as_str(), sites[0].count), ("q.(*Typed[...]).Get", 5));
    }

    #[test]
    fn site_hash_is_stable() {
        assert_eq!(site_hash("main.pollLoop", 26), site_hash("main.pollLoop", 26));
        assert_ne!(site_hash("main.pollLoop", 26), site_hash("main.pollLoop", 27));
    }
}
