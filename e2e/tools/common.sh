# shellcheck shell=bash
# Shared by the e2e/tools scripts: cache locations. Source it; do not run it.
# Everything lands under ${GOHEALTH_CACHE:-<repo>/.cache}/tools so a wiped checkout rebuilds from the
# registries' caches (Go module cache, apt archives) quickly.
TOOLS_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TOOLS_CACHE="${GOHEALTH_CACHE:-$TOOLS_REPO/.cache}/tools"
TOOLS_BIN="$TOOLS_CACHE/bin"
mkdir -p "$TOOLS_BIN"
export PATH="$TOOLS_BIN:/usr/local/go/bin:$PATH"
log() { printf '[tools] %s\n' "$*" >&2; }
