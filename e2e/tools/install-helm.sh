#!/usr/bin/env bash
# Build helm from its Go module (the Go module proxy is the only way to get it here) into
# .cache/tools/bin/helm. Idempotent: does nothing when the pinned version is already there.
# Usage: e2e/tools/install-helm.sh [--print-path]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# Newest release that builds with Go 1.26 (checked with `go list -m -versions helm.sh/helm/v4`).
HELM_MODULE="${HELM_MODULE:-helm.sh/helm/v4}"
HELM_VERSION="${HELM_VERSION:-v4.3.1}"
HELM="$TOOLS_BIN/helm"
STAMP="$TOOLS_CACHE/helm.version"

if [[ "${1:-}" == "--print-path" ]]; then echo "$HELM"; exit 0; fi

want="$HELM_MODULE@$HELM_VERSION $(go env GOVERSION)"
if [[ -x "$HELM" && -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
  exit 0
fi

exec 9>"$TOOLS_CACHE/helm.lock"
flock 9
if [[ -x "$HELM" && -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then exit 0; fi

log "building helm $HELM_VERSION from $HELM_MODULE (Go module proxy; first build takes minutes)"
start=$(date +%s)
# The version is stamped the way helm's Makefile does, so `helm version` reports it.
GOBIN="$TOOLS_BIN" CGO_ENABLED=0 GOFLAGS=-mod=mod go install \
  -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION" \
  "$HELM_MODULE/cmd/helm@$HELM_VERSION"
echo "$want" >"$STAMP"
log "helm ready: $("$HELM" version --short 2>/dev/null || echo '?') in $(( $(date +%s) - start ))s"
