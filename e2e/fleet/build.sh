#!/usr/bin/env bash
# Builds every fleet program into ${GOHEALTH_CACHE:-$REPO/.cache}/fleet/bin/.
#   - all programs with the Go 1.26 toolchain on PATH (GOTOOLCHAIN=local)
#   - leaky additionally with GOTOOLCHAIN=go1.27.3 as leaky-go127 (serves
#     /debug/pprof/goroutineleak). If go1.27.3 cannot be obtained, falls back to
#     Go 1.26 with GOEXPERIMENT=goroutineleakprofile (same endpoint) and says so.
# A binary is rebuilt only when a .go/go.mod file under e2e/fleet is newer.
# Env: GO (default: go), GO127_TOOLCHAIN (default: go1.27.3), FORCE=1 to rebuild.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${GOHEALTH_CACHE:-$repo/.cache}
bin=$cache/fleet/bin
GO=${GO:-go}
GO127_TOOLCHAIN=${GO127_TOOLCHAIN:-go1.27.3}
mkdir -p "$bin"
cd "$here"

programs=(leaky ticker goexit contention gcchurn crashy healthy hostile dumpgen capture upstreamleaks)

now_ms() { date +%s%3N; }
# newest mtime (epoch seconds) of the module's sources relevant to one program
src_mtime() {
  find "$here/go.mod" "$here/internal" "$here/cmd/$1" -name '*.go' -o -name go.mod | xargs stat -c %Y | sort -n | tail -1
}
up_to_date() { # $1 binary, $2 program
  [[ -z "${FORCE:-}" && -x "$1" && $(stat -c %Y "$1") -ge $(src_mtime "$2") ]]
}

total_start=$(now_ms)
for p in "${programs[@]}"; do
  out=$bin/$p
  if up_to_date "$out" "$p"; then
    echo "fleet build: $p up to date"
    continue
  fi
  t=$(now_ms)
  GOTOOLCHAIN=local CGO_ENABLED=0 "$GO" build -trimpath -o "$out.tmp" "./cmd/$p"
  mv "$out.tmp" "$out"
  echo "fleet build: $p ($("$GO" env GOVERSION)) in $(( $(now_ms) - t )) ms"
done

# leaky with Go 1.27 (goroutineleak profile always available)
out=$bin/leaky-go127
if up_to_date "$out" leaky && [[ -f "$out.toolchain" ]]; then
  echo "fleet build: leaky-go127 up to date ($(cat "$out.toolchain"))"
else
  t=$(now_ms)
  if GOTOOLCHAIN=$GO127_TOOLCHAIN CGO_ENABLED=0 "$GO" build -trimpath -o "$out.tmp" ./cmd/leaky 2>"$bin/leaky-go127.err"; then
    echo "$GO127_TOOLCHAIN" >"$out.toolchain"
  else
    echo "fleet build: WARNING: $GO127_TOOLCHAIN unavailable ($(tail -1 "$bin/leaky-go127.err")); falling back to Go 1.26 + GOEXPERIMENT=goroutineleakprofile" >&2
    GOTOOLCHAIN=local GOEXPERIMENT=goroutineleakprofile CGO_ENABLED=0 "$GO" build -trimpath -o "$out.tmp" ./cmd/leaky
    echo "$("$GO" env GOVERSION)+goroutineleakprofile" >"$out.toolchain"
  fi
  mv "$out.tmp" "$out"
  echo "fleet build: leaky-go127 ($(cat "$out.toolchain")) in $(( $(now_ms) - t )) ms"
fi
echo "fleet build: done in $(( $(now_ms) - total_start )) ms -> $bin"
