#!/usr/bin/env bash
# Soak of the verdicts on unmodified upstream programs (issue 13; not part of make test): a real
# two-node cluster (e2e/cluster), the upstream programs as pods under load (e2e/cluster/deploy-upstream.sh:
# etcd, Prometheus, Alertmanager, CoreDNS, Karpenter's controller-runtime manager), the operator installed
# with helm, and one ClusterGoHealthAudit every 30 s over those pods and the control plane (kube-apiserver,
# kube-controller-manager, kube-scheduler, both kubelets). Every minute it records the audit's status; at
# the end it prints, per target, the goroutines at the first and last audit and every finding ever seen,
# and exits 1 if any warning or critical finding appeared at any time.
#
# Usage: bench/soak-upstream/run.sh [OUT_DIR]     (root; SOAK_MINUTES, default 35; INTERVAL, default 30s)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
OUT="${1:-$ROOT/target/soak-upstream/$(date -u +%Y%m%dT%H%M%SZ)}"
MINUTES="${SOAK_MINUTES:-35}"
INTERVAL="${INTERVAL:-30s}"
STATE="${SOAK_STATE:-/tmp/gohealth-soak-upstream}"
NS=upstream
mkdir -p "$OUT/status"
log() { echo "soak-upstream: $*"; }

log "building (packages, control plane, images)"
bash e2e/cluster/install-deps.sh
bash e2e/tools/install-helm.sh >/dev/null
bash e2e/controlplane/build.sh | tail -n 1
bash e2e/images/build.sh pause operator upstream | grep -v 'up to date' || true

trap 'bash e2e/cluster/stop.sh "$STATE" >/dev/null 2>&1 || log "stop left something behind: e2e/cluster/stop.sh $STATE"' EXIT
NODES=2 bash e2e/cluster/start.sh "$STATE" 2>&1 | grep '^cluster: 2 node' || { log "the cluster did not start (logs in $STATE)"; exit 1; }
export KUBECONFIG=$STATE/kubeconfig
bash e2e/cluster/load-images.sh "$STATE" "$(e2e/images/build.sh --print-tar upstream)" \
    "$(e2e/images/build.sh --print-tar operator)" >/dev/null
bash e2e/cluster/deploy-upstream.sh "$STATE" "$NS" | tee "$OUT/deploy.txt"
bash e2e/cluster/install-operator.sh "$STATE" --set controlPlane.enabled=true --set controlPlane.kubelets=true \
    | grep '^cluster' || true
cat "$STATE/cp/pki/ca.crt" "$STATE/pki/node-ca.crt" > "$STATE/control-plane-ca.crt"
kubectl -n gohealth-system create secret generic control-plane-ca --from-file=ca.crt="$STATE/control-plane-ca.crt" \
    --dry-run=client -o yaml | kubectl apply -f - >/dev/null
# Default thresholds: what a user gets.
kubectl apply -f - >/dev/null <<YAML
apiVersion: gohealth.dev/v1alpha1
kind: ClusterGoHealthAudit
metadata:
  name: upstream
spec:
  selector:
    matchLabels:
      app.kubernetes.io/part-of: upstream
  interval: $INTERVAL
  controlPlane:
    kubelets: true
    tls:
      caSecret: {name: control-plane-ca, key: ca.crt}
YAML
log "auditing for $MINUTES minutes (status every minute into $OUT/status)"
start=$(date +%s)
for ((m = 0; m <= MINUTES; m++)); do
    while (($(date +%s) < start + m * 60)); do sleep 1; done
    kubectl get cgha upstream -o json >"$OUT/status/$(printf '%03d' "$m").json" 2>/dev/null || true
done
kubectl -n gohealth-system logs -l app.kubernetes.io/name=gohealth-operator --tail=-1 --prefix >"$OUT/operator.log" 2>&1 || true
kubectl get pods -A -o wide >"$OUT/pods.txt" 2>&1 || true
python3 "$ROOT/bench/soak-upstream/summary.py" "$OUT"
