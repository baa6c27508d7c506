#!/usr/bin/env bash
# Debian packages the real local cluster (e2e/cluster) and its images (e2e/images) need: containerd and runc
# (the nodes' container runtime) and buildah (builds the images from scratch, no daemon, no registry).
# Idempotent: installs only what is missing. Kubernetes itself is built by e2e/controlplane/build.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../tools/common.sh"
need=()
for cmd in containerd:containerd ctr:containerd containerd-shim-runc-v2:containerd runc:runc buildah:buildah; do
  command -v "${cmd%%:*}" >/dev/null || need+=("${cmd##*:}")
done
if [[ ${#need[@]} -gt 0 ]]; then
  mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
  log "installing ${need[*]} (Debian)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
# The Debian package starts a system containerd; the cluster runs its own per node and needs none.
if command -v systemctl >/dev/null && systemctl is-active --quiet containerd 2>/dev/null; then
  log "note: a system containerd is running; e2e/cluster does not use it"
fi
