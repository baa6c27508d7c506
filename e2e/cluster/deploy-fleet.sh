#!/usr/bin/env bash
# Run the e2e fleet (e2e/fleet programs in the gohealth.local/fleet:e2e image) as Deployments, one per program,
# labelled app.kubernetes.io/part-of=demo-shop, in NAMESPACE of the cluster started by e2e/cluster/start.sh.
# Pods run on their node's network (host-network-policy.yaml), so each program gets its own free port; the
# container port is named "pprof", which the operator finds by itself. crashy panics (exit code 2) a few
# seconds after each start and the kubelet restarts it: a real crash loop.
#
# Usage: e2e/cluster/deploy-fleet.sh STATE_DIR NAMESPACE [PROGRAM...]
#        (default programs: healthy leaky ticker goexit contention gcchurn crashy)
# Returns once every Deployment has its pod Running (crashy: started at least once).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
[[ $# -ge 2 ]] || { echo "usage: $0 STATE_DIR NAMESPACE [PROGRAM...]" >&2; exit 2; }
STATE="$(cd "$1" && pwd)"
NS="$2"
shift 2
[[ $# -gt 0 ]] || set -- healthy leaky ticker goexit contention gcchurn crashy
# shellcheck source=lib.sh
source "$HERE/lib.sh"
CLUSTER_LOG_PREFIX="cluster deploy-fleet"
export KUBECONFIG="$STATE/kubeconfig"
t0=$(now)
IMAGE="$("$HERE/../images/build.sh" --print-image fleet)"

manifest() { # program port
    cat <<YAML
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: $1
  namespace: $NS
  labels: {app: $1, app.kubernetes.io/part-of: demo-shop}
spec:
  replicas: 1
  selector:
    matchLabels: {app: $1}
  template:
    metadata:
      labels: {app: $1, app.kubernetes.io/part-of: demo-shop}
    spec:
      automountServiceAccountToken: false
      terminationGracePeriodSeconds: 2
      securityContext:
        runAsNonRoot: true
        runAsUser: 65532
        runAsGroup: 65532
        seccompProfile: {type: RuntimeDefault}
      containers:
        - name: app
          image: $IMAGE
          imagePullPolicy: Never
          command: [/$1]
          # 0.0.0.0 becomes the pod's own address (host-network-policy.yaml).
          args: [-addr, "0.0.0.0:$2"]
          ports: [{name: pprof, containerPort: $2}]
          # A panic's first lines become the termination message, which GoPanicRestarts reads.
          terminationMessagePolicy: FallbackToLogsOnError
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: {drop: [ALL]}
          resources:
            requests: {cpu: 10m, memory: 16Mi}
            limits: {memory: 256Mi}
YAML
}

kubectl get namespace "$NS" >/dev/null 2>&1 || kubectl create namespace "$NS" >/dev/null
read -r -a PORTS < <(free_ports "$#")
i=0
for prog in "$@"; do
    manifest "$prog" "${PORTS[$i]}"
    i=$((i + 1))
done | kubectl apply -f - >/dev/null

for prog in "$@"; do
    ok=""
    for _ in $(seq 600); do
        started="$(kubectl -n "$NS" get pods -l "app=$prog" \
            -o jsonpath='{range .items[*]}{.status.containerStatuses[0].restartCount}{" "}{.status.containerStatuses[0].state.running.startedAt}{"\n"}{end}' 2>/dev/null || true)"
        # Running now, or (crashy) already restarted at least once.
        if echo "$started" | awk '$2 != "" || $1 > 0 {found=1} END {exit !found}'; then ok=1; break; fi
        sleep 0.2
    done
    [[ -n "$ok" ]] || { kubectl -n "$NS" describe pods -l "app=$prog" >&2; die "$prog did not start"; }
done
log "$# Deployment(s) running in namespace $NS in $(elapsed "$t0" "$(now)")s"
