#!/usr/bin/env bash
# Captures the leak reproductions (e2e/fleet/cmd/upstreamleaks, one process per class, side by
# side on loopback) the way capture.sh captures the healthy upstream programs: goroutine?debug=2 and
# heap?debug=1 (MemStats only) every STEP seconds, plus debug=1 and proto at the last round.
# Usage: e2e/upstream/capture-leaks.sh OUT_DIR [ROUNDS=4] [STEP=25]   (needs e2e/fleet/build.sh)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
out="${1:?usage: capture-leaks.sh OUT_DIR [ROUNDS] [STEP]}"
rounds="${2:-4}"; step="${3:-25}"
bin="${GOHEALTH_CACHE:-$repo/.cache}/fleet/bin/upstreamleaks"
mkdir -p "$out"; out="$(cd "$out" && pwd)"
tmp="$(mktemp -d)"; pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
# class → leaked objects per second (a busy service's request rate; the ticker and HTTP classes
# faster so that one dump already holds thousands)
declare -A rate=([httpclient]=20 [recvloop]=10 [txlogger]=30 [poolsubmit]=10 [watcher]=10 [handlers]=10)
for c in "${!rate[@]}"; do
  "$bin" -class "$c" -rate "${rate[$c]}" -addr 127.0.0.1:0 -port-file "$tmp/$c.port" >"$tmp/$c.log" 2>&1 &
  pids+=($!)
done
sleep 2
for c in "${!rate[@]}"; do rm -rf "${out:?}/$c"; mkdir -p "$out/$c"; done
for ((n = 0; n < rounds; n++)); do
  for c in "${!rate[@]}"; do
    base="http://127.0.0.1:$(cat "$tmp/$c.port")/debug/pprof"
    curl -sf "$base/goroutine?debug=2" | gzip -9 >"$out/$c/$n-goroutine-debug2.txt.gz"
    if ((n == rounds - 1)); then
      curl -sf "$base/goroutine?debug=1" | gzip -9 >"$out/$c/$n-goroutine-debug1.txt.gz"
      curl -sf "$base/goroutine" >"$out/$c/$n-goroutine.pb.gz"
    fi
    curl -sf "$base/heap?debug=1" | awk '/^# runtime.MemStats/ { keep = 1 } keep || NR == 1' |
      gzip -9 >"$out/$c/$n-heap-debug1.txt.gz"
    date +%s >>"$out/$c/times.txt"
  done
  ((n + 1 < rounds)) && sleep "$step"
done
for c in "${!rate[@]}"; do
  {
    echo "program: e2e/fleet/cmd/upstreamleaks -class $c"
    echo "version: $(go version)"
    echo "load: ${rate[$c]} leaked objects per second from start"
    echo "rounds: $rounds every ${step}s; debug=2 + heap?debug=1 (MemStats only) each round; debug=1 and proto at the last"
    echo "captured: $(date -u +%FT%TZ) by e2e/upstream/capture-leaks.sh"
  } >"$out/$c/manifest.txt"
done
echo "captured $rounds rounds of ${!rate[*]} into $out"
