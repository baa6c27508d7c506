#!/usr/bin/env bash
# Fetch the prometheus-operator CRDs (ServiceMonitor, PrometheusRule, ...) from their published YAML.
# Only registries are reachable, and the Go module proxy serves the prometheus-operator repository as a
# Go module, so `go mod download` gives us the release's example/prometheus-operator-crd/*.yaml.
# Idempotent; prints the directory holding the CRD files.
# Usage: e2e/tools/install-prometheus-operator-crds.sh        -> prints the CRD dir
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

PO_VERSION="${PROMETHEUS_OPERATOR_VERSION:-v0.85.0}"
DEST="$TOOLS_CACHE/prometheus-operator-crds/$PO_VERSION"

if [[ ! -f "$DEST/.complete" ]]; then
  exec 9>"$TOOLS_CACHE/po-crds.lock"
  flock 9
  if [[ ! -f "$DEST/.complete" ]]; then
    log "downloading github.com/prometheus-operator/prometheus-operator@$PO_VERSION (Go module proxy)"
    dir=$(cd "$TOOLS_CACHE" && GOFLAGS=-mod=mod go mod download -json \
      "github.com/prometheus-operator/prometheus-operator@$PO_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
    [[ -d "$dir/example/prometheus-operator-crd" ]] || { log "no example/prometheus-operator-crd in $dir"; exit 1; }
    mkdir -p "$DEST"
    cp "$dir"/example/prometheus-operator-crd/*.yaml "$DEST/"
    chmod u+w "$DEST"/*.yaml
    touch "$DEST/.complete"
  fi
fi
echo "$DEST"
