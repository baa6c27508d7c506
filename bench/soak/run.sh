#!/usr/bin/env bash
# Soak: the operator audits a fleet of real Go programs plus the hostile pods every 30 s on a local
# control plane, while its RSS and open file descriptors are sampled into a CSV. Not part of CI.
#
# Usage: bench/soak/run.sh [OUT_DIR]
# Env:   SOAK_SECONDS   run length (default 3600)
#        SOAK_SAMPLE    seconds between samples (default 30)
#        GOHEALTH_BIN   operator binary (default: target/release/gohealth, built or brought up to date)
# Output: OUT_DIR/samples.csv (elapsed_s,rss_kib,fds,threads), OUT_DIR/operator.log, and the curve on stdout
# with the "flat after 10 min" verdict (max − min of RSS and fds over the samples after minute 10).
set -euo pipefail

# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
bench_setup soak "${1:-}"
SECONDS_TOTAL="${SOAK_SECONDS:-3600}"
SAMPLE="${SOAK_SAMPLE:-30}"
HOSTILE_KINDS="$(cd "$ROOT" && cargo run -q --release -p gohealth-pprof --example gen_hostile -- list)"
for kind in $HOSTILE_KINDS; do
    (cd "$ROOT" && cargo run -q --release -p gohealth-pprof --example gen_hostile -- "$kind" "$OUT/profile-$kind") 2>/dev/null
done

# Pids go to a file: `program` runs in a command substitution (a subshell), where an array would be lost.

bash "$ROOT/e2e/controlplane/start.sh" "$STATE" >/dev/null
export KUBECONFIG="$STATE/kubeconfig"
kubectl apply --server-side -f "$ROOT/crds/" >/dev/null
for c in "$ROOT"/crds/*.yaml; do
    kubectl wait --for=condition=Established -f "$c" --timeout=60s >/dev/null
done

# program NAME IP ARGS... : start a fleet program on IP, print its port
program() {
    local name="$1" ip="$2"
    shift 2
    local pf="$OUT/$name-$ip.port"
    rm -f "$pf"
    nice -n 5 "$FLEET/$name" -addr "$ip:0" -port-file "$pf" "$@" >"$OUT/$name-$ip.log" 2>&1 &
    echo $! >>"$PIDFILE"
    for _ in $(seq 200); do [[ -s "$pf" ]] && break; sleep 0.05; done
    cat "$pf"
}

# pod NS NAME IP PORT : a Pod object marked Running at IP, as a kubelet would
pod() {
    local ns="$1" name="$2" ip="$3" port="$4"
    kubectl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: $name, namespace: $ns, labels: {soak: "yes"}}
spec:
  containers: [{name: app, image: example.invalid/go-app:1, ports: [{name: pprof, containerPort: $port}]}]
EOF
    kubectl -n "$ns" patch pod "$name" --subresource=status --type=merge -p "{\"status\":{\"phase\":\"Running\",\
\"podIP\":\"$ip\",\"podIPs\":[{\"ip\":\"$ip\"}],\"hostIP\":\"127.0.0.1\",\"startTime\":\"2026-01-01T00:00:00Z\",\
\"containerStatuses\":[{\"name\":\"app\",\"image\":\"example.invalid/go-app:1\",\"imageID\":\"\",\"ready\":true,\
\"restartCount\":0,\"started\":true,\"state\":{\"running\":{\"startedAt\":\"2026-01-01T00:00:06Z\"}}}]}}" >/dev/null
}

kubectl create namespace soak >/dev/null
kubectl -n soak create serviceaccount default >/dev/null 2>&1 || true
n=0
for prog in healthy leaky ticker contention gcchurn goexit healthy leaky; do
    n=$((n + 1))
    ip="127.0.1.$n"
    pod soak "fleet-$n-$prog" "$ip" "$(program "$prog" "$ip")"
done
for mode in timeout html gzipbomb huge drip status500; do
    n=$((n + 1))
    ip="127.0.1.$n"
    extra=()
    [[ "$mode" == gzipbomb ]] && extra=(-bomb-gib 1)
    pod soak "hostile-$mode" "$ip" "$(program hostile "$ip" -mode "$mode" "${extra[@]}")"
done
for kind in $HOSTILE_KINDS; do
    n=$((n + 1))
    ip="127.0.1.$n"
    pod soak "hostile-$kind" "$ip" "$(program hostile "$ip" -mode file -file "$OUT/profile-$kind")"
done
kubectl apply -f - >/dev/null <<EOF
apiVersion: gohealth.dev/v1alpha1
kind: GoHealthAudit
metadata: {name: soak, namespace: soak}
spec:
  selector: {matchLabels: {soak: "yes"}}
  interval: 30s
  pprof: {timeout: 5s, maxBodyBytes: 16777216}
EOF

nice -n 5 "$OUT/gohealth" run --metrics-addr 127.0.0.1:0 --log-format text >"$OUT/operator.log" 2>&1 &
OP=$!
echo "$OP" >>"$PIDFILE"
log "operator pid $OP; $SECONDS_TOTAL s, a sample every $SAMPLE s -> $OUT/samples.csv"

echo "elapsed_s,rss_kib,fds,threads" >"$OUT/samples.csv"
start=$(date +%s)
while :; do
    now=$(date +%s)
    elapsed=$((now - start))
    kill -0 "$OP" 2>/dev/null || { log "operator exited early; see $OUT/operator.log"; exit 1; }
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$OP/status")
    threads=$(awk '/^Threads:/ {print $2}' "/proc/$OP/status")
    fds=$(find "/proc/$OP/fd" -mindepth 1 -maxdepth 1 | wc -l)
    echo "$elapsed,$rss,$fds,$threads" >>"$OUT/samples.csv"
    [[ $elapsed -ge $SECONDS_TOTAL ]] && break
    sleep "$SAMPLE"
done
audits=$(grep -c "audit complete" "$OUT/operator.log" || true)
kubectl -n soak get gha soak -o jsonpath='{.status.targets.count} targets, {.status.targets.failed} failed{"\n"}' \
    >"$OUT/last-status.txt" || true

python3 - "$OUT/samples.csv" "$audits" <<'PY'
import csv, sys
rows = [(int(r["elapsed_s"]), int(r["rss_kib"]), int(r["fds"]), int(r["threads"])) for r in csv.DictReader(open(sys.argv[1]))]
print(f"audit cycles completed: {sys.argv[2]}")
print(" minute   RSS MiB   fds  threads")
last = -1
for t, rss, fds, th in rows:
    if t // 300 != last:  # one line per 5 minutes
        last = t // 300
        print(f"{t/60:7.1f}  {rss/1024:8.1f}  {fds:4d}  {th:7d}")
after = [r for r in rows if r[0] >= 600]
if after:
    rss = [r[1] for r in after]; fds = [r[2] for r in after]
    print(f"after minute 10 ({len(after)} samples): RSS {min(rss)/1024:.1f}..{max(rss)/1024:.1f} MiB "
          f"(spread {(max(rss)-min(rss))/1024:.1f} MiB), fds {min(fds)}..{max(fds)}")
    half = len(after) // 2
    if half:
        a = sorted(rss[:half])[half // 2]; b = sorted(rss[half:])[(len(rss) - half) // 2]
        print(f"median RSS first half {a/1024:.1f} MiB, second half {b/1024:.1f} MiB (ratio {b/a:.3f})")
PY
