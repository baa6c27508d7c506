#!/usr/bin/env bash
# Captures the real-world reference corpus (healthy baselines) from unmodified upstream Go programs
# run here on 127.0.0.1: kube-apiserver (--profiling=true) and etcd (--enable-pprof) from the pinned
# k8s.io/kubernetes module (e2e/controlplane), kube-controller-manager and kube-scheduler when
# e2e/controlplane/build.sh has built them, Prometheus (Debian package) when installed, and
# Alertmanager, CoreDNS and Karpenter (KWOK provider, a controller-runtime operator) when
# e2e/upstream/build.sh has built them, configured as e2e/cluster/deploy-upstream.sh runs them as pods.
#
# Every STEP seconds, for each program: goroutine?debug=2 and heap?debug=1 (the history the operator
# keeps), and at the first and last round also goroutine?debug=1, the goroutine proto, mutex?debug=1
# and block?debug=1 — all of one moment, so the same site can be compared across formats. Between
# rounds the script loads the programs: it creates and updates ConfigMaps and Pods (Pods stay
# Pending without nodes: the scheduler retries them), lists them, and Prometheus scrapes every
# program's /metrics. Our load generator (e2e/fleet/cmd/loadgen) sends DNS lookups to CoreDNS and
# alerts and silences to Alertmanager (and receives its notifications); the script annotates
# Karpenter's NodePool every 20 s and rescales its demand Deployment every 60 s.
#
# Usage: e2e/upstream/capture.sh OUT_DIR [ROUNDS=6] [STEP=30] [OBJECTS=300]
# The rounds begin after one STEP of warm-up, once every load is running.
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
loads=()
log() { echo "capture.sh: $*" >&2; }
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${loads[@]}"; do kill "$p" 2>/dev/null || true; done
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
# The binary of each program, for the Go version it was built with (manifest.txt).
declare -A binary=([kube-apiserver]="$bin/kube-apiserver" [etcd]="$bin/etcd")
base_load="$objects ConfigMaps updated in a loop (20/s), $objects Pending Pods, lists every second; Prometheus scraping"
declare -A loaddesc=()

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
  binary[$prog]="$bin/$prog"
done

# The programs of e2e/upstream/build.sh, configured as deploy-upstream.sh does, on 127.0.0.1.
ubin="$("$repo/e2e/upstream/build.sh" --print-bin)"
crds="$(dirname "$ubin")/crds"
scrape=() # more Prometheus targets: "job host:port"
am_port="" dns_port="" hook_port=""
# Where a program's own counters show the load reached it (summed into manifest.txt at the end).
declare -A metrics=() counted=()

# local_program NAME PPROF_URL VERSION BINARY SCRAPE_ADDR METRICS_URL COUNTED LOAD: registers a program
# run here without auth: captured, scraped by Prometheus, its counters recorded in the manifest.
local_program() {
  url[$1]="$2"; version[$1]="$3"; curlargs[$1]=""; binary[$1]="$4"
  scrape+=("$1 $5"); metrics[$1]="$6"; counted[$1]="$7"; loaddesc[$1]="$8"
}

if [[ -x "$ubin/alertmanager" ]]; then
  am_port="$(free_port)"; hook_port="$(free_port)"
  mkdir -p "$state/am"
  cat >"$state/am/alertmanager.yml" <<YAML
route:
  receiver: loadgen
  group_by: [alertname, instance]
  group_wait: 5s
  group_interval: 10s
  repeat_interval: 1m
receivers:
  - name: loadgen
    webhook_configs:
      - {url: "http://127.0.0.1:$hook_port/alerts", send_resolved: true}
YAML
  # An empty cluster address turns the gossip mesh off (one replica).
  setsid "$ubin/alertmanager" --config.file="$state/am/alertmanager.yml" --storage.path="$state/am/data" \
    --web.listen-address="127.0.0.1:$am_port" --cluster.listen-address= </dev/null >"$state/alertmanager.log" 2>&1 &
  pids+=($!)
  local_program alertmanager "http://127.0.0.1:$am_port/debug/pprof" \
    "$("$ubin/alertmanager" --version 2>&1 | head -1)" \
    "$ubin/alertmanager" "127.0.0.1:$am_port" "http://127.0.0.1:$am_port/metrics" \
    "alertmanager_alerts_received_total alertmanager_notifications_total alertmanager_silences_query_duration_seconds_count" \
    "e2e/fleet/cmd/loadgen: 10 alerts posted and listed every 5 s, a 20 s silence every 30 s, notifications to its webhook receiver; Prometheus's always-firing rule; Prometheus scraping"
else
  log "no $ubin/alertmanager: skipped"
fi

if [[ -x "$ubin/coredns" ]]; then
  dns_port="$(free_port)"; dns_pprof="$(free_port)"; dns_metrics="$(free_port)"; dns_health="$(free_port)"
  mkdir -p "$state/coredns"
  # deploy-upstream.sh's Corefile and zone on 127.0.0.1; no forward: nothing leaves the host.
  cat >"$state/coredns/Corefile" <<CONF
.:$dns_port {
    bind 127.0.0.1
    errors
    health 127.0.0.1:$dns_health
    prometheus 127.0.0.1:$dns_metrics
    pprof 127.0.0.1:$dns_pprof
    cache 30
    reload 30s
    hosts {
        127.0.0.1 etcd.upstream.test prometheus.local alertmanager.local
        fallthrough
    }
    file $state/coredns/upstream.test.db upstream.test
}
CONF
  cat >"$state/coredns/upstream.test.db" <<'ZONE'
$ORIGIN upstream.test.
@     3600 IN SOA ns.upstream.test. admin.upstream.test. 2026120101 7200 3600 1209600 60
@     3600 IN NS  ns
ns          IN A   127.0.0.1
www         IN A   127.0.0.1
api         IN A   127.0.0.1
api         IN AAAA ::1
_http._tcp  IN SRV 0 5 80 www
txt         IN TXT "gohealth e2e zone"
ZONE
  setsid "$ubin/coredns" -conf "$state/coredns/Corefile" </dev/null >"$state/coredns.log" 2>&1 &
  pids+=($!)
  local_program coredns "http://127.0.0.1:$dns_pprof/debug/pprof" \
    "$("$ubin/coredns" -version 2>&1 | head -1)" \
    "$ubin/coredns" "127.0.0.1:$dns_metrics" "http://127.0.0.1:$dns_metrics/metrics" \
    "coredns_dns_requests_total coredns_dns_responses_total coredns_cache_hits_total" \
    "e2e/fleet/cmd/loadgen: 30 lookups/s (A hits, NXDOMAIN, SRV, TXT) answered by the file, hosts and cache plugins; Prometheus scraping"
else
  log "no $ubin/coredns: skipped"
fi

# Karpenter: its CRDs, deploy-upstream.sh's KWOK node class and NodePool, and a demand Deployment of
# pause pods. Unlike there, the NodePool taints its nodes and only the demand pods tolerate that: the
# load's Pending Pods above must stay Pending for the scheduler, not land on fake nodes.
karpenter_objects() {
  cat <<'YAML'
apiVersion: v1
kind: Namespace
metadata: {name: karpenter}
---
apiVersion: karpenter.kwok.sh/v1alpha1
kind: KWOKNodeClass
metadata: {name: upstream}
spec: {nodeRegistrationDelay: 5s}
---
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: upstream-demo}
spec:
  limits: {cpu: "16"}
  disruption:
    consolidationPolicy: WhenEmptyOrUnderutilized
    consolidateAfter: 30s
    budgets: [{nodes: "50%"}]
  template:
    metadata:
      labels: {upstream.gohealth.dev/demo: "true"}
    spec:
      expireAfter: 15m
      taints: [{key: upstream.gohealth.dev/demand, effect: NoSchedule}]
      requirements:
        - {key: kubernetes.io/os, operator: In, values: [linux]}
        - {key: karpenter.sh/capacity-type, operator: In, values: [on-demand]}
        - {key: karpenter.kwok.sh/instance-cpu, operator: Lt, values: ["9"]}
      nodeClassRef: {group: karpenter.kwok.sh, kind: KWOKNodeClass, name: upstream}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: karpenter-demand, namespace: karpenter}
spec:
  replicas: 0
  selector: {matchLabels: {app: karpenter-demand}}
  template:
    metadata:
      labels: {app: karpenter-demand}
    spec:
      automountServiceAccountToken: false
      terminationGracePeriodSeconds: 0
      nodeSelector: {karpenter.sh/nodepool: upstream-demo}
      tolerations: [{key: upstream.gohealth.dev/demand, operator: Exists, effect: NoSchedule}]
      containers:
        - name: pause
          image: registry.k8s.io/pause:3.10
          resources: {requests: {cpu: 500m, memory: 256Mi}}
YAML
}
if [[ -x "$ubin/karpenter-kwok" && -f "$crds/karpenter.sh_nodepools.yaml" ]] && command -v kubectl >/dev/null; then
  kubectl --kubeconfig="$KUBECONFIG" apply --server-side --force-conflicts -f "$crds" >/dev/null
  kubectl --kubeconfig="$KUBECONFIG" wait --for condition=established --timeout=60s -f "$crds" >/dev/null
  karpenter_objects | kubectl --kubeconfig="$KUBECONFIG" apply -f - >/dev/null
  karp_port="$(free_port)"; karp_health="$(free_port)"
  # The chart's environment (kwok/charts/templates/deployment.yaml) with deploy-upstream.sh's pod
  # resources, plus the leader-election namespace a process outside a cluster must name. It has no
  # bind-address option (it listens on ":port"); only 127.0.0.1 is ever dialled.
  KUBECONFIG="$KUBECONFIG" KUBERNETES_MIN_VERSION=1.19.0-0 METRICS_PORT="$karp_port" \
    HEALTH_PROBE_PORT="$karp_health" ENABLE_PROFILING=true LOG_LEVEL=info SYSTEM_NAMESPACE=karpenter \
    LEADER_ELECTION_NAMESPACE=karpenter MEMORY_LIMIT=536870912 CPU_REQUESTS=50 \
    setsid "$ubin/karpenter-kwok" </dev/null >"$state/karpenter.log" 2>&1 &
  pids+=($!)
  local_program karpenter "http://127.0.0.1:$karp_port/debug/pprof" \
    "$(cat "$ubin/karpenter-kwok.version" 2>/dev/null || echo karpenter-kwok)" \
    "$ubin/karpenter-kwok" "127.0.0.1:$karp_port" "http://127.0.0.1:$karp_port/metrics" \
    "karpenter_nodeclaims_created_total karpenter_nodeclaims_terminated_total karpenter_nodes_created_total controller_runtime_reconcile_total" \
    "its NodePool (KWOK) annotated every 20 s and its demand Deployment (pause pods, 500m CPU each) rescaled 2/4/1/5/0/3 every 60 s; the apiserver under $base_load"
else
  log "no $ubin/karpenter-kwok, its CRDs or kubectl: Karpenter skipped"
fi

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
    for t in "${scrape[@]}"; do
      echo "  - job_name: ${t% *}"
      echo "    static_configs: [{targets: ['${t#* }']}]"
    done
    if [[ -n "$am_port" ]]; then
      # deploy-upstream.sh's always-firing rule: Alertmanager always has something to route.
      echo "rule_files: ['$state/prom/rules.yml']"
      echo "alerting: {alertmanagers: [{static_configs: [{targets: ['127.0.0.1:$am_port']}]}]}"
    fi
  } >"$state/prom/prometheus.yml"
  cat >"$state/prom/rules.yml" <<'YAML'
groups:
  - name: upstream-capture
    interval: 10s
    rules:
      - {alert: UpstreamCaptureWatchdog, expr: vector(1), labels: {severity: none}}
YAML
  setsid prometheus --config.file="$state/prom/prometheus.yml" --storage.tsdb.path="$state/prom/data" \
    --web.listen-address="127.0.0.1:$port" </dev/null >"$state/prometheus.log" 2>&1 &
  pids+=($!)
  url[prometheus]="http://127.0.0.1:$port/debug/pprof"
  version[prometheus]="$(prometheus --version 2>&1 | head -1)"
  curlargs[prometheus]=""
  binary[prometheus]="$(command -v prometheus)"
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
load & loads+=($!)

# Karpenter's load as the load generator gives it in the cluster (there with in-cluster credentials).
karpenter_load() {
  local i=0 replicas=(2 4 1 5 0 3)
  local patch=(curl -sf --max-time 30 "${auth[@]}" -X PATCH -H 'Content-Type: application/merge-patch+json')
  while true; do
    "${patch[@]}" "$APISERVER_URL/apis/karpenter.sh/v1/nodepools/upstream-demo" \
      -d "{\"metadata\":{\"annotations\":{\"upstream.gohealth.dev/round\":\"$i\"}}}" >/dev/null || true
    if ((i % 3 == 0)); then
      "${patch[@]}" "$APISERVER_URL/apis/apps/v1/namespaces/karpenter/deployments/karpenter-demand/scale" \
        -d "{\"spec\":{\"replicas\":${replicas[$(((i / 3) % 6))]}}}" >/dev/null || true
    fi
    i=$((i + 1))
    sleep 20
  done
}
if [[ -n "${url[karpenter]:-}" ]]; then karpenter_load & loads+=($!); fi
# DNS lookups and alerts from our load generator (etcd's load here is the apiserver's: -etcd-rate 0).
if [[ -x "$ubin/loadgen" && (-n "$dns_port" || -n "$am_port") ]]; then
  lg=(-etcd-rate 0)
  [[ -n "$dns_port" ]] && lg+=(-dns "127.0.0.1:$dns_port")
  [[ -n "$am_port" ]] && lg+=(-alertmanager "http://127.0.0.1:$am_port" -listen "127.0.0.1:$hook_port")
  setsid "$ubin/loadgen" "${lg[@]}" </dev/null >"$state/loadgen.log" 2>&1 &
  loads+=($!)
fi
# These start slower than the sleep above (Karpenter waits for its caches): wait for their pprof.
for p in alertmanager coredns karpenter; do
  [[ -n "${url[$p]:-}" ]] || continue
  for _ in $(seq 300); do get "$p" "goroutine?debug=1" >/dev/null 2>&1 && break; sleep 0.2; done
  get "$p" "goroutine?debug=1" >/dev/null 2>&1 || {
    log "$p: no pprof answer at ${url[$p]}"
    tail -20 "$state/$p.log" >&2
    exit 1
  }
done
# One STEP of warm-up, so that the first round already sees every load running.
sleep "$step"

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
    echo "go: $(go version "${binary[$p]:-}" 2>/dev/null | awk '{print $NF}' || true) (the binary's build)"
    echo "load: ${loaddesc[$p]:-$base_load}"
    echo "rounds: $rounds every ${step}s; debug=2 + heap?debug=1 (header and MemStats only) each round; debug=1, proto, mutex, block at the first and last"
    if [[ -n "${metrics[$p]:-}" ]]; then
      page="$(curl -sf --max-time 30 "${metrics[$p]}" || true)"
      for m in ${counted[$p]}; do
        echo "observed: $m $(awk -v m="$m" 'index($0, m "{") == 1 || $1 == m { s += $NF } END { printf "%d", s }' <<<"$page") (since start, read after the last round)"
      done
    fi
    echo "captured: $(date -u +%FT%TZ) by e2e/upstream/capture.sh"
  } >"$out/$p/manifest.txt"
  find "$out/$p" -size 0 -delete
done
log "captured $rounds rounds of ${!url[*]} into $out"
