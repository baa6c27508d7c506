#!/usr/bin/env bash
# Install prometheus + promtool from Debian's `prometheus` package and make sure the packaged service
# is not running: tests run their own instance on 127.0.0.1 with a temporary config.
# Idempotent. Prints nothing on success when already installed.
# Usage: e2e/tools/install-prometheus.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

stop_packaged_service() {
  # The package's postinst starts prometheus (and its node exporter) via invoke-rc.d. policy-rc.d
  # (below) prevents that; this is the fallback for a machine where it was installed earlier.
  if command -v service >/dev/null 2>&1; then
    service prometheus stop >/dev/null 2>&1 || true
  fi
  if [[ -f /run/prometheus/prometheus.pid ]]; then
    kill "$(cat /run/prometheus/prometheus.pid)" 2>/dev/null || true
  fi
}

if command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; then
  stop_packaged_service
  exit 0
fi

[[ $(id -u) -eq 0 ]] || { log "need root for apt-get (install the Debian package 'prometheus')"; exit 1; }

exec 9>"$TOOLS_CACHE/prometheus.lock"
flock 9

# Deny service starts during the install (Debian's policy-rc.d protocol: exit 101 = action forbidden).
policy=/usr/sbin/policy-rc.d
had_policy=false
if [[ -e $policy ]]; then had_policy=true; cp -p "$policy" "$TOOLS_CACHE/policy-rc.d.saved"; fi
restore_policy() {
  if $had_policy; then cp -p "$TOOLS_CACHE/policy-rc.d.saved" "$policy"; else rm -f "$policy"; fi
}
trap restore_policy EXIT
printf '#!/bin/sh\nexit 101\n' >"$policy"
chmod +x "$policy"

log "apt-get install prometheus (Debian package; provides prometheus and promtool)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends prometheus >/dev/null
stop_packaged_service
log "installed: $(prometheus --version 2>&1 | head -1)"
