# shellcheck shell=bash
# Shared by bench/soak/run.sh and bench/scale/run.sh (source it; not a command). `bench_setup NAME [OUT_DIR]`
# sets ROOT, OUT (created; default .cache/NAME/<time>), STATE (the control plane's directory), FLEET (the Go
# fleet's binaries, built here), copies the operator binary to OUT/gohealth (GOHEALTH_BIN, or a release build
# made here: cargo does nothing when it is current), defines log, and stops every pid written to PIDFILE and
# the control plane on exit.
bench_setup() {
    local name="$1"
    ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    OUT="${2:-$ROOT/.cache/$name/$(date -u +%Y%m%dT%H%M%SZ)}"
    mkdir -p "$OUT"
    OUT="$(cd "$OUT" && pwd)"
    STATE="$OUT/controlplane"
    FLEET="${GOHEALTH_CACHE:-$ROOT/.cache}/fleet/bin"
    BENCH_NAME="$name"
    if [[ -z "${GOHEALTH_BIN:-}" ]]; then
        GOHEALTH_BIN="$ROOT/target/release/gohealth"
        (cd "$ROOT" && nice -n 10 cargo build --quiet --release -p gohealth)
    fi
    cp "$GOHEALTH_BIN" "$OUT/gohealth"
    bash "$ROOT/e2e/fleet/build.sh" >/dev/null
    PIDFILE="$OUT/pids"
    : >"$PIDFILE"
    trap bench_cleanup EXIT
}
log() { echo "$BENCH_NAME: $*" >&2; }
bench_cleanup() {
    while read -r p; do kill "$p" 2>/dev/null || true; done <"$PIDFILE"
    bash "$ROOT/e2e/controlplane/stop.sh" "$STATE" >/dev/null 2>&1 || true
}
