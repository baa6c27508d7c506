#!/usr/bin/env bash
# Captures the real-world reference corpus (healthy baselines) from unmodified upstream Go programs
# run here on 127.0.0.1: kube-apiserver (--profiling=true) and etcd (--enable-pprof) from the pinned
# k8s.io/kubernetes module (e2e/controlplane), kube-controller-manager and kube-scheduler when
# e2e/controlplane/build.sh has built them, and Prometheus (Debian package) when installed.
#
# Every STEP seconds, for each program: goroutine?debug=2 and heap?debug=1 (the history the operator
# keeps), and at the first and last round also goroutine?debug=1, the goroutine proto, mutex?debug=1
# and block?debug=1 — all of one moment, so the same site can be compared across formats. Between
# rounds the script loads the programs: it creates and updates ConfigMaps and Pods (Pods stay
# Pending without nodes: the scheduler retries them), lists them, and Prometheus scrapes every
# program's /metrics.
#
# Usage: e2e/upstream/capture.sh OUT_DIR [ROUNDS=6] [STEP=30] [OBJECTS=300]
# Writes OUT_DIR/<program>/{<n>-goroutine-debug2.txt.gz,<n>-heap-debug1.txt.gz,<n>-...,times.txt,
# manifest.txt}. Nothing of the programs is modified or committed; only the dumps.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
out="${1:?usage: capture.sh OUT_DIR [ROUNDS] [STEP] [OBJECTS]}"
rounds="${2:-6}"; step="${3:-30}"; objects="${4:-300}"
mkdir -p "$out"; out="$(cd "$out" && pwd)"
bin="${CONTROLPLANE_BIN_DIR:-$("$repo/e2e/controlplane/build.sh" --print-bin-dir)}"
state="$(mktemp -d /tmp/gohealth-upstream.XXXXXX)"
pids=()
log() { echo "capture.sh: $*" >&2; }
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [[ -n "${load_pid:-}" ]] && kill "$load_pid" 2>/dev/null || true
  CONTROLPLANE_BIN_DIR="$bin" "$repo/e2e/controlplane/stop.sh" "$state" >/dev/null 2>&1 || true
  rm -rf "$state"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

CONTROLPLANE_BIN_DIR="$bin" "$repo/e2e/controlplane/start.sh" "$state" --profiling=true >&2
# shellcheck disable=SC1091
source "$state/env"
auth=(-H "Authorization: Bearer $ADMIN_TOKEN" --cacert "$CA_FILE")

# etcd as start.sh runs it, plus --enable-pprof: restarted in place on the same ports and data.
etcd_args=()
while IFS= read -r -d '' a; do etcd_args+=("$a"); done <"/proc/$ETCD_PID/cmdline"
kill "$ETCD_PID"; while kill -0 "$ETCD_PID" 2>/dev/null; do sleep 0.1; done
setsid "${etcd_args[@]}" --enable-pprof </dev/null >>"$state/etcd-pprof.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -fsS "$ETCD_URL/health" 2>/dev/null | grep -q true && break; sleep 0.2; done

declare -A url=([kube-apiserver]="$APISERVER_URL/debug/pprof" [etcd]="$ETCD_URL/debug/pprof")
declare -A version=([kube-apiserver]="$("$bin/kube-apiserver" --version 2>/dev/null || true)" \
  [etcd]="$("$bin/etcd" --version 2>/dev/null | head -1 || true)")
declare -A curlargs=([kube-apiserver]="auth" [etcd]="")

# kube-controller-manager / kube-scheduler (admin kubeconfig; pprof reachable without authn/authz
# through --authorization-always-allow-paths, as their docs allow for health paths).
for prog in kube-controller-manager kube-scheduler; do
  [[ -x "$bin/$prog" ]] || { log "no $bin/$prog: skipped"; continue; }
  port="$(free_port)"
  extra=()
  [[ $prog == kube-controller-manager ]] && extra=(--service-account-private-key-file="$state/pki/sa.key"
    --root-ca-file="$CA_FILE" --use-service-account-credentials=false --controllers='*')
  setsid "$bin/$prog" --kubeconfig="$KUBECONFIG" --authentication-kubeconfig="$KUBECONFIG" \
    --authorization-kubeconfig="$KUBECONFIG" --bind-address=127.0.0.1 --secure-port="$port" \
    --authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics,/debug/pprof,/debug/pprof/* \
    --profiling=true --leader-elect=false "${extra[@]}" </dev/null >"$state/$prog.log" 2>&1 &
  pids+=($!)
  url[$prog]="https://127.0.0.1:$port/debug/pprof"
  version[$prog]="$("$bin/$prog" --version 2>/dev/null || true)"
  curlargs[$prog]="insecure"
done

if command -v prometheus >/dev/null; then
  port="$(free_port)"
  mkdir -p "$state/prom"
  {
    echo "global: {scrape_interval: 5s}"
    echo "scrape_configs:"
    echo "  - job_name: self"
    echo "    static_configs: [{targets: ['127.0.0.1:$port']}]"
    echo "  - job_name: etcd"
    echo "    static_configs: [{targets: ['${ETCD_URL#http://}']}]"
  } >"$state/prom/prometheus.yml"
  setsid prometheus --config.file="$state/prom/prometheus.yml" --storage.tsdb.path="$state/prom/data" \
    --web.listen-address="127.0.0.1:$port" </dev/null >"$state/prometheus.log" 2>&1 &
  pids+=($!)
  url[prometheus]="http://127.0.0.1:$port/debug/pprof"
  version[prometheus]="$(prometheus --version 2>&1 | head -1)"
  curlargs[prometheus]=""
fi
sleep 5

get() { # prog path
  case "${curlargs[$1]}" in
    auth) curl -sf --max-time 60 "${auth[@]}" "${url[$1]}/$2" ;;
    insecure) curl -sfk --max-time 60 "${url[$1]}/$2" ;;
    *) curl -sf --max-time 60 "${url[$1]}/$2" ;;
  esac
}
api() { curl -sf --max-time 30 "${auth[@]}" -H 'Content-Type: application/json' "$@" >/dev/null || true; }

# Load: objects created, updated and listed; Pending pods keep the scheduler retrying.
load() {
  api -X POST "$APISERVER_URL/api/v1/namespaces" -d '{"metadata":{"name":"load"}}'
  local i=0
  while true; do
    for ((j = 0; j < 20; j++)); do
      i=$((i + 1)); k=$((i % objects))
      api -X PUT "$APISERVER_URL/api/v1/namespaces/load/configmaps/cm-$k" \
        -d "{\"metadata\":{\"name\":\"cm-$k\"},\"data\":{\"n\":\"$i\"}}" ||
        api -X POST "$APISERVER_URL/api/v1/namespaces/load/configmaps" -d "{\"metadata\":{\"name\":\"cm-$k\"},\"data\":{\"n\":\"$i\"}}"
      api -X POST "$APISERVER_URL/api/v1/namespaces/load/configmaps" -d "{\"metadata\":{\"name\":\"cm-$k\"},\"data\":{\"n\":\"$i\"}}"
      ((i <= objects)) && api -X POST "$APISERVER_URL/api/v1/namespaces/load/pods" \
        -d "{\"metadata\":{\"name\":\"p-$i\",\"labels\":{\"app\":\"load\"}},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"busybox\"}]}}"
    done
    api "$APISERVER_URL/api/v1/namespaces/load/configmaps?limit=500"
    api "$APISERVER_URL/api/v1/pods?labelSelector=app%3Dload"
    sleep 1
  done
}
load & load_pid=$!

for p in "${!url[@]}"; do rm -rf "${out:?}/$p"; mkdir -p "$out/$p"; done
for ((n = 0; n < rounds; n++)); do
  for p in "${!url[@]}"; do
    d="$out/$p"
    get "$p" "goroutine?debug=2" | gzip -9 >"$d/$n-goroutine-debug2.txt.gz" || log "$p: debug=2 failed"
    if ((n == 0 || n == rounds - 1)); then
      get "$p" "goroutine?debug=1" | gzip -9 >"$d/$n-goroutine-debug1.txt.gz" || true
      get "$p" "goroutine" >"$d/$n-goroutine.pb.gz" || true
      get "$p" "mutex?debug=1" | gzip -9 >"$d/$n-mutex-debug1.txt.gz" || true
      get "$p" "block?debug=1" | gzip -9 >"$d/$n-block-debug1.txt.gz" || true
    fi
    # The header and MemStats only (the checks read MemStats; the sampled allocation stacks would be
    # most of the corpus's size).
    get "$p" "heap?debug=1" | awk '/^# runtime.MemStats/ { keep = 1 } keep || NR == 1' |
      gzip -9 >"$d/$n-heap-debug1.txt.gz" || true
    date +%s >>"$d/times.txt"
  done
  ((n + 1 < rounds)) && sleep "$step"
done
for p in "${!url[@]}"; do
  {
    echo "program: $p"
    echo "version: ${version[$p]}"
    echo "go: $(go version 2>/dev/null || true)"
    echo "load: $objects ConfigMaps updated in a loop (20/s), $objects Pending Pods, lists every second; Prometheus scraping"
    echo "rounds: $rounds every ${step}s; debug=2 + heap?debug=1 (header and MemStats only) each round; debug=1, proto, mutex, block at the first and last"
    echo "captured: $(date -u +%FT%TZ) by e2e/upstream/capture.sh"
  } >"$out/$p/manifest.txt"
  find "$out/$p" -size 0 -delete
done
log "captured $rounds rounds of ${!url[*]} into $out"
