#!/usr/bin/env bash
# Runs every cargo-fuzz target of crates/pprof/fuzz for N seconds each, one at a time (2-core
# machine), seeded from the captured fixtures. Prints libFuzzer's final stats line per target
# and exits non-zero if any target crashed (the crashing input lands in crates/pprof/fuzz/artifacts/).
#
#   bench/fuzz.sh [SECONDS_PER_TARGET]      # default 60
#   TARGETS="debug2 proto" bench/fuzz.sh 180
#
# Needs a nightly toolchain (`rustup toolchain install nightly`) and `cargo install cargo-fuzz`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
fuzz=$repo/crates/pprof/fuzz
fixtures=$repo/crates/pprof/fixtures
secs=${1:-60}
TARGETS=${TARGETS:-"parse_any debug1 debug2 proto heap contention"}

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
  if cargo +nightly fuzz run "$t" "corpus/$t" -- -max_total_time="$secs" -max_len=1048576 -rss_limit_mb=2048 -timeout=10 >"$log" 2>&1; then
    echo "ok: $(grep -E '^Done [0-9]+ runs' "$log" | tail -1)"
  else
    status=1
    echo "CRASH or error in $t: see $log"
    tail -30 "$log"
  fi
  grep -E '^#[0-9]+ +(DONE|pulse)' "$log" | tail -1 || true
done
exit $status
