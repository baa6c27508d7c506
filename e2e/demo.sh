#!/usr/bin/env bash
# The demo: start the local control plane, run the demo Go programs as "pods", install the CRD, apply the
# sample GoHealthAudit, run the operator until the audit is Ready, print `kubectl get gha -o wide` and the
# findings, then stop everything (KEEP=1 leaves it all running; stop with `e2e/demo.sh stop`).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
STATE=${GOHEALTH_DEMO_DIR:-$ROOT/.cache/demo}
stop() {
    [ -f "$STATE/pids" ] && while read -r p; do kill "$p" 2>/dev/null || true; done <"$STATE/pids"
    bash e2e/controlplane/stop.sh "$STATE/cp" >/dev/null 2>&1 || true
    rm -f "$STATE/pids"
}
if [ "${1:-}" = stop ]; then stop; exit 0; fi
stop
rm -rf "$STATE" && mkdir -p "$STATE"
bash e2e/setup.sh >/dev/null
cargo build --quiet --bin gohealth
bash e2e/controlplane/start.sh "$STATE/cp" --enable-admission-plugins=AlwaysAdmit,NamespaceExists,NodeRestriction >/dev/null
export KUBECONFIG=$STATE/cp/kubeconfig
[ "${KEEP:-0}" = 1 ] || trap stop EXIT
k() { kubectl "$@" 2>/dev/null; }
target/debug/gohealth crd | k apply -f - >/dev/null
k wait --for=condition=Established crd/gohealthaudits.gohealth.dev --timeout=30s >/dev/null
k create namespace demo >/dev/null
k -n demo create serviceaccount default >/dev/null
# a mirror-pod-like kube-apiserver pod so the admission audit has its flags to read
APISERVER_ARGS_JSON=$(bash -c "source '$STATE/cp/env'; printf '%s\n' \"\${APISERVER_ARGS[@]}\"" | python3 -c 'import json,sys; print(json.dumps(["kube-apiserver"]+[l.rstrip("\n") for l in sys.stdin]))')
k -n kube-system create serviceaccount default >/dev/null || true
cat <<YAML | k apply -f - >/dev/null
apiVersion: v1
kind: Pod
metadata: {name: kube-apiserver-demo, namespace: kube-system, labels: {component: kube-apiserver, tier: control-plane}}
spec:
  containers: [{name: kube-apiserver, image: "registry.k8s.io/kube-apiserver:v1.37.2", command: $APISERVER_ARGS_JSON}]
YAML

BIN=${GOHEALTH_CACHE:-$ROOT/.cache}/fleet/bin
i=30
for prog in healthy leaky ticker goexit contention gcchurn; do
    i=$((i+1)); ip=127.0.0.$i
    "$BIN/$prog" -addr "$ip:0" -port-file "$STATE/$prog.port" >"$STATE/$prog.log" 2>&1 &
    echo $! >>"$STATE/pids"
    for _ in $(seq 100); do [ -s "$STATE/$prog.port" ] && break; sleep 0.1; done
    port=$(cat "$STATE/$prog.port")
    cat <<YAML | k apply -f - >/dev/null
apiVersion: v1
kind: Pod
metadata: {name: $prog, namespace: demo, labels: {app.kubernetes.io/part-of: demo-shop, app: $prog}}
spec:
  containers: [{name: app, image: "example.invalid/$prog:1", ports: [{name: pprof, containerPort: $port}]}]
YAML
    k -n demo patch pod "$prog" --subresource=status --type=merge \
        -p "{\"status\":{\"phase\":\"Running\",\"podIP\":\"$ip\",\"podIPs\":[{\"ip\":\"$ip\"}]}}" >/dev/null
done
k apply -f config/samples/gohealth.dev_v1alpha1_gohealthaudit.yaml >/dev/null
RUST_LOG=info target/debug/gohealth run --metrics-addr 127.0.0.1:0 --log-format text >"$STATE/operator.log" 2>&1 &
echo $! >>"$STATE/pids"
echo "demo: waiting for the first audit (the operator log is $STATE/operator.log)"
k -n demo wait --for=condition=Ready gha/demo-shop --timeout=120s >/dev/null || { tail -30 "$STATE/operator.log"; exit 1; }
# a second audit gives the trend checks two samples
sleep 35
echo
kubectl -n demo get gha -o wide
echo
kubectl -n demo get gha demo-shop -o jsonpath='{range .status.findings[*]}{.severity}{"\t"}{.check}{"\t"}{.target.pod}{"\t"}{.function}{"\n"}{end}' | column -t -s $'\t' || true
