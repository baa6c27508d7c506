#!/usr/bin/env bash
# Import image tars (docker-archive or OCI, e.g. from e2e/images/build.sh) into every node of the cluster
# started by e2e/cluster/start.sh STATE_DIR, in the CRI's k8s.io namespace, so pods with
# imagePullPolicy IfNotPresent/Never use them without any registry.
#
# Usage: e2e/cluster/load-images.sh STATE_DIR TAR...
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
[[ $# -ge 2 ]] || { echo "usage: $0 STATE_DIR TAR..." >&2; exit 2; }
STATE="$(cd "$1" && pwd)"
shift
# shellcheck source=lib.sh
source "$HERE/lib.sh"
CLUSTER_LOG_PREFIX="cluster load-images"
t0=$(now)
n=0
for nd in "$STATE"/node*/; do
    sock="${nd%/}/containerd/containerd.sock"
    [[ -S "$sock" ]] || die "no containerd socket $sock (is the cluster running?)"
    for tar in "$@"; do
        ctr --address "$sock" -n k8s.io images import "$tar" >/dev/null || die "import of $tar into ${nd%/} failed"
    done
    n=$((n + 1))
done
[[ $n -gt 0 ]] || die "no nodes under $STATE"
log "$# image(s) into $n node(s) in $(elapsed "$t0" "$(now)")s"
