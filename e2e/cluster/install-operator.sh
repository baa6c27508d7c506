#!/usr/bin/env bash
# Install the operator the way users do: `helm upgrade --install` of charts/gohealth-operator with the image
# built by e2e/images/build.sh operator (imported into every node, no registry), on the cluster started by
# e2e/cluster/start.sh. Waits until every replica is Ready.
#
# Usage: e2e/cluster/install-operator.sh STATE_DIR [extra helm args...]
# Env: REPLICAS (default 2: leader election on; each replica needs its own node, since pods share their node's
#      network and the metrics port), RELEASE (gohealth), NAMESPACE (gohealth-system), HELM (default: the
#      helm built by e2e/tools/install-helm.sh).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
[[ $# -ge 1 ]] || { echo "usage: $0 STATE_DIR [extra helm args...]" >&2; exit 2; }
STATE="$(cd "$1" && pwd)"
shift
# shellcheck source=lib.sh
source "$HERE/lib.sh"
CLUSTER_LOG_PREFIX="cluster install-operator"
export KUBECONFIG="$STATE/kubeconfig"
REPLICAS="${REPLICAS:-2}"
RELEASE="${RELEASE:-gohealth}"
NAMESPACE="${NAMESPACE:-gohealth-system}"
HELM="${HELM:-$(bash "$REPO/e2e/tools/install-helm.sh" --print-path)}"
[[ -x "$HELM" ]] || die "helm not found at $HELM (run e2e/tools/install-helm.sh)"
IMAGE="$("$REPO/e2e/images/build.sh" --print-image operator)"

# Pods share their node's network here: a free port rather than 8080, which something else may hold.
read -r PORT < <(free_ports 1)
t0=$(now)
"$HELM" upgrade --install "$RELEASE" "$REPO/charts/gohealth-operator" \
    --namespace "$NAMESPACE" --create-namespace \
    --set image.repository="${IMAGE%:*}" --set image.tag="${IMAGE##*:}" --set image.pullPolicy=Never \
    --set replicaCount="$REPLICAS" --set service.port="$PORT" \
    --set operator.logFormat=text \
    --wait --timeout 180s "$@" >&2 || {
        kubectl -n "$NAMESPACE" get pods -o wide >&2 || true
        kubectl -n "$NAMESPACE" describe pods >&2 || true
        kubectl -n "$NAMESPACE" logs -l "app.kubernetes.io/instance=$RELEASE" --tail=30 --prefix >&2 || true
        die "helm install did not become Ready"
    }
log "helm install -> $REPLICAS replica(s) Ready in $(elapsed "$t0" "$(now)")s"
