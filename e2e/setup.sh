#!/usr/bin/env bash
# Install and build everything the demo and the tests need, idempotently, on a fresh Debian machine:
# Debian packages, the control plane and kubelet (from the pinned Go modules), the Go fleet, the tools the
# chart verification uses (helm from its Go module, promtool/prometheus from Debian), and the real-node
# cluster's runtime and images (e2e/cluster/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
need_apt=()
for cmd in openssl:openssl curl:curl python3:python3 setsid:util-linux flock:util-linux; do
    command -v "${cmd%%:*}" >/dev/null || need_apt+=("${cmd##*:}")
done
if [ ${#need_apt[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi
command -v kubectl >/dev/null || { echo "setup: kubectl is required (it ships with the machine image)" >&2; exit 1; }
for s in e2e/tools/install-*.sh; do
    [ -f "$s" ] && bash "$s"
done
bash e2e/controlplane/build.sh
bash e2e/fleet/build.sh
# The real-node cluster (e2e/cluster): containerd, runc and buildah from Debian, and its images.
bash e2e/cluster/install-deps.sh
# Unmodified upstream programs (CoreDNS, Karpenter from their Go modules; Debian etcd, Prometheus,
# Alertmanager) that e2e_cluster audits as pods: e2e/upstream/README.md.
bash e2e/upstream/build.sh
bash e2e/images/build.sh pause fleet operator upstream
echo "setup: done in $(( $(date +%s) - t0 ))s"
