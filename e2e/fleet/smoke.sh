#!/usr/bin/env bash
# Smoke test of the fleet: starts each program on 127.0.0.x, scrapes it with
# curl and checks that its fault is visible (bounded: ~40 s in total).
# Needs the binaries from build.sh. Prints "N passed, N failed".
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
bin=${GOHEALTH_CACHE:-$repo/.cache}/fleet/bin
tmp=$(mktemp -d)
pass=0 fail=0
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$tmp"; }
trap cleanup EXIT

ok() { echo "ok   $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }

# start NAME IP ARGS... -> sets $url (http://ip:port)
start() {
  local name=$1 ip=$2; shift 2
  rm -f "$tmp/$name.port"
  "$bin/${name%%@*}" -addr "$ip:0" -port-file "$tmp/$name.port" "$@" >"$tmp/$name.out" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do [[ -s $tmp/$name.port ]] && break; sleep 0.05; done
  url="http://$ip:$(cat "$tmp/$name.port")"
}
total() { curl -s -m 5 "$1/debug/pprof/goroutine?debug=1" | head -1 | awk '{print $NF}'; }
has() { curl -s -m "${3:-10}" "$1" | grep -q -- "$2"; }

# leaky: growth + both sites
start leaky 127.0.0.11 -rate 20 -wait-rate 2; u1=$url
# ticker: growth
start ticker 127.0.0.12 -interval 200ms; u2=$url
start goexit 127.0.0.13; u3=$url
start healthy 127.0.0.14 -consumers 1000; u4=$url
start leaky-go127 127.0.0.15; u5=$url
sleep 1.5
a1=$(total "$u1"); a2=$(total "$u2"); a4=$(total "$u4")
sleep 3
b1=$(total "$u1"); b2=$(total "$u2"); b4=$(total "$u4")
check "leaky grows ($a1 -> $b1)" test $((b1 - a1)) -ge 40
check "leaky: main.fetchWithTimeout.func1 in debug=1" has "$u1/debug/pprof/goroutine?debug=1" 'main.fetchWithTimeout.func1'
check "leaky: main.waitForever in debug=1" has "$u1/debug/pprof/goroutine?debug=1" 'main.waitForever'
check "leaky: [chan send] in debug=2" has "$u1/debug/pprof/goroutine?debug=2" '\[chan send\]'
check "ticker grows ($a2 -> $b2)" test $((b2 - a2)) -ge 10
check "ticker: main.pollLoop in debug=1" has "$u2/debug/pprof/goroutine?debug=1" 'main.pollLoop'
check "goexit: runtime.Goexit frame" has "$u3/debug/pprof/goroutine?debug=2" '^runtime.Goexit()'
check "goexit: main.cleanupAfterExit" has "$u3/debug/pprof/goroutine?debug=1" 'main.cleanupAfterExit'
check "goexit: main.releaseOnExit" has "$u3/debug/pprof/goroutine?debug=1" 'main.releaseOnExit'
check "healthy constant ($a4 -> $b4)" test $((b4 - a4)) -le 3 -a $((a4 - b4)) -le 3 -a "$a4" -ge 1000
check "healthy: labels" has "$u4/debug/pprof/goroutine?debug=1" '"worker":"consumer"'
check "leaky-go127: goroutineleak lists fetchWithTimeout.func1" has "$u5/debug/pprof/goroutineleak?debug=1" 'main.fetchWithTimeout.func1' 30
check "leaky-go127: goroutineleak lists waitForever" has "$u5/debug/pprof/goroutineleak?debug=1" 'main.waitForever' 30
for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; pids=()

# contention with and without profiling, gcchurn
start contention 127.0.0.16 -workers 4; u6=$url
start contention@off 127.0.0.17 -workers 4 -profiling=false 2>/dev/null; u7=$url
start gcchurn 127.0.0.18; u8=$url
sleep 3
check "contention: sampling period=1" has "$u6/debug/pprof/mutex?debug=1" '^sampling period=1$'
check "contention: main.contendedCounter in mutex profile" has "$u6/debug/pprof/mutex?debug=1" 'main.contendedCounter'
check "contention -profiling=false: sampling period=0" has "$u7/debug/pprof/mutex?debug=1" '^sampling period=0$'
gcf=$(curl -s -m 5 "$u8/debug/pprof/heap?debug=1" | awk '/^# GCCPUFraction/ {print $NF}')
ngc=$(curl -s -m 5 "$u8/debug/pprof/heap?debug=1" | awk '/^# NumGC/ {print $NF}')
check "gcchurn: NumGC=$ngc GCCPUFraction=$gcf" awk -v f="$gcf" -v n="$ngc" 'BEGIN{exit !(f > 0.01 && n > 50)}'
for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; pids=()

# crashy
"$bin/crashy" -addr 127.0.0.19:0 -after 1s >/dev/null 2>"$tmp/crashy.err"; rc=$?
check "crashy exits 2 (got $rc)" test "$rc" -eq 2
check "crashy: panic names main.reconcileObject" grep -q 'main.reconcileObject' "$tmp/crashy.err"

# hostile
start hostile@timeout 127.0.0.20 -mode timeout; check "hostile timeout: no response in 2s" test "$(curl -s -m 2 -o /dev/null -w '%{http_code}' "$url/debug/pprof/")" = 000
start hostile@html 127.0.0.21 -mode html; check "hostile html" has "$url/debug/pprof/goroutine?debug=1" '<html>'
start hostile@gzipbomb 127.0.0.22 -mode gzipbomb -bomb-gib 1
sz=$(curl -s -m 10 "$url/debug/pprof/goroutine" | gzip -dc 2>/dev/null | head -c 100000000 | wc -c)
check "hostile gzipbomb inflates past 100 MB (read $sz)" test "$sz" -eq 100000000
start hostile@huge 127.0.0.23 -mode huge
sz=$(curl -s -m 10 "$url/debug/pprof/" | head -c 50000000 | wc -c)
check "hostile huge streams past 50 MB" test "$sz" -eq 50000000
start hostile@drip 127.0.0.24 -mode drip
sz=$(curl -s -m 2.5 "$url/debug/pprof/goroutine" | wc -c)
check "hostile drip: 1-3 bytes in 2.5s (got $sz)" test "$sz" -ge 1 -a "$sz" -le 3
start hostile@status500 127.0.0.25 -mode status500
check "hostile status500" test "$(curl -s -m 2 -o /dev/null -w '%{http_code}' "$url/debug/pprof/")" = 500
for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; pids=()

# dumpgen
"$bin/dumpgen" -goroutines 1000 -out "$tmp/dumps" >/dev/null
check "dumpgen writes 3 files" test -s "$tmp/dumps/goroutine-1000.pb.gz" -a -s "$tmp/dumps/goroutine-1000-debug1.txt" -a -s "$tmp/dumps/goroutine-1000-debug2.txt"
check "dumpgen: total 1001" grep -q '^goroutine profile: total 1001$' "$tmp/dumps/goroutine-1000-debug1.txt"

echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
