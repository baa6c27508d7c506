//! Several moments of the same targets read as history, so `analyze` can run the checks that a
//! single dump cannot (GoroutineGrowth, TickerLoopGrowth, a leak raised to "likely" by growth):
//! dumps of one target taken at different times, or the rounds of `--every`/`--count`.
//!
//! Pure: moments in, findings out. The caller decides where moments come from (files with their
//! times, or live scrapes).

use std::collections::BTreeMap;

use gohealth_core::diagnose::config::ChecksConfig;
use gohealth_core::diagnose::diagnose;
use gohealth_core::diagnose::history::{History, TargetHistoryRing};
use gohealth_core::finding::{Confidence, Finding, Severity, TargetRef};
use gohealth_core::snapshot::Snapshot;

/// Moments kept per target: the operator's default ring, enough for the trend window.
const CAPACITY: usize = 64;

/// The history of every target seen so far.
pub struct Series {
    history: History,
    checks: ChecksConfig,
}

impl Series {
    pub fn new(checks: ChecksConfig) -> Series {
        Series { history: History::new(usize::MAX, CAPACITY), checks }
    }

    /// Records `snapshot` (its `at` must be later than the target's previous one) and returns the
    /// findings of the checks over it and the target's history.
    pub fn observe(&mut self, target: &TargetRef, snapshot: &Snapshot) -> Vec<Finding> {
        let key = target.key();
        self.history.record(&key, snapshot);
        let empty = TargetHistoryRing::new(1);
        let ring = self.history.ring(&key).unwrap_or(&empty);
        diagnose(target, snapshot, ring, &self.checks)
    }

    /// Moments recorded for `target`.
    pub fn len(&self, target: &TargetRef) -> usize {
        self.history.ring(&target.key()).map_or(0, TargetHistoryRing::len)
    }
}

/// How a finding changed from one round to the next, for printing verdicts as they firm up.
#[derive(Clone, Debug, PartialEq)]
pub enum Change<'a> {
    New(&'a Finding),
    /// Same finding, higher confidence or severity than before.
    Firmer {
        was: (Severity, Option<Confidence>),
        now: &'a Finding,
    },
    Gone(&'a Finding),
}

/// What changed between two rounds (findings matched by their stable key).
pub fn changes<'a>(before: &'a [Finding], after: &'a [Finding]) -> Vec<Change<'a>> {
    let old: BTreeMap<String, &Finding> = before.iter().map(|f| (f.key(), f)).collect();
    let new: BTreeMap<String, &Finding> = after.iter().map(|f| (f.key(), f)).collect();
    let mut out = Vec::new();
    for f in after {
        match old.get(&f.key()) {
            None => out.push(Change::New(f)),
            Some(o) if (f.severity, f.confidence) > (o.severity, o.confidence) => {
                out.push(Change::Firmer { was: (o.severity, o.confidence), now: f })
            }
            Some(_) => {}
        }
    }
    out.extend(before.iter().filter(|f| !new.contains_key(&f.key())).map(Change::Gone));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use gohealth_core::finding::CheckId;
    use gohealth_pprof::parse_goroutine_debug2;

    fn dump(leaked: usize) -> String {
        let mut d = String::from("goroutine 1 [running]:\nmain.main()\n\t/app/main.go:10 +0x1\n\n");
        for i in 0..leaked {
            d.push_str(&format!(
                "goroutine {} [chan send]:\nmain.leak.func1()\n\t/app/main.go:47 +0x2\ncreated by main.leak in goroutine 1\n\t/app/main.go:46 +0x3\n\n",
                i + 2
            ));
        }
        d
    }

    fn snap(at: i64, leaked: usize) -> Snapshot {
        let g = parse_goroutine_debug2(dump(leaked).as_bytes()).unwrap();
        Snapshot { at, goroutines: Some(g.clone()), goroutines_full: Some(g), ..Default::default() }
    }

    #[test]
    fn growth_across_moments_is_what_one_dump_cannot_tell() {
        let target = TargetRef { namespace: "ns".into(), pod: "p".into(), container: None };
        let mut one = Series::new(ChecksConfig::default());
        let single = one.observe(&target, &snap(1_000, 400));
        assert!(single.iter().all(|f| f.check != CheckId::GoroutineGrowth));

        let mut s = Series::new(ChecksConfig::default());
        let mut last = Vec::new();
        for (i, n) in [100, 200, 300, 400].into_iter().enumerate() {
            last = s.observe(&target, &snap(1_000 + 20 * i as i64, n));
        }
        assert_eq!(s.len(&target), 4);
        assert!(
            last.iter().any(|f| f.check == CheckId::GoroutineGrowth),
            "4 moments 20 s apart, +100 each: growth is reported: {last:#?}"
        );
        let leak = last.iter().find(|f| f.check == CheckId::GoroutineLeak).expect("leak");
        let first = single.iter().find(|f| f.check == CheckId::GoroutineLeak).expect("leak in one dump");
        assert!(leak.confidence > first.confidence, "growth raises the leak above a single dump's verdict");
    }

    #[test]
    fn changes_report_new_firmer_and_gone() {
        let mut a = Finding::new(CheckId::GoroutineLeak, Severity::Warning, "m");
        a.confidence = Some(Confidence::Suspected);
        let mut a2 = a.clone();
        a2.confidence = Some(Confidence::Likely);
        let b = Finding::new(CheckId::LockContention, Severity::Warning, "c");
        let c = Finding::new(CheckId::GoroutineGrowth, Severity::Warning, "g");
        let before = vec![a.clone(), b.clone()];
        let after = vec![a2.clone(), c.clone()];
        let ch = changes(&before, &after);
        assert_eq!(
            ch,
            vec![
                Change::Firmer { was: (Severity::Warning, Some(Confidence::Suspected)), now: &after[0] },
                Change::New(&after[1]),
                Change::Gone(&before[1]),
            ]
        );
        assert!(changes(&after, &after).is_empty());
    }
}
