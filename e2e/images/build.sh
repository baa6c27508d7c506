#!/usr/bin/env bash
# Build the e2e cluster's container images from scratch with buildah (no registry, no base image) and save
# each as a docker-archive tar that `ctr images import` (e2e/cluster/load-images.sh) loads into a node.
#
# Usage: e2e/images/build.sh [pause|fleet|operator|upstream]...   (default: the first three)
#        e2e/images/build.sh --print-tar NAME             (only print the tar path)
#        e2e/images/build.sh --print-image NAME           (only print the image reference)
#
# Images (all: one static binary per program, nothing else, non-root):
#   pause     gohealth.local/pause:e2e              /pause (the pod sandbox), uid 65535
#   fleet     gohealth.local/fleet:e2e              /leaky /ticker ... (every e2e/fleet program), uid 65532
#   operator  gohealth.local/gohealth-operator:e2e  /gohealth, ENTRYPOINT /gohealth, CMD run --metrics-addr
#             0.0.0.0:8080, uid/gid 65532, /etc/ssl/certs/ca-certificates.crt: the Dockerfile's layout.
#             Static glibc build (crt-static) because this machine's Rust has no musl target; the Dockerfile
#             builds the musl one.
#   upstream  gohealth.local/upstream:e2e           /etcd /prometheus /alertmanager /coredns /karpenter-kwok
#             and our /loadgen (e2e/upstream/build.sh), uid 65532; Debian's dynamic loader and libc for
#             the first three, Alertmanager's templates at /usr/share/prometheus/alertmanager.
# An image is rebuilt only when its inputs (binaries, this script) changed: a content hash, not mtimes.
# Env: GOHEALTH_CACHE (default REPO/.cache); images land in $GOHEALTH_CACHE/images.
#      OPERATOR_BIN: pack this prebuilt static gohealth binary instead of building one.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
CACHE="${GOHEALTH_CACHE:-$REPO/.cache}"
OUT="$CACHE/images"
RUST_TARGET="x86_64-unknown-linux-gnu"
CA_BUNDLE="${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"

image_of() {
    case "$1" in
        pause) echo gohealth.local/pause:e2e ;;
        fleet) echo gohealth.local/fleet:e2e ;;
        operator) echo gohealth.local/gohealth-operator:e2e ;;
        upstream) echo gohealth.local/upstream:e2e ;;
        *) echo "images: unknown image $1 (pause, fleet, operator, upstream)" >&2; exit 2 ;;
    esac
}
case "${1:-}" in
    --print-tar) image_of "$2" >/dev/null; echo "$OUT/$2.tar"; exit 0 ;;
    --print-image) image_of "$2"; exit 0 ;;
esac

if [[ -x /usr/local/go/bin/go ]] && ! command -v go >/dev/null 2>&1; then
    export PATH="/usr/local/go/bin:$PATH"
fi
command -v buildah >/dev/null || { echo "images: buildah not found (run e2e/cluster/install-deps.sh)" >&2; exit 1; }
mkdir -p "$OUT/bin"
exec 9>"$OUT/.build.lock"
flock 9
# A private store with the vfs driver: nothing in the host's container storage, no overlay-on-overlay.
BUILDAH=(buildah --root "$OUT/buildah/root" --runroot "$OUT/buildah/run" --storage-driver vfs)

now_ms() { date +%s%3N; }

# pack NAME ENTRYPOINT_JSON CMD_JSON USER FILE...: one layer with each FILE at / (or SRC=/DEST for data
# files), saved as OUT/NAME.tar
pack() {
    local name="$1" entrypoint="$2" cmd="$3" user="$4"; shift 4
    local image c want stamp="$OUT/$name.inputs"
    image="$(image_of "$name")"
    want="$( { for f in "$@"; do echo "${f#*=}"; sha256sum "${f%%=*}" | awk '{print $1}'; done; sha256sum "${BASH_SOURCE[0]}" | awk '{print $1}'; echo "$entrypoint $cmd $user"; } | sha256sum | cut -d' ' -f1)"
    if [[ -s "$OUT/$name.tar" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
        echo "images: $image up to date"
        return 0
    fi
    local t0
    t0=$(now_ms)
    "${BUILDAH[@]}" rmi -f "$image" >/dev/null 2>&1 || true
    c="$("${BUILDAH[@]}" from --quiet scratch)"
    local f
    for f in "$@"; do
        if [[ "$f" == *=*=* ]]; then # SRC=/DEST=MODE: a file with its own mode (a dynamic loader)
            local spec="${f#*=}"
            "${BUILDAH[@]}" copy --quiet --chmod "${spec##*=}" "$c" "${f%%=*}" "${spec%=*}" >/dev/null
        elif [[ "$f" == *=* ]]; then # SRC=/DEST: a data file
            "${BUILDAH[@]}" copy --quiet --chmod 0644 "$c" "${f%%=*}" "${f#*=}" >/dev/null
        else # a program at /
            "${BUILDAH[@]}" copy --quiet --chmod 0755 "$c" "$f" "/$(basename "$f")" >/dev/null
        fi
    done
    "${BUILDAH[@]}" config --entrypoint "$entrypoint" --user "$user" \
        --label org.opencontainers.image.title="$name" \
        --label org.opencontainers.image.source="gohealth e2e/images/build.sh" "$c"
    if [[ -n "$cmd" ]]; then "${BUILDAH[@]}" config --cmd "$cmd" --port 8080 "$c"; fi
    "${BUILDAH[@]}" commit --quiet --rm "$c" "$image" >/dev/null
    rm -f "$OUT/$name.tar.tmp"
    "${BUILDAH[@]}" push --quiet "$image" "docker-archive:$OUT/$name.tar.tmp:$image" >/dev/null
    "${BUILDAH[@]}" rmi -f "$image" >/dev/null 2>&1 || true
    mv -f "$OUT/$name.tar.tmp" "$OUT/$name.tar"
    echo "$want" > "$stamp"
    echo "images: $image in $(( $(now_ms) - t0 )) ms ($(du -h "$OUT/$name.tar" | cut -f1))"
}

build_pause() {
    local t0
    t0=$(now_ms)
    ( cd "$HERE/pause" && GOTOOLCHAIN=local CGO_ENABLED=0 go build -trimpath -ldflags=-s -o "$OUT/bin/pause.tmp" . )
    mv -f "$OUT/bin/pause.tmp" "$OUT/bin/pause"
    echo "images: pause binary in $(( $(now_ms) - t0 )) ms"
    pack pause '["/pause"]' "" 65535:65535 "$OUT/bin/pause"
}

build_fleet() {
    bash "$REPO/e2e/fleet/build.sh" >/dev/null
    local bin="$CACHE/fleet/bin" files=() p
    for p in healthy leaky ticker goexit contention gcchurn crashy hostile; do files+=("$bin/$p"); done
    pack fleet '["/healthy"]' "" 65532:65532 "${files[@]}"
}

build_operator() {
    local t0 bin
    t0=$(now_ms)
    if [[ -n "${OPERATOR_BIN:-}" ]]; then
        bin="$OPERATOR_BIN"
    else
        # Static so the image needs no libc; the explicit --target keeps these RUSTFLAGS from invalidating
        # the workspace's ordinary build.
        ( cd "$REPO" && RUSTFLAGS="-C target-feature=+crt-static" nice -n 10 cargo build --quiet --release --locked \
            --bin gohealth --target "$RUST_TARGET" )
        bin="${CARGO_TARGET_DIR:-$REPO/target}/$RUST_TARGET/release/gohealth"
    fi
    if readelf -d "$bin" 2>/dev/null | grep -q NEEDED; then
        echo "images: $bin is not static" >&2
        exit 1
    fi
    echo "images: operator binary (static, release) in $(( $(now_ms) - t0 )) ms"
    # The CA bundle distroless/static carries too: the scrape client loads the system roots even for
    # plain-http targets and fails without any.
    [[ -s "$CA_BUNDLE" ]] || { echo "images: $CA_BUNDLE missing (Debian package ca-certificates)" >&2; exit 1; }
    pack operator '["/gohealth"]' '["run","--metrics-addr","0.0.0.0:8080"]' 65532:65532 "$bin" \
        "$CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt"
}

build_upstream() {
    # Unmodified upstream programs (e2e/upstream/build.sh): CoreDNS and Karpenter (static, Go modules),
    # etcd, Prometheus and Alertmanager (Debian's, dynamically linked: the loader and libc come along).
    bash "$REPO/e2e/upstream/build.sh"
    local bin lib
    bin="$(bash "$REPO/e2e/upstream/build.sh" --print-bin)"
    lib="$(dirname "$bin")/lib"
    pack upstream '["/etcd"]' "" 65532:65532 "$bin/etcd" "$bin/prometheus" "$bin/alertmanager" "$bin/coredns" \
        "$bin/karpenter-kwok" "$bin/loadgen" "$lib/ld-linux-x86-64.so.2=/lib64/ld-linux-x86-64.so.2=0755" \
        "$lib/libc.so.6=/lib/x86_64-linux-gnu/libc.so.6" \
        "$lib/alertmanager-default.tmpl=/usr/share/prometheus/alertmanager/default.tmpl" \
        "$lib/alertmanager-email.tmpl=/usr/share/prometheus/alertmanager/email.tmpl"
}

[[ $# -gt 0 ]] || set -- pause fleet operator
for name in "$@"; do
    image_of "$name" >/dev/null
    "build_$name"
done
