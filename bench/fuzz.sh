#!/usr/bin/env bash
# Runs every cargo-fuzz target of crates/pprof/fuzz for N seconds each, one at a time (2-core
# machine), seeded from the captured fixtures. Prints libFuzzer's final stats line per target
# and exits non-zero if any target crashed (the crashing input lands in crates/pprof/fuzz/artifacts/).
#
#   bench/fuzz.sh [SECONDS_PER_TARGET]      # default 60
#   TARGETS="debug2 proto" bench/fuzz.sh 180
#   RUNS=10000000 SANITIZER=none MAX_LEN=65536 bench/fuzz.sh 3600   # stop each at 10M executions
#
# proto_structured is structure-aware (an `arbitrary` profile encoded with prost): no seeds.
# SANITIZER (default address) is passed to `cargo fuzz -s`; `none` runs ~2-3x faster, and
# debug assertions (overflow checks) stay on either way (`-a`).
# Needs a nightly toolchain (`rustup toolchain install nightly`) and `cargo install cargo-fuzz`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
fuzz=$repo/crates/pprof/fuzz
fixtures=$repo/crates/pprof/fixtures
secs=${1:-60}
TARGETS=${TARGETS:-"parse_any debug1 debug2 proto proto_structured heap contention"}
SANITIZER=${SANITIZER:-address}
MAX_LEN=${MAX_LEN:-1048576}
RUNS=${RUNS:--1}

seed() { # $1 target: copy the fixtures that fit it into its corpus dir
  local dir=$fuzz/corpus/$1
  mkdir -p "$dir"
  local pattern
  case $1 in
    parse_any) pattern='*' ;;
    debug1) pattern='goroutine*debug1.txt' ;;
    debug2) pattern='*debug2*.txt panic*.txt' ;;
    proto) pattern='*.pb.gz' ;;
    heap) pattern='heap-debug1.txt' ;;
    contention) pattern='mutex*debug1.txt block*debug1.txt' ;;
    proto_structured) return ;;
  esac
  for v in "$fixtures"/go*/; do
    for p in $pattern; do
      for f in "$v"$p; do
        [[ -f $f && $(basename "$f") != manifest.json ]] || continue
        cp "$f" "$dir/$(basename "$v")-$(basename "$f")"
      done
    done
  done
  if [[ $1 == proto ]]; then # also the uncompressed messages
    for f in "$dir"/*.pb.gz; do gzip -dc "$f" > "${f%.gz}" 2>/dev/null || true; done
  fi
}

cd "$fuzz"
status=0
for t in $TARGETS; do
  seed "$t"
  log=$fuzz/artifacts/$t.log
  mkdir -p "$fuzz/artifacts/$t"
  echo "== $t for ${secs}s"
  if nice -n 10 cargo +nightly fuzz run -s "$SANITIZER" -a "$t" "corpus/$t" -- -max_total_time="$secs" -runs="$RUNS" \
    -max_len="$MAX_LEN" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 >"$log" 2>&1; then
    echo "ok: $(grep -E '^Done [0-9]+ runs' "$log" | tail -1)"
  else
    status=1
    echo "CRASH or error in $t: see $log"
    tail -30 "$log"
  fi
  grep -E '^#[0-9]+ +(DONE|pulse)' "$log" | tail -1 || true
done
exit $status
