#!/usr/bin/env bash
# Parser benchmark: Rust (crates/pprof/examples/parsebench.rs) vs Go reference parsers (bench/goref)
# on real goroutine dumps from e2e/fleet's dumpgen at 1k, 10k and 100k goroutines.
# Peak memory is reported against the inflated (gunzipped) input: `inflated MB`, equal to the
# input for text.
# Two kinds of dumps per size: the default one (pprof aggregates identical stacks, so the
# proto and debug=1 files hold ~37 samples whatever N) and `dumpgen -unique-labels` (every
# goroutine has its own pprof label value, so proto and debug=1 hold one sample per goroutine:
# rows `proto-unique` / `debug1-unique`; debug=2 never shows labels, so it has no such row).
#
#   bench/run.sh                 # all sizes, prints a markdown table
#   SIZES="1000 10000" MIN_SECS=1 bench/run.sh
#
# Not part of the test command. Needs Go (PATH) and cargo. Everything stays on this machine.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
cache=${GOHEALTH_CACHE:-$repo/.cache}
dumps=$cache/bench/dumps
bin=$cache/bench/bin
SIZES=${SIZES:-"1000 10000 100000"}
FORMATS=${FORMATS:-"proto debug1 debug2 proto-unique debug1-unique"}
MIN_ITERS=${MIN_ITERS:-10}
MIN_SECS=${MIN_SECS:-2}
mkdir -p "$dumps" "$bin"

echo "== building dumpgen, goref and parsebench" >&2
"$repo/e2e/fleet/build.sh" >&2
(cd "$here/goref" && GOTOOLCHAIN=local CGO_ENABLED=0 go build -trimpath -o "$bin/goref" .)
(cd "$repo" && cargo build --release --example parsebench >&2)
rust=$repo/target/release/examples/parsebench

for n in $SIZES; do
  if [[ ! -s $dumps/goroutine-$n-debug2.txt ]]; then
    echo "== dumpgen -goroutines $n" >&2
    "$cache/fleet/bin/dumpgen" -goroutines "$n" -out "$dumps" >&2
  fi
  if [[ ! -s $dumps/goroutine-$n-unique.pb.gz ]]; then
    echo "== dumpgen -goroutines $n -unique-labels" >&2
    "$cache/fleet/bin/dumpgen" -goroutines "$n" -unique-labels -out "$dumps" >&2
  fi
done

field() { # $1 line, $2 key
  sed -n "s/.*\b$2=\([^ ]*\).*/\1/p" <<<"$1"
}

echo "machine: $(nproc) cores, $(uname -m), $(go version | cut -d' ' -f3), $(rustc --version | cut -d' ' -f1-2)"
echo "min iterations $MIN_ITERS, min seconds $MIN_SECS per cell; medians of one run"
echo
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| format | goroutines | groups | input MB | inflated MB | Rust median ms | Rust MB/s | Go median ms | Go MB/s | ratio (Rust/Go throughput) | Rust peak MB | Rust peak / inflated | Rust heap MB | Rust heap / inflated | Go peak MB |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for n in $SIZES; do
  for row in $FORMATS; do
    case $row in
      proto) f=$dumps/goroutine-$n.pb.gz ;;
      debug1) f=$dumps/goroutine-$n-debug1.txt ;;
      debug2) f=$dumps/goroutine-$n-debug2.txt ;;
      proto-unique) f=$dumps/goroutine-$n-unique.pb.gz ;;
      debug1-unique) f=$dumps/goroutine-$n-unique-debug1.txt ;;
      *) echo "unknown format $row" >&2; exit 2 ;;
    esac
    fmt=${row%-unique}
    r=$("$rust" "$fmt" "$f" "$MIN_ITERS" "$MIN_SECS")
    g=$("$bin/goref" -format "$fmt" -file "$f" -min-iters "$MIN_ITERS" -min-secs "$MIN_SECS")
    bytes=$(field "$r" bytes)
    rms=$(field "$r" median_ms); rmb=$(field "$r" mb_per_s); rpeak=$(field "$r" peak_mb); rratio=$(field "$r" peak_ratio)
    rheap=$(field "$r" heap_mb); rhratio=$(field "$r" heap_ratio)
    gms=$(field "$g" median_ms); gmb=$(field "$g" mb_per_s); gpeak=$(field "$g" peak_mb)
    ratio=$(awk -v a="$gms" -v b="$rms" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "n/a" }')
    mb=$(awk -v b="$bytes" 'BEGIN { printf "%.3f", b / 1e6 }')
    imb=$(awk -v b="$(field "$r" inflated)" 'BEGIN { printf "%.3f", b / 1e6 }')
    groups=$(field "$r" groups)
    echo "| $row | $n | $groups | $mb | $imb | $rms | $rmb | $gms | $gmb | ${ratio}× | $rpeak | $rratio | $rheap | $rhratio | $gpeak |"
  done
done
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
