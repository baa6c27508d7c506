//! Replicas sharing the work (`--sharding`) end to end: three real operator processes against one
//! apiserver split nine audits between them by their membership Leases, each audit audited by exactly
//! its owner; a replica killed (SIGKILL) in the middle of an audit loses nothing — its audits move to
//! the others once its Lease expires, with their history and findings; a replica that joins takes over
//! only its share, without a second audit of anything; one that leaves gracefully hands over at once.
#![cfg(feature = "e2e")]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

const NS: &str = "shard";
const INTERVAL_S: u64 = 10;
const LEASE_S: &str = "6";
const LEAK_SEND: &str = "main.fetchWithTimeout.func1";

/// One `audit starting` line of a replica's log.
#[derive(Debug, Clone)]
struct Start {
    replica: String,
    audit: String,
    at: jiff::Timestamp,
}

fn starts(replica: &str, log: &str) -> Vec<Start> {
    log.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["message"] == "audit starting")
        .filter_map(|v| {
            Some(Start {
                replica: replica.to_string(),
                audit: v["audit"].as_str()?.to_string(),
                at: v["timestamp"].as_str()?.parse().ok()?,
            })
        })
        .collect()
}

fn members(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn owner(key: &str, m: &[String]) -> String {
    gohealth::shard::owner(key, m).expect("an owner").to_string()
}

/// Consecutive audits of one key, by whichever replica, are an interval apart: a gap far below it is a
/// second replica auditing the same thing.
fn assert_no_double_audits(all: &[Start], ignore: &[&Start]) {
    let mut by_key: BTreeMap<&str, Vec<&Start>> = BTreeMap::new();
    for s in all {
        if !ignore.iter().any(|i| i.replica == s.replica && i.audit == s.audit && i.at == s.at) {
            by_key.entry(&s.audit).or_default().push(s);
        }
    }
    for (key, mut list) in by_key {
        list.sort_by_key(|s| s.at);
        for pair in list.windows(2) {
            let gap = pair[1].at.duration_since(pair[0].at).as_secs_f64();
            assert!(
                gap >= (INTERVAL_S as f64) * 0.6,
                "{key} audited twice {gap:.1}s apart: {} then {}",
                pair[0].replica,
                pair[1].replica
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_audits_and_lose_nothing_when_one_dies() {
    let cp = ControlPlane::start(&[]);
    let client = cp.client().await;
    install_crd(&client).await;
    ensure_namespace(&client, NS, &[]).await;

    // Eight pods behind one leaky program (pods are objects; their IPs may repeat), and one pod whose
    // target drips its body: the audit `slow` takes its whole 8 s timeout.
    let leaky = GoProgram::start("leaky", "127.0.0.91", &["-rate", "20"]);
    let drip = GoProgram::start("hostile", "127.0.0.92", &["-mode", "drip"]);
    let mut audits: Vec<String> = (0..8).map(|i| format!("shop-{i}")).collect();
    audits.push("slow".into());
    for name in &audits {
        let spec = PodSpec {
            namespace: NS,
            name: &format!("{name}-app"),
            labels: &[("audit", name)],
            annotations: &[],
            ip: "127.0.0.91",
            port: leaky.port,
            port_name: Some("pprof"),
        };
        create_pod(&client, &spec).await;
    }
    let spec = PodSpec {
        namespace: NS,
        name: "slow-drip",
        labels: &[("audit", "slow")],
        annotations: &[],
        ip: "127.0.0.92",
        port: drip.port,
        port_name: Some("pprof"),
    };
    create_pod(&client, &spec).await;
    for name in &audits {
        apply_audit(
            &client,
            NS,
            json!({
                "apiVersion": "gohealth.dev/v1alpha1", "kind": "GoHealthAudit",
                "metadata": {"name": name, "namespace": NS},
                "spec": {"selector": {"matchLabels": {"audit": name}}, "interval": format!("{INTERVAL_S}s"),
                         "pprof": {"timeout": "8s"}}
            }),
        )
        .await;
    }
    let keys: Vec<String> = audits.iter().map(|a| format!("{NS}/{a}")).collect();

    let start = |id: &str| {
        Operator::start_with_env(&cp.kubeconfig, &["--sharding", "--shard-lease-seconds", LEASE_S], &[("POD_NAME", id)])
    };
    let mut ops: BTreeMap<&str, Operator> = ["op-a", "op-b", "op-c"].into_iter().map(|id| (id, start(id))).collect();
    let three = members(&["op-a", "op-b", "op-c"]);

    // 1. The split: every audit audited, each by its owner only, every replica with a share.
    wait_for(Duration::from_secs(90), "every audit audited twice", || async {
        let all: Vec<Start> = ops.iter().flat_map(|(id, op)| starts(id, &op.log())).collect();
        keys.iter().all(|k| all.iter().filter(|s| s.audit == *k).count() >= 2).then_some(())
    })
    .await;
    let all: Vec<Start> = ops.iter().flat_map(|(id, op)| starts(id, &op.log())).collect();
    let mut share: BTreeMap<String, usize> = BTreeMap::new();
    for k in &keys {
        let by: BTreeSet<&str> = all.iter().filter(|s| s.audit == *k).map(|s| s.replica.as_str()).collect();
        assert_eq!(by, BTreeSet::from([owner(k, &three).as_str()]), "{k} audited by {by:?}");
        *share.entry(owner(k, &three)).or_default() += 1;
    }
    assert_eq!(share.len(), 3, "every replica audits something: {share:?}");
    assert_no_double_audits(&all, &[]);
    eprintln!("SHARD split over 3 replicas: {share:?}");

    // 2. The owner of `slow` is killed while it audits `slow`.
    let victim = owner(&format!("{NS}/slow"), &three);
    let survivors: Vec<String> = three.iter().filter(|m| **m != victim).cloned().collect();
    // The leak is named once the leaky program holds 100 senders (5 s at 20/s): the first audit can
    // come sooner, so wait for the finding the handover must keep.
    let before = wait_for_audit(&client, NS, "slow", Duration::from_secs(60), |o| leak_first_seen(o).is_some()).await;
    let samples_before = history_samples(&before, "slow-app");
    let first_seen = leak_first_seen(&before).expect("slow's leak finding before the kill");
    let audited_slow =
        starts(&victim, &ops[victim.as_str()].log()).iter().filter(|s| s.audit.ends_with("/slow")).count();
    wait_for(Duration::from_secs(30), "the victim to start auditing slow again", || async {
        let n = starts(&victim, &ops[victim.as_str()].log()).iter().filter(|s| s.audit.ends_with("/slow")).count();
        (n > audited_slow).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let killed_at = jiff::Timestamp::now();
    let killed = Instant::now();
    let mut dead = ops.remove(victim.as_str()).expect("victim");
    dead.kill();
    let dead_log = dead.log();
    let interrupted = starts(&victim, &dead_log).into_iter().rfind(|s| s.audit.ends_with("/slow")).expect("slow");
    let unfinished = get_audit(&client, NS, "slow").await;
    assert_eq!(unfinished["status"]["inProgress"]["replica"], victim.as_str(), "the mark names the dead replica");

    // Every audit the victim owned is audited again by its new owner, with its history and findings.
    let moved: Vec<&String> = keys.iter().filter(|k| owner(k, &three) == victim).collect();
    for k in &moved {
        let name = k.trim_start_matches(&format!("{NS}/"));
        wait_for_audit(&client, NS, name, Duration::from_secs(60), |o| {
            o["status"]["lastAuditTime"]
                .as_str()
                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                .is_some_and(|t| t > killed_at)
                && o["status"].get("inProgress").is_none_or(Value::is_null)
        })
        .await;
    }
    let took_over = killed.elapsed();
    let after = get_audit(&client, NS, "slow").await;
    assert!(
        history_samples(&after, "slow-app") > samples_before,
        "history kept and extended: {samples_before} -> {}",
        history_samples(&after, "slow-app")
    );
    assert_eq!(leak_first_seen(&after).as_deref(), Some(first_seen.as_str()), "firstSeen kept across the handover");
    let all: Vec<Start> = ops.iter().flat_map(|(id, op)| starts(id, &op.log())).collect();
    for k in &moved {
        let by: BTreeSet<&str> =
            all.iter().filter(|s| s.audit == **k && s.at > killed_at).map(|s| s.replica.as_str()).collect();
        assert_eq!(by, BTreeSet::from([owner(k, &survivors).as_str()]), "{k} after the kill: {by:?}");
    }
    let mut with_dead = all.clone();
    with_dead.extend(starts(&victim, &dead_log));
    assert_no_double_audits(&with_dead, &[&interrupted]);
    eprintln!(
        "SHARD killed {victim} mid-audit: {} audits moved, all audited again {:.1}s after the kill",
        moved.len(),
        took_over.as_secs_f64()
    );

    // 3. A replica joins: it takes its share, and nobody else audits that share from then on.
    let joined_at = jiff::Timestamp::now();
    ops.insert("op-d", start("op-d"));
    let mut with_d = survivors.clone();
    with_d.push("op-d".into());
    with_d.sort();
    let gained: Vec<&String> = keys.iter().filter(|k| owner(k, &with_d) == "op-d").collect();
    assert!(!gained.is_empty(), "op-d owns some of {keys:?}");
    wait_for(Duration::from_secs(60), "op-d audits its share", || async {
        let mine = starts("op-d", &ops["op-d"].log());
        gained.iter().all(|k| mine.iter().any(|s| s.audit == **k)).then_some(())
    })
    .await;
    // One more interval, so a replica that kept auditing op-d's share would show.
    tokio::time::sleep(Duration::from_secs(INTERVAL_S + 2)).await;
    let all: Vec<Start> = ops.iter().flat_map(|(id, op)| starts(id, &op.log())).collect();
    let settled = joined_at.checked_add(jiff::SignedDuration::from_secs(2)).expect("time");
    for k in &keys {
        let by: BTreeSet<&str> =
            all.iter().filter(|s| s.audit == *k && s.at > settled).map(|s| s.replica.as_str()).collect();
        assert!(by.len() <= 1 && by.iter().all(|r| *r == owner(k, &with_d)), "{k} after op-d joined: {by:?}");
    }
    let mut with_dead = all.clone();
    with_dead.extend(starts(&victim, &dead_log));
    assert_no_double_audits(&with_dead, &[&interrupted]);

    // 4. op-d leaves gracefully: its Lease is released, the others see it at once (not after expiry).
    let left = Instant::now();
    let code = ops.get_mut("op-d").expect("op-d").stop();
    assert_eq!(code, Some(0), "graceful stop: {}", ops["op-d"].log());
    assert!(ops["op-d"].log().contains("left the shard"), "{}", ops["op-d"].log());
    wait_for(Duration::from_secs(5), "the others to see op-d leave", || async {
        let a = ops[survivors[0].as_str()].log();
        a.lines().rev().find(|l| l.contains("shard members changed")).filter(|l| !l.contains("op-d")).map(|_| ())
    })
    .await;
    eprintln!(
        "SHARD op-d joined with {} audits and left; seen gone {:.1}s after SIGTERM",
        gained.len(),
        left.elapsed().as_secs_f64()
    );
    drop(leaky);
    drop(drip);
}

/// Samples kept in status.history for the target `pod`.
fn history_samples(obj: &Value, pod: &str) -> usize {
    obj["status"]["history"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|h| h["target"] == format!("{NS}/{pod}"))
        .and_then(|h| h["samples"].as_array().map(Vec::len))
        .unwrap_or(0)
}

fn leak_first_seen(obj: &Value) -> Option<String> {
    obj["status"]["findings"]
        .as_array()?
        .iter()
        .find(|f| f["check"] == "GoroutineLeak" && f["function"] == LEAK_SEND)
        .and_then(|f| f["firstSeen"].as_str().map(String::from))
}
