//! Who audits what, as pure functions over membership Leases and an audit's status.

use std::hash::Hasher;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;

use crate::crd::AuditInProgress;

/// A mark older than this is not trusted: no audit runs this long (bounded by its targets' timeouts),
/// so its replica died or lost the mark's removal.
pub const IN_PROGRESS_MAX_AGE: Duration = Duration::from_secs(15 * 60);

/// How soon to look again while another live replica still runs the audit.
pub const WAIT_FOR_PREVIOUS_OWNER: Duration = Duration::from_secs(5);

/// The member that owns `key` (highest random weight): stable while the members stay, and when one
/// leaves or joins only the audits it owned or now owns move. FNV-1a, not std's hasher, so replicas of
/// different builds agree during a rolling upgrade.
pub fn owner<'a>(key: &str, members: &'a [String]) -> Option<&'a str> {
    members.iter().max_by_key(|m| (weight(m, key), m.as_str())).map(String::as_str)
}

fn weight(member: &str, key: &str) -> u64 {
    let mut h = fnv::FnvHasher::default();
    h.write(member.as_bytes());
    h.write_u8(0);
    h.write(key.as_bytes());
    // FNV's low bits mix poorly for near-identical inputs: finish with a 64-bit avalanche (splitmix64).
    let mut z = h.finish().wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The holders of the membership Leases (named `prefix` + identity) that are still valid at `now`,
/// sorted and without duplicates. A released Lease has no holder; an expired one was not renewed.
pub fn live_members(leases: &[impl AsRef<Lease>], prefix: &str, now: jiff::Timestamp) -> Vec<String> {
    let mut members: Vec<String> = leases
        .iter()
        .map(AsRef::as_ref)
        .filter(|l| l.metadata.name.as_deref().is_some_and(|n| n.starts_with(prefix)))
        .filter_map(|l| {
            let spec = l.spec.as_ref()?;
            let holder = spec.holder_identity.as_ref().filter(|h| !h.is_empty())?;
            let expires = expiry(l)?;
            (expires > now).then(|| holder.clone())
        })
        .collect();
    members.sort();
    members.dedup();
    members
}

/// Membership Leases that nobody renewed for `after` (pods long gone): safe to delete.
pub fn stale_leases(leases: &[impl AsRef<Lease>], prefix: &str, now: jiff::Timestamp, after: Duration) -> Vec<String> {
    let Ok(after) = jiff::SignedDuration::try_from(after) else { return Vec::new() };
    leases
        .iter()
        .map(AsRef::as_ref)
        .filter_map(|l| {
            let name = l.metadata.name.as_deref().filter(|n| n.starts_with(prefix))?;
            let spec = l.spec.as_ref();
            let last = spec.and_then(|s| s.renew_time.as_ref().or(s.acquire_time.as_ref())).map(|t| t.0);
            // A released Lease keeps no times: its creation tells how old it is.
            let last = last.or_else(|| l.metadata.creation_timestamp.as_ref().map(|t| t.0))?;
            let idle = expiry(l).is_none_or(|e| e <= now) && now.duration_since(last) > after;
            idle.then(|| name.to_string())
        })
        .collect()
}

fn expiry(lease: &Lease) -> Option<jiff::Timestamp> {
    let spec = lease.spec.as_ref()?;
    let renewed = spec.renew_time.as_ref().or(spec.acquire_time.as_ref())?.0;
    let seconds = i64::from(spec.lease_duration_seconds?);
    renewed.checked_add(jiff::SignedDuration::from_secs(seconds)).ok()
}

/// What this replica does with an audit now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// Another member owns it (or this replica is not a member yet): keep nothing of it.
    NotMine,
    /// Ours, but the previous owner, still alive, is running it: look again later.
    Wait(Duration),
    Mine,
}

/// Whether `me` audits `key` among `members`, given the audit's in-progress mark.
pub fn turn(
    key: &str,
    me: &str,
    members: &[String],
    in_progress: Option<&AuditInProgress>,
    now: jiff::Timestamp,
) -> Turn {
    if owner(key, members) != Some(me) {
        return Turn::NotMine;
    }
    let Some(mark) = in_progress else { return Turn::Mine };
    let fresh = mark
        .since
        .parse::<jiff::Timestamp>()
        .is_ok_and(|since| now.duration_since(since).unsigned_abs() < IN_PROGRESS_MAX_AGE);
    let other_alive = mark.replica != me && members.contains(&mark.replica);
    if fresh && other_alive { Turn::Wait(WAIT_FOR_PREVIOUS_OWNER) } else { Turn::Mine }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::coordination::v1::LeaseSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};

    fn members(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn ts(s: &str) -> jiff::Timestamp {
        s.parse().unwrap()
    }

    fn lease(name: &str, holder: Option<&str>, renewed: Option<&str>, seconds: i32) -> Lease {
        Lease {
            metadata: ObjectMeta {
                name: Some(name.into()),
                creation_timestamp: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(ts(
                    "2026-01-01T00:00:00Z",
                ))),
                ..Default::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: holder.map(String::from),
                renew_time: renewed.map(|r| MicroTime(ts(r))),
                lease_duration_seconds: holder.map(|_| seconds),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn every_audit_has_exactly_one_owner_and_the_work_is_spread() {
        let m = members(&["gohealth-7c9-a", "gohealth-7c9-b", "gohealth-7c9-c"]);
        let mut per = std::collections::BTreeMap::<&str, usize>::new();
        for i in 0..3000 {
            *per.entry(owner(&format!("team-{}/audit-{i}", i % 17), &m).unwrap()).or_default() += 1;
        }
        assert_eq!(per.len(), 3);
        for (member, n) in &per {
            assert!((800..1200).contains(n), "{member} owns {n} of 3000");
        }
        assert_eq!(owner("x/y", &[]), None);
    }

    #[test]
    fn only_the_audits_of_a_leaving_or_joining_member_move() {
        let three = members(&["a", "b", "c"]);
        let two = members(&["a", "c"]);
        let keys: Vec<String> = (0..600).map(|i| format!("ns/audit-{i}")).collect();
        let mut moved = 0;
        for k in &keys {
            let before = owner(k, &three).unwrap();
            let after = owner(k, &two).unwrap();
            if before != "b" {
                assert_eq!(before, after, "{k} moved although its owner stayed");
            } else {
                moved += 1;
            }
        }
        assert!(moved > 100, "b owned {moved}");
        // Membership order does not matter.
        let shuffled = members(&["c", "a", "b"]);
        assert!(keys.iter().all(|k| owner(k, &three) == owner(k, &shuffled)));
    }

    #[test]
    fn live_members_are_the_renewed_holders_of_prefixed_leases() {
        let now = ts("2026-06-01T12:00:10Z");
        let leases: Vec<std::sync::Arc<Lease>> = [
            lease("gohealth-shard-a", Some("a"), Some("2026-06-01T12:00:00Z"), 15),
            lease("gohealth-shard-b", Some("b"), Some("2026-06-01T11:59:50Z"), 15), // expired at :05
            lease("gohealth-shard-c", None, None, 15),                              // released
            lease("gohealth-operator", Some("leader"), Some("2026-06-01T12:00:00Z"), 15), // other lease
            lease("gohealth-shard-a2", Some("a"), Some("2026-06-01T12:00:00Z"), 15), // same holder twice
        ]
        .into_iter()
        .map(std::sync::Arc::new)
        .collect();
        assert_eq!(live_members(&leases, "gohealth-shard-", now), vec!["a".to_string()]);
        let stale = stale_leases(&leases, "gohealth-shard-", ts("2026-06-01T12:30:00Z"), Duration::from_secs(600));
        assert_eq!(stale, vec!["gohealth-shard-a", "gohealth-shard-b", "gohealth-shard-c", "gohealth-shard-a2"]);
        // Within the ten minutes only the released one (created long before) may go.
        assert_eq!(stale_leases(&leases, "gohealth-shard-", now, Duration::from_secs(600)), vec!["gohealth-shard-c"]);
    }

    #[test]
    fn the_new_owner_waits_for_a_live_previous_owner_only() {
        let m = members(&["a", "b"]);
        let key = (0..).map(|i| format!("ns/a{i}")).find(|k| owner(k, &m) == Some("b")).unwrap();
        let now = ts("2026-06-01T12:00:00Z");
        let mark = |replica: &str, since: &str| AuditInProgress { replica: replica.into(), since: since.into() };
        assert_eq!(turn(&key, "a", &m, None, now), Turn::NotMine);
        assert_eq!(turn(&key, "b", &m, None, now), Turn::Mine);
        let running_on_a = mark("a", "2026-06-01T11:59:30Z");
        assert_eq!(turn(&key, "b", &m, Some(&running_on_a), now), Turn::Wait(WAIT_FOR_PREVIOUS_OWNER));
        // a died: its mark is ignored.
        assert_eq!(turn(&key, "b", &members(&["b"]), Some(&running_on_a), now), Turn::Mine);
        // b's own mark (b restarted with its name) and a mark too old to be true are ignored.
        assert_eq!(turn(&key, "b", &m, Some(&mark("b", "2026-06-01T11:59:30Z")), now), Turn::Mine);
        assert_eq!(turn(&key, "b", &m, Some(&mark("a", "2026-06-01T10:00:00Z")), now), Turn::Mine);
        assert_eq!(turn(&key, "b", &m, Some(&mark("a", "garbage")), now), Turn::Mine);
        // Not a member yet: nothing is ours.
        assert_eq!(turn(&key, "z", &m, None, now), Turn::NotMine);
    }
}
