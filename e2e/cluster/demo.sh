#!/usr/bin/env bash
# The demo on a real local cluster: build what it needs, start two nodes, run the demo Go programs as
# Deployments, `helm install` the operator (two replicas, leader election), audit them, print
# `kubectl get gha,cgha -A` and the findings, then stop everything (KEEP=1 leaves it running; stop later
# with `e2e/cluster/demo.sh stop`). Prints each stage and its time. Root only (containerd, kubelet).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
STATE=${GOHEALTH_DEMO_DIR:-/tmp/gohealth-demo}
NS=demo
if [[ "${1:-}" == stop ]]; then bash e2e/cluster/stop.sh "$STATE"; exit 0; fi

T_ALL=$(date +%s.%N)
T_STAGE=$T_ALL
TIMES=()
stage() { # name: closes the previous stage, opens the next
    local now
    now=$(date +%s.%N)
    if [[ -n "${STAGE:-}" ]]; then
        TIMES+=("$(printf '%-22s %6.1fs' "$STAGE" "$(python3 -c "print($now - $T_STAGE)")")")
    fi
    STAGE="$1"
    T_STAGE=$now
    [[ "$1" == done ]] || echo "demo: [$((${#TIMES[@]} + 1))/7] $1 ..."
}

stage "packages and binaries"
bash e2e/cluster/install-deps.sh
bash e2e/tools/install-helm.sh
bash e2e/controlplane/build.sh | tail -n 1
bash e2e/images/build.sh pause fleet operator | grep -v 'up to date' || true

stage "cluster start"
[[ "${KEEP:-0}" == 1 ]] || trap 'bash e2e/cluster/stop.sh "$STATE" >/dev/null 2>&1 || echo "demo: stop left something behind: run e2e/cluster/stop.sh $STATE" >&2' EXIT
NODES=2 bash e2e/cluster/start.sh "$STATE" 2>&1 | grep '^cluster: 2 node' || { echo "demo: the cluster did not start (logs in $STATE)" >&2; exit 1; }
export KUBECONFIG=$STATE/kubeconfig

stage "images into the nodes"
bash e2e/cluster/load-images.sh "$STATE" "$(e2e/images/build.sh --print-tar fleet)" "$(e2e/images/build.sh --print-tar operator)" 2>&1

stage "fleet Deployments"
bash e2e/cluster/deploy-fleet.sh "$STATE" "$NS" healthy leaky ticker goexit gcchurn crashy 2>&1

stage "helm install operator"
bash e2e/cluster/install-operator.sh "$STATE" --set controlPlane.enabled=true --set controlPlane.kubelets=true 2>&1 | grep '^cluster' || true
kubectl -n gohealth-system get pods -o wide

stage "first audit"
# The control plane's serving certificates: the cluster CA (controller-manager, scheduler) and the node CA
# (kubelets), in one bundle.
cat "$STATE/cp/pki/ca.crt" "$STATE/pki/node-ca.crt" > "$STATE/control-plane-ca.crt"
kubectl -n gohealth-system create secret generic control-plane-ca --from-file=ca.crt="$STATE/control-plane-ca.crt" \
    --dry-run=client -o yaml | kubectl apply -f - >/dev/null
# Pods here run on their node's network, which only the cluster-scoped kind may scrape (docs/security.md).
kubectl apply -f - >/dev/null <<'YAML'
apiVersion: gohealth.dev/v1alpha1
kind: ClusterGoHealthAudit
metadata:
  name: demo-shop
spec:
  selector:
    matchLabels:
      app.kubernetes.io/part-of: demo-shop
  interval: 10s
  checks:
    goPanicRestarts:
      minRestarts: 2
  controlPlane:
    kubelets: true
    tls:
      caSecret: {name: control-plane-ca, key: ca.crt}
YAML
kubectl wait --for=condition=Ready cgha/demo-shop --timeout=180s >/dev/null || {
    kubectl -n gohealth-system logs -l app.kubernetes.io/name=gohealth-operator --tail=20 --prefix >&2 || true
    exit 1
}
# A crash loop needs two restarts and the trend checks a few samples.
for _ in $(seq 90); do
    found=$(kubectl get cgha demo-shop -o jsonpath='{.status.findings[*].check}')
    [[ "$found" == *GoPanicRestarts* && "$found" == *GoroutineGrowth* ]] && break
    sleep 2
done

stage "results"
echo
kubectl get gha,cgha -A
echo
echo "targets:"
kubectl get cgha demo-shop \
    -o jsonpath='{range .status.targets.items[*]}{.namespace}{"/"}{.pod}{"\t"}{.result}{"\t"}{.goroutines}{"\n"}{end}' |
    column -t -s $'\t' || true
echo
echo "findings:"
kubectl get cgha demo-shop \
    -o jsonpath='{range .status.findings[*]}{.severity}{"\t"}{.check}{"\t"}{.target.namespace}{"/"}{.target.pod}{"\t"}{.function}{"\n"}{end}' |
    column -t -s $'\t' || true
stage done
echo
echo "demo: time per stage"
printf '  %s\n' "${TIMES[@]}"
printf '  %-22s %6.1fs\n' total "$(python3 -c "print($(date +%s.%N) - $T_ALL)")"
if [[ "${KEEP:-0}" == 1 ]]; then
    echo "demo: still running (KUBECONFIG=$KUBECONFIG); stop with: e2e/cluster/demo.sh stop"
fi
