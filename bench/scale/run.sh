#!/usr/bin/env bash
# Scale benchmark (not part of make test): one operator (release build) auditing N pods at once, at
# N = 1,000, 5,000 and 10,000 (SCALE_STEPS), with a 2-pod audit beside the big one.
#
# Usage: bench/scale/run.sh [OUT_DIR]        (root not needed; about 15 minutes on 2 cores)
# Env:   GOHEALTH_BIN (default target/release/gohealth, built or brought up to date), SCALE_STEPS ("1000 5000 10000"),
#        SCALE_INTERVAL (the big audit's interval, default 60s), SCALE_ROUNDS (audits measured per step, 2),
#        SCALE_SERVE (replay, the default, or fleet), SCALE_MIX (replay's -mix, default its own),
#        SCALE_STEP (replay's -step: time per capture round, default 30s), SCALE_HOSTILE=0 (replay: no hostile pods),
#        SCALE_FULL_DUMP_MAX_AGE (the big audit's spec.checks.fullDumpMaxAge, default 30m; 0s: a dump every audit).
#
# The pods are Pod objects on a local apiserver (e2e/controlplane) marked Running with loopback IPs
# 127.1.x.y (bench/scale/pods.py); no kubelet runs them. Behind every IP, on 0.0.0.0, 98 % of the pods
# are served by bench/scale/replay (SCALE_SERVE=replay): captured profiles of real programs
# (crates/core/fixtures/{realworld,diagnose}), held in memory and chosen per pod IP, a few of them huge
# (karpenter) and a few leaking, whose rounds advance with time so history checks fire. With
# SCALE_SERVE=fleet, live fleet programs serve them instead, as in the first runs: healthy (96 %) and
# leaky with a slow leak (2 %). Either way, two hostile fleet programs serve 1 % each, one dripping its
# body slowly, one answering 500. The big audit's pods belong to one Deployment (owner references), as
# 10,000 replicas of one service would.
#
# Printed per step: audit wall time (the operator's own "audit complete" seconds, median of the rounds),
# operator CPU seconds per audit and per target, peak (VmHWM) and steady RSS, apiserver requests per audit
# (apiserver_request_total over the rounds, divided by the audits in them: nothing else talks to this
# apiserver; the small audit's requests included), status bytes, gohealth_* metric series, the small
# audit's time beside the big one (median of those that ran entirely inside a big audit) against alone,
# and the 1-minute load average, then the serving mode and the CPU seconds per audit of every program
# serving the pods (replay or fleet, hostile ones included), and the goroutine?debug=2 dumps taken per audit. Idle RSS is measured before any audit exists.
set -euo pipefail

# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
bench_setup scale "${1:-}"
STEPS="${SCALE_STEPS:-1000 5000 10000}"
INTERVAL="${SCALE_INTERVAL:-60s}"
ROUNDS="${SCALE_ROUNDS:-2}"
SERVE="${SCALE_SERVE:-replay}"
case "$SERVE" in
replay) (cd "$ROOT/bench/scale/replay" && GOTOOLCHAIN=local nice -n 10 go build -o "$OUT/replay" .) ;;
fleet) ;;
*) log "SCALE_SERVE must be replay or fleet, not $SERVE"; exit 2 ;;
esac

# The apiserver must not throttle the benchmark's own pod creation.
bash "$ROOT/e2e/controlplane/start.sh" "$STATE" --max-requests-inflight=800 --max-mutating-requests-inflight=400 >/dev/null
# shellcheck disable=SC1091
source "$STATE/env"
export KUBECONFIG="$STATE/kubeconfig"
kubectl apply --server-side -f "$ROOT/crds/" >/dev/null
for c in "$ROOT"/crds/*.yaml; do kubectl wait --for=condition=Established -f "$c" --timeout=60s >/dev/null; done
kubectl create namespace scale >/dev/null
kubectl -n scale create serviceaccount default >/dev/null 2>&1 || true

program() { # binary args... -> port (listening on every address, so every 127.x.y.z reaches it)
    local bin="$1"
    shift
    local pf
    pf="$OUT/$(basename "$bin")-$RANDOM.port"
    nice -n 5 "$bin" -addr "0.0.0.0:0" -port-file "$pf" "$@" >"$pf.log" 2>&1 &
    echo $! >>"$PIDFILE"
    echo $! >>"$OUT/servers.pids"
    for _ in $(seq 200); do [[ -s "$pf" ]] && break; sleep 0.05; done
    cat "$pf"
}
DRIP=$(program "$FLEET/hostile" -mode drip)
FAIL=$(program "$FLEET/hostile" -mode status500)
if [[ $SERVE == replay ]]; then
    REPLAY=$(program "$OUT/replay" -fixtures "$ROOT/crates/core/fixtures" -step "${SCALE_STEP:-30s}" ${SCALE_MIX:+-mix "$SCALE_MIX"})
    [[ -n $REPLAY ]] || { log "replay did not start; see $OUT/replay-*.port.log"; exit 1; }
    HEALTHY=$REPLAY
    # SCALE_HOSTILE=0: replay serves every pod (to measure what the hostile targets cost).
    if [[ ${SCALE_HOSTILE:-1} == 0 ]]; then PORTS=$REPLAY; else
        PORTS="$(python3 -c "print(','.join(['$REPLAY'] * 98 + ['$DRIP', '$FAIL']))")"
    fi
else
    HEALTHY=$(program "$FLEET/healthy")
    LEAKY=$(program "$FLEET/leaky" -rate 1 -wait-rate 0)
    PORTS="$(python3 -c "print(','.join(['$HEALTHY'] * 96 + ['$LEAKY'] * 2 + ['$DRIP', '$FAIL']))")"
fi
log "pods served by $SERVE"
pods() { python3 "$ROOT/bench/scale/pods.py" "$APISERVER_URL" "$STATE/pki/admin.token" "$STATE/pki/ca.crt" scale "$@"; }

# The operator first, alone: idle RSS.
read -r METRICS_PORT < <(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
nice -n 5 env ${SCALE_ENV:-} "$OUT/gohealth" run --metrics-addr "127.0.0.1:$METRICS_PORT" --log-format json >"$OUT/operator.log" 2>&1 &
OP=$!
echo "$OP" >>"$PIDFILE"
sleep 15
idle_rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$OP/status")
log "idle operator RSS $((idle_rss / 1024)) MiB"

audit() { # name label interval
    kubectl apply -f - >/dev/null <<EOF
apiVersion: gohealth.dev/v1alpha1
kind: GoHealthAudit
metadata: {name: $1, namespace: scale}
spec:
  selector: {matchLabels: {scale: "$2"}}
  interval: $3
  pprof: {timeout: 5s}
  checks: {fullDumpMaxAge: ${SCALE_FULL_DUMP_MAX_AGE:-30m}}
EOF
}
completions() { # audit name -> "targets seconds dumps deferred" per completed audit, in order
    python3 - "$OUT/operator.log" "scale/$1" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    f = e.get("fields", e)
    if f.get("message") == "audit complete" and f.get("audit") == sys.argv[2]:
        print(f.get("targets"), f.get("seconds"), f.get("full_dumps", 0), f.get("full_dumps_deferred", 0))
PY
}
beside() { # N: median seconds of the small audits that ran while a big audit of N targets was running ("nan": none did)
    python3 - "$OUT/operator.log" "$1" <<'PY'
import datetime, json, re, statistics, sys
runs = {"scale/big": [], "scale/small": []}
for line in open(sys.argv[1]):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    f = e.get("fields", e)
    if f.get("message") != "audit complete" or f.get("audit") not in runs:
        continue
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?", e.get("timestamp", ""))
    if not m:
        continue
    end = datetime.datetime.fromisoformat(m.group(1) + "+00:00").timestamp() + float(m.group(2) or 0)
    runs[f["audit"]].append((f.get("targets"), end - float(f["seconds"]), end, float(f["seconds"])))
big = [(s, e) for n, s, e, _ in runs["scale/big"] if n == int(sys.argv[2])]
during = [d for n, s, e, d in runs["scale/small"] if n == 2 and any(bs <= s and e <= be for bs, be in big)]
print(f"{statistics.median(during):.3f} {len(during)}" if during else "nan 0")
PY
}
wait_audits() { # name count targets: wait until COUNT audits of NAME with TARGETS targets completed
    local n=0
    for _ in $(seq 3600); do
        n=$(completions "$1" | awk -v t="$3" '$1 == t' | wc -l)
        [[ $n -ge $2 ]] && return 0
        kill -0 "$OP" 2>/dev/null || { log "operator exited; see $OUT/operator.log"; exit 1; }
        sleep 1
    done
    log "timed out waiting for $2 audits of $1 with $3 targets (have $n)"
    exit 1
}
cpu_s() { awk '{print ($14 + $15) / 100}' "/proc/$OP/stat"; }
serve_cpu_s() { # CPU seconds of the programs serving the pods
    local p t=0
    while read -r p; do
        t=$(awk -v t="$t" '{print t + ($14 + $15) / 100}' "/proc/$p/stat")
    done <"$OUT/servers.pids"
    echo "$t"
}
requests() { kubectl get --raw /metrics | awk '/^apiserver_request_total\{/ {s += $NF} END {print s}'; }

# The small audit alone.
pods small 900000 2 "$HEALTHY"
audit small small 10s
wait_audits small 3 2
small_alone=$(completions small | awk '$1 == 2 {print $2}' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
log "small audit alone: ${small_alone}s"

audit big big "$INTERVAL"
have=0
echo "n,audit_s,cpu_s_per_audit,cpu_ms_per_target,peak_rss_mib,steady_rss_mib,api_requests_per_audit,status_bytes,metric_series,small_beside_s,small_beside_audits,small_alone_s,threads,fds,load1,serve,serve_cpu_s_per_audit,dumps_per_audit" >"$OUT/results.csv"
for n in $STEPS; do
    t0=$(date +%s)
    pods big "$have" "$((n - have))" "$PORTS" web
    have=$n
    log "$n pods in $(($(date +%s) - t0))s; waiting for the first audit of all of them"
    wait_audits big 1 "$n"
    before=$(completions big | awk -v t="$n" '$1 == t' | wc -l)
    c0=$(cpu_s)
    s0=$(serve_cpu_s)
    r0=$(requests)
    wait_audits big $((before + ROUNDS)) "$n"
    c1=$(cpu_s)
    s1=$(serve_cpu_s)
    r1=$(requests)
    secs=$(completions big | awk -v t="$n" '$1 == t {print $2}' | tail -n "$ROUNDS" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    # debug=2 dumps taken per audit over the window (the rest were deferred: fullDumpMaxAge).
    dumps=$(completions big | awk -v t="$n" '$1 == t {print $3}' | tail -n "$ROUNDS" | awk '{s += $1} END {printf "%.0f", s / NR}')
    # Only the small audits that ran entirely inside a big one count as beside it.
    read -r small_beside small_beside_n < <(beside "$n")
    peak=$(awk '/^VmHWM:/ {print $2}' "/proc/$OP/status")
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$OP/status")
    status_bytes=$(kubectl -n scale get gha big -o json | python3 -c 'import json,sys; print(len(json.dumps(json.load(sys.stdin)["status"], separators=(",", ":"))))')
    series=$(curl -s "http://127.0.0.1:$METRICS_PORT/metrics" | grep -c '^gohealth_' || true)
    threads=$(awk '/^Threads:/ {print $2}' "/proc/$OP/status")
    fds=$(find "/proc/$OP/fd" -mindepth 1 -maxdepth 1 | wc -l)
    # CPU and requests over the window; the small audit's share (2 targets every 10 s) is included.
    load1=$(cut -d' ' -f1 /proc/loadavg)
    python3 - "$n" "$secs" "$c0" "$c1" "$ROUNDS" "$peak" "$rss" "$r0" "$r1" "$status_bytes" "$series" "$small_beside" "$small_beside_n" "$small_alone" "$threads" "$fds" "$load1" "$SERVE" "$s0" "$s1" "$dumps" >>"$OUT/results.csv" <<'PY'
import sys
n, secs, c0, c1, rounds, peak, rss, r0, r1, sb, series, small, small_n, alone, threads, fds, load1, serve, s0, s1, dumps = sys.argv[1:]
n, rounds = int(n), int(rounds)
cpu = (float(c1) - float(c0)) / rounds
print(f"{n},{float(secs):.2f},{cpu:.2f},{cpu * 1000 / n:.2f},{int(peak) / 1024:.1f},{int(rss) / 1024:.1f},"
      f"{(float(r1) - float(r0)) / rounds:.0f},{sb},{series},{float(small):.3f},{small_n},{float(alone):.3f},{threads},{fds},{load1},"
      f"{serve},{(float(s1) - float(s0)) / rounds:.2f},{dumps}")
PY
    log "$(tail -n 1 "$OUT/results.csv")"
done
echo "idle_rss_mib,$((idle_rss / 1024))" >>"$OUT/results.csv"
if [[ $SERVE == replay ]]; then
    curl -s "http://127.0.0.1:$REPLAY/replay/stats" >"$OUT/replay-stats.txt" || true
fi
# Which checks fired on the last big audit (history checks need the leaking targets' growth).
kubectl -n scale get gha big -o json >"$OUT/big.json"
python3 - "$OUT/big.json" <<'PY' | while read -r l; do log "$l"; done
import collections, json, sys
found = json.load(open(sys.argv[1])).get("status", {}).get("findings", [])
c = collections.Counter((f.get("check"), f.get("confidence", "-")) for f in found)
print("findings of the last big audit: " + (", ".join(f"{k} ({conf}) {n}" for (k, conf), n in sorted(c.items())) or "none"))
PY
column -t -s, "$OUT/results.csv"
