#!/usr/bin/env bash
# Verify what ships (chart, CRD copy, alerts, dashboard) with the real tools:
#   helm lint / helm template (helm built from its Go module), kubectl apply --dry-run=server against a
#   real kube-apiserver with the prometheus-operator CRDs installed, the restricted Pod Security profile
#   enforced on the chart's pod, the chart's RBAC checked with `kubectl auth can-i` as its ServiceAccount,
#   promtool check rules / test rules.
# The live part (operator under the chart's RBAC, a real Prometheus scraping it, every dashboard query
# returning data) is operator/tests/e2e_ship.rs, run by `cargo test --features e2e` (`make test`).
#
# Usage: e2e/ship/verify.sh   (uses $KUBECONFIG when it points at a loopback apiserver, or
#        $SHIP_KUBECONFIG; otherwise starts a local control plane from e2e/controlplane)
# Exits non-zero on any failure and prints a summary of every check.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
cd "$REPO" || exit 1
source e2e/tools/common.sh

CHART=charts/gohealth-operator
RELEASE=gohealth-operator
NS=gohealth-system
SA="system:serviceaccount:$NS:$RELEASE"
WORK="$(mktemp -d /tmp/gohealth-ship.XXXXXX)"
CP_STATE=""
declare -a RESULTS=()
FAILED=0

cleanup() {
  if [[ -n "$CP_STATE" ]]; then bash e2e/controlplane/stop.sh "$CP_STATE" >/dev/null 2>&1 || true; fi
  if [[ $FAILED -eq 0 ]]; then rm -rf "$WORK"; else echo "ship: artifacts kept in $WORK" >&2; fi
}
trap cleanup EXIT

# check NAME CMD...: run a check, keep its output in $WORK/NAME.log, record PASS/FAIL.
check() {
  local name="$1"; shift
  local log="$WORK/${name//[^A-Za-z0-9_.-]/_}.log"
  local t0=$SECONDS
  if "$@" >"$log" 2>&1; then
    RESULTS+=("PASS  $name ($((SECONDS - t0))s)")
  else
    RESULTS+=("FAIL  $name ($((SECONDS - t0))s): see $log")
    FAILED=$((FAILED + 1))
    echo "---- FAIL: $name ----" >&2
    tail -n 30 "$log" >&2
  fi
}

summary() {
  echo
  echo "== e2e/ship/verify.sh summary =="
  echo "tools: helm $("$HELM" version --short 2>/dev/null), $(promtool --version 2>/dev/null | head -1 | cut -d' ' -f1-3)," \
    "prometheus-operator CRDs $(basename "${PO_CRDS:-?}"), kube-apiserver $(kubectl version -o json 2>/dev/null \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["serverVersion"]["gitVersion"])' 2>/dev/null || echo '?')"
  printf '%s\n' "${RESULTS[@]}"
  local total=${#RESULTS[@]}
  echo "ship: $((total - FAILED)) passed, $FAILED failed"
}

# --- tools -----------------------------------------------------------------------------------------
check tools.pyyaml bash e2e/tools/install-pyyaml.sh
check tools.helm bash e2e/tools/install-helm.sh
check tools.prometheus bash e2e/tools/install-prometheus.sh
PO_CRDS="$(bash e2e/tools/install-prometheus-operator-crds.sh 2>"$WORK/po-crds.err")" || true
check tools.prometheus-operator-crds test -f "$PO_CRDS/monitoring.coreos.com_servicemonitors.yaml"
HELM="$(bash e2e/tools/install-helm.sh --print-path)"

# --- static checks ---------------------------------------------------------------------------------
check chart.crd-copy-identical cmp crds/gohealthaudits.gohealth.dev.yaml "$CHART/crds/gohealthaudits.gohealth.dev.yaml"
check chart.cluster-crd-copy-identical cmp crds/clustergohealthaudits.gohealth.dev.yaml \
  "$CHART/crds/clustergohealthaudits.gohealth.dev.yaml"
check dashboard.generated-matches python3 e2e/ship/gen-dashboard.py --check
check dashboard.valid-json python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["panels"] and d["templating"]["list"]' \
  "$CHART/files/dashboards/gohealth.json"
check docs.alert-anchors-and-metrics python3 e2e/ship/check-docs.py
check docs.crd-reference-generated python3 e2e/ship/gen-crd-reference.py --check

check helm.lint "$HELM" lint --strict "$CHART"
check helm.lint-ha "$HELM" lint --strict "$CHART" --set replicaCount=2 --set networkPolicy.enabled=true \
  --set rbac.auditObjectsScope=cluster
check helm.lint-rejects-privilege-escalation bash -c \
  "! '$HELM' lint '$CHART' --set securityContext.allowPrivilegeEscalation=true"
check helm.lint-rejects-unknown-values bash -c "! '$HELM' lint '$CHART' --set nosuchkey=1"

MON_APIS=(--api-versions monitoring.coreos.com/v1/ServiceMonitor --api-versions monitoring.coreos.com/v1/PrometheusRule)
render() { "$HELM" template "$RELEASE" "$CHART" --namespace "$NS" "$@"; }
check helm.template-default render --include-crds "${MON_APIS[@]}" --set rbac.auditNamespaces='{team-a}' \
  --set prometheusRule.runbookBaseURL=https://runbooks.example.invalid/gohealth.md
render --include-crds "${MON_APIS[@]}" --set rbac.auditNamespaces='{team-a}' \
  --set prometheusRule.runbookBaseURL=https://runbooks.example.invalid/gohealth.md >"$WORK/chart.yaml" 2>/dev/null
HA=(--set replicaCount=2 --set networkPolicy.enabled=true --set rbac.auditNamespaces='{team-a}')
check helm.template-ha render "${MON_APIS[@]}" "${HA[@]}"
render "${MON_APIS[@]}" "${HA[@]}" >"$WORK/chart-ha.yaml" 2>/dev/null
check helm.template-without-monitoring-apis bash -c \
  "'$HELM' template '$RELEASE' '$CHART' -n '$NS' | python3 '$HERE/chart_facts.py' no-monitoring"
check chart.facts python3 "$HERE/chart_facts.py" facts "$WORK/chart.yaml" "$WORK/chart-ha.yaml"

# The binary accepts exactly the args the chart renders (clap rejects unknown flags/values before --help).
cargo build --quiet --bin gohealth >"$WORK/cargo-build.log" 2>&1
args_accepted() {
  local rendered="$1" args
  args=$(python3 -c 'import json,sys; print("\n".join(a.replace("$(POD_NAMESPACE)", "ns") for a in json.load(sys.stdin)["args"]))' \
    < <(python3 "$HERE/chart_facts.py" operator-args "$rendered")) || return 1
  mapfile -t argv <<<"$args"
  echo "gohealth ${argv[*]}"
  "${CARGO_TARGET_DIR:-target}/debug/gohealth" "${argv[@]}" --help >/dev/null
}
render --set operator.perTargetMetrics=false --set operator.maxTargetSeries=10 >"$WORK/chart-flags.yaml" 2>/dev/null
check binary.accepts-chart-args args_accepted "$WORK/chart.yaml"
check binary.accepts-chart-args-ha args_accepted "$WORK/chart-ha.yaml"
check binary.accepts-chart-args-no-per-target args_accepted "$WORK/chart-flags.yaml"
# Sharding: every replica audits, no leader election, membership Leases may be listed, watched, deleted.
render --set replicaCount=3 --set sharding.enabled=true >"$WORK/chart-shard.yaml" 2>/dev/null
check binary.accepts-chart-args-sharding args_accepted "$WORK/chart-shard.yaml"
check helm.template-sharding bash -c "a=\$(python3 '$HERE/chart_facts.py' operator-args '$WORK/chart-shard.yaml'); \
  grep -q -- '--sharding' <<<\"\$a\" && ! grep -q -- '--leader-election' <<<\"\$a\" \
  && grep -q '\"list\", \"watch\", \"create\", \"update\", \"patch\", \"delete\"' '$WORK/chart-shard.yaml' \
  && ! grep -q 'type: Recreate' '$WORK/chart-shard.yaml'"

# --- alerts ----------------------------------------------------------------------------------------
check promtool.check-rules promtool check rules "$CHART/files/prometheusrules.yaml"
check promtool.test-rules promtool test rules e2e/ship/rules-test.yaml
# The PrometheusRule the chart renders must hold the same, valid rules (runbook base rewritten).
python3 "$HERE/chart_facts.py" extract-rules "$WORK/chart.yaml" >"$WORK/rendered-rules.yaml" 2>"$WORK/extract.err"
check promtool.check-rendered-rules promtool check rules "$WORK/rendered-rules.yaml"
check chart.rendered-rules-runbooks grep -q 'https://runbooks.example.invalid/gohealth.md#gohealthoperatordown' \
  "$WORK/rendered-rules.yaml"

# --- the real apiserver ----------------------------------------------------------------------------
# A given KUBECONFIG is used only when it points at a loopback apiserver (a local control plane): this
# script creates namespaces, CRDs and RBAC for real. SHIP_KUBECONFIG forces one.
if [[ -n "${SHIP_KUBECONFIG:-}" ]]; then
  export KUBECONFIG="$SHIP_KUBECONFIG"
elif [[ -n "${KUBECONFIG:-}" ]] && kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}' 2>/dev/null \
    | grep -Eq '^https?://(127\.[0-9.]+|localhost|\[::1\])(:|/|$)'; then
  :
else
  CP_STATE="$WORK/cp"
  check controlplane.start bash e2e/controlplane/start.sh "$CP_STATE"
  export KUBECONFIG="$CP_STATE/kubeconfig"
fi
echo "ship: apiserver $(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}')" >&2
K() { kubectl --request-timeout=60s "$@"; }

check apply.prometheus-operator-crds K apply --server-side -f "$PO_CRDS/monitoring.coreos.com_servicemonitors.yaml" \
  -f "$PO_CRDS/monitoring.coreos.com_prometheusrules.yaml"
wait_established() {
  for _ in $(seq 1 120); do
    K wait --for=condition=Established --timeout=30s "$@" 2>/dev/null && return 0
    sleep 0.5
  done
  K wait --for=condition=Established --timeout=1s "$@"
}
check apply.crds-established wait_established crd/servicemonitors.monitoring.coreos.com \
  crd/prometheusrules.monitoring.coreos.com
# The release namespace enforces the restricted Pod Security profile, as a hardened cluster would.
cat >"$WORK/namespaces.yaml" <<EOF
apiVersion: v1
kind: Namespace
metadata:
  name: $NS
  labels:
    pod-security.kubernetes.io/enforce: restricted
    pod-security.kubernetes.io/warn: restricted
---
apiVersion: v1
kind: Namespace
metadata:
  name: team-a
EOF
check apply.namespaces K apply -f "$WORK/namespaces.yaml"
# RBAC for real (ServiceAccount, roles, bindings), then ask the apiserver what the SA may do.
python3 "$HERE/chart_facts.py" rbac "$WORK/chart-ha.yaml" >"$WORK/rbac.yaml" 2>"$WORK/rbac.err"
check apply.rbac K apply -f "$WORK/rbac.yaml"
# The GoHealthAudit CRD for real, so that `auth can-i` resolves the resource.
check apply.gohealth-crd K apply --server-side -f crds/gohealthaudits.gohealth.dev.yaml
check apply.gohealth-crd-established wait_established crd/gohealthaudits.gohealth.dev
check apply.gohealth-cluster-crd K apply --server-side -f crds/clustergohealthaudits.gohealth.dev.yaml
check apply.gohealth-cluster-crd-established wait_established crd/clustergohealthaudits.gohealth.dev
check apply.dry-run-server-chart bash -c "kubectl apply --dry-run=server -f '$WORK/chart.yaml' 2>&1 | tee '$WORK/dry-run.out'; \
  test \${PIPESTATUS[0]} -eq 0 && ! grep -qi 'PodSecurity' '$WORK/dry-run.out'"
check apply.dry-run-server-chart-ha kubectl apply --dry-run=server -f "$WORK/chart-ha.yaml"
# Deployments only warn about Pod Security; a Pod is where `enforce` bites.
python3 "$HERE/chart_facts.py" pod-from-deployment "$WORK/chart.yaml" >"$WORK/pod.yaml" 2>"$WORK/pod.err"
check pod-security.restricted-enforced bash -c "kubectl apply --dry-run=server -f '$WORK/pod.yaml' 2>&1 | tee '$WORK/pod.out'; \
  test \${PIPESTATUS[0]} -eq 0 && ! grep -qi 'violate' '$WORK/pod.out'"
# Control: a privileged variant is rejected by the same namespace (the check above is not vacuous).
sed 's/allowPrivilegeEscalation: false/allowPrivilegeEscalation: true/' "$WORK/pod.yaml" >"$WORK/pod-bad.yaml"
check pod-security.control-rejected bash -c "! kubectl apply --dry-run=server -f '$WORK/pod-bad.yaml' 2>'$WORK/pod-bad.out'; \
  grep -q 'violates PodSecurity \"restricted' '$WORK/pod-bad.out'"

# A real `helm install` / `upgrade` / `uninstall` (a second release in its own namespace): Helm installs
# the CRD from crds/ and, asking the cluster, finds the monitoring API and renders the ServiceMonitor and
# PrometheusRule without --api-versions.
HNS=gohealth-helm
check helm.install "$HELM" install gh "$CHART" --namespace "$HNS" --create-namespace --set replicaCount=2 --wait=false
check helm.install-created-monitoring K -n "$HNS" get servicemonitor/gh-gohealth-operator prometheusrule/gh-gohealth-operator \
  deployment/gh-gohealth-operator configmap/gh-gohealth-operator-dashboard poddisruptionbudget/gh-gohealth-operator
check helm.upgrade "$HELM" upgrade gh "$CHART" --namespace "$HNS" --reuse-values --set operator.maxTargetSeries=500 --wait=false
check helm.upgrade-applied bash -c "kubectl -n '$HNS' get deployment gh-gohealth-operator -o jsonpath='{.spec.template.spec.containers[0].args}' | grep -q '\"500\"'"
check helm.uninstall "$HELM" uninstall gh --namespace "$HNS" --wait=false
check helm.uninstall-removed-rbac bash -c "! kubectl get clusterrole gh-gohealth-operator 2>/dev/null"

can() { K auth can-i --as="$SA" "$@"; }
cannot() { ! K auth can-i --as="$SA" "$@"; }
check rbac.pods-watch-cluster-wide can watch pods --all-namespaces
check rbac.pods-kube-system can list pods -n kube-system
check rbac.namespaces-list can list namespaces
check rbac.nodes-get can get nodes
check rbac.audits-patch can patch gohealthaudits.gohealth.dev -n team-a
check rbac.audit-status-patch can patch gohealthaudits.gohealth.dev --subresource=status -n team-a
check rbac.events-create can create events.events.k8s.io -n team-a
check rbac.version can get /version
check rbac.metrics can get /metrics
check rbac.lease can patch leases.coordination.k8s.io -n "$NS"
check rbac.no-lease-elsewhere cannot get leases.coordination.k8s.io -n team-a
check rbac.secrets-in-audit-namespace can get secrets -n team-a
check rbac.configmaps-in-audit-namespace can get configmaps -n team-a
check rbac.no-secret-list cannot list secrets -n team-a
check rbac.no-secrets-cluster-wide cannot get secrets -n kube-system
check rbac.no-pod-writes cannot delete pods -n team-a
check rbac.no-audit-create cannot create gohealthaudits.gohealth.dev -n team-a
check rbac.cluster-audits-patch can patch clustergohealthaudits.gohealth.dev
check rbac.no-cluster-audit-create cannot create clustergohealthaudits.gohealth.dev
check rbac.no-exec cannot create pods/exec -n team-a
# Control-plane auditing is opt-in: by default the token reaches no /debug/pprof and no kubelet.
check rbac.no-pprof-by-default cannot get /debug/pprof/goroutine
check rbac.no-nodes-proxy-by-default cannot get nodes --subresource=proxy
check helm.template-control-plane bash -c "out=\$(\"$HELM\" template x '$CHART' --set controlPlane.enabled=true); \
  grep -q '\"/debug/pprof/\*\"' <<<\"\$out\" && ! grep -q 'nodes/proxy' <<<\"\$out\""
check helm.template-control-plane-kubelets bash -c "\"$HELM\" template x '$CHART' --set controlPlane.enabled=true \
  --set controlPlane.kubelets=true | grep -q 'nodes/proxy'"

summary
[[ $FAILED -eq 0 ]]
