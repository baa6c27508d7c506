#!/usr/bin/env bash
# Produce the unmodified upstream programs that e2e/cluster/deploy-upstream.sh runs as pods, into
# $GOHEALTH_CACHE/upstream/bin (default REPO/.cache), each cached by version:
#   coredns         CoreDNS $COREDNS_VERSION, `go install github.com/coredns/coredns@VERSION` (its own
#                   plugin.cfg: pprof, prometheus, hosts, file, forward ... all compiled in)
#   karpenter-kwok  Karpenter $KARPENTER_VERSION with its KWOK cloud provider
#                   (`go install sigs.k8s.io/karpenter/kwok@VERSION`): a controller-runtime operator that
#                   needs no webhook or cert-manager, ships its CRDs in the module zip (pkg/apis/crds,
#                   kwok/apis/crds) and serves net/http/pprof on its metrics server with
#                   ENABLE_PROFILING=true (pkg/operator/operator.go). The module asks for go >= 1.26.9,
#                   so it builds with GOTOOLCHAIN=$GO127_TOOLCHAIN (from the Go module proxy).
#   etcd, prometheus, alertmanager
#                   Debian's etcd-server, prometheus and prometheus-alertmanager packages, installed with
#                   service starts denied (policy-rc.d) and copied here with the shared libraries they
#                   load (`ldd`), so the image can carry them.
#   loadgen         OURS, not upstream: e2e/fleet/cmd/loadgen, the load generator (never audited).
# Also copies the CRDs of the Karpenter module to $GOHEALTH_CACHE/upstream/crds.
# Idempotent and quiet: one line per step with its time. Root is needed only for the apt install.
#
# Usage: e2e/upstream/build.sh            (everything)
#        e2e/upstream/build.sh --print-bin (only print the bin directory)
# Env: GOHEALTH_CACHE, COREDNS_VERSION, KARPENTER_VERSION, GO127_TOOLCHAIN, FORCE=1 (rebuild the Go ones).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
CACHE="${GOHEALTH_CACHE:-$REPO/.cache}/upstream"
BIN="$CACHE/bin"
# Newest releases the Go module proxy served (2026-12-01) whose whole dependency graph it serves too.
COREDNS_VERSION="${COREDNS_VERSION:-v1.15.0}"
KARPENTER_VERSION="${KARPENTER_VERSION:-v1.15.0}"
GO127_TOOLCHAIN="${GO127_TOOLCHAIN:-go1.27.3}"
DEBS=(etcd-server prometheus prometheus-alertmanager)

if [[ "${1:-}" == --print-bin ]]; then echo "$BIN"; exit 0; fi
if [[ -x /usr/local/go/bin/go ]] && ! command -v go >/dev/null 2>&1; then
    export PATH="/usr/local/go/bin:$PATH"
fi
mkdir -p "$BIN" "$CACHE/crds" "$CACHE/lib"
exec 9>"$CACHE/.build.lock"
flock 9

now_ms() { date +%s%3N; }
log() { echo "upstream build: $*" >&2; }
die() { log "$*"; exit 1; }

# go_install NAME MODULE_PATH VERSION TOOLCHAIN: GOBIN into a scratch dir, then renamed to NAME.
go_install() {
    local name="$1" pkg="$2" version="$3" toolchain="$4" stamp="$BIN/$1.version" t0 tmp
    if [[ -z "${FORCE:-}" && -x "$BIN/$name" && -f "$stamp" && "$(cat "$stamp")" == "$pkg@$version $toolchain" ]]; then
        log "$name $version up to date"
        return 0
    fi
    t0=$(now_ms)
    tmp="$(mktemp -d "$CACHE/gobin.XXXXXX")"
    # Unmodified module build: no vendoring, no replace, static (the image has no libc for them).
    if ! GOTOOLCHAIN="$toolchain" GOFLAGS=-mod=mod CGO_ENABLED=0 GOBIN="$tmp" \
        nice -n 10 go install -trimpath -ldflags=-s "$pkg@$version" 2>"$CACHE/$name.build.log"; then
        tail -20 "$CACHE/$name.build.log" >&2
        rm -rf "$tmp"
        die "go install $pkg@$version failed (log: $CACHE/$name.build.log)"
    fi
    mv -f "$tmp/$(basename "$pkg")" "$BIN/$name"
    rm -rf "$tmp"
    echo "$pkg@$version $toolchain" > "$stamp"
    log "$name $version ($toolchain) in $(( $(now_ms) - t0 )) ms"
}

# Debian packages: installed once, their binaries and the libraries they load copied into BIN / lib.
install_debs() {
    local missing=() p t0
    for p in "${DEBS[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    if [[ ${#missing[@]} -gt 0 ]]; then
        [[ $(id -u) -eq 0 ]] || die "need root for apt-get install ${missing[*]}"
        t0=$(now_ms)
        # Deny service starts during the install (Debian's policy-rc.d: exit 101 = action forbidden);
        # the pods run their own instances.
        local policy=/usr/sbin/policy-rc.d saved=""
        if [[ -e $policy ]]; then saved="$CACHE/policy-rc.d.saved"; cp -p "$policy" "$saved"; fi
        printf '#!/bin/sh\nexit 101\n' > "$policy"
        chmod +x "$policy"
        local rc=0
        { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 ||
            { apt-get update -qq >/dev/null 2>&1 &&
                DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }; } || rc=$?
        if [[ -n "$saved" ]]; then cp -p "$saved" "$policy"; else rm -f "$policy"; fi
        [[ $rc -eq 0 ]] || die "apt-get install ${missing[*]} failed"
        log "apt-get install ${missing[*]} in $(( $(now_ms) - t0 )) ms"
    fi
    # The packaged services stay stopped (a machine where they were installed without policy-rc.d).
    local svc
    for svc in etcd prometheus prometheus-alertmanager; do
        command -v service >/dev/null 2>&1 && service "$svc" stop >/dev/null 2>&1 || true
    done
    local src dst
    for p in etcd:/usr/bin/etcd prometheus:/usr/bin/prometheus alertmanager:/usr/bin/prometheus-alertmanager; do
        src="${p#*:}" dst="$BIN/${p%%:*}"
        [[ -x "$src" ]] || die "$src missing after install"
        if [[ ! -x "$dst" ]] || ! cmp -s "$src" "$dst"; then cp -f "$src" "$dst"; fi
        # Debian builds them with cgo: the image needs the loader and the libraries they name.
        ldd "$src" 2>/dev/null | awk '/=>/ {print $3} /^[ \t]*\/lib/ {print $1}' | while read -r lib; do
            [[ -f "$lib" ]] || continue
            cp -fL "$lib" "$CACHE/lib/$(basename "$lib")"
        done
    done
    # Alertmanager's built-in notification templates (Debian keeps them out of the binary).
    cp -f /usr/share/prometheus/alertmanager/default.tmpl "$CACHE/lib/alertmanager-default.tmpl"
    cp -f /usr/share/prometheus/alertmanager/email.tmpl "$CACHE/lib/alertmanager-email.tmpl"
    {
        for p in "${DEBS[@]}"; do echo "$p $(dpkg-query -W -f='${Version}' "$p")"; done
    } > "$BIN/debian.versions"
    log "debian: $(tr '\n' ' ' < "$BIN/debian.versions")"
}

t_all=$(now_ms)
install_debs
go_install coredns github.com/coredns/coredns "$COREDNS_VERSION" local
go_install karpenter-kwok sigs.k8s.io/karpenter/kwok "$KARPENTER_VERSION" "$GO127_TOOLCHAIN"
# The load generator (ours): rebuilt when its source is newer than the binary.
if [[ -n "${FORCE:-}" || ! -x "$BIN/loadgen" || "$REPO/e2e/fleet/cmd/loadgen/main.go" -nt "$BIN/loadgen" ]]; then
    t0=$(now_ms)
    ( cd "$REPO/e2e/fleet" && GOTOOLCHAIN=local CGO_ENABLED=0 nice -n 10 go build -trimpath -o "$BIN/loadgen.tmp" ./cmd/loadgen )
    mv -f "$BIN/loadgen.tmp" "$BIN/loadgen"
    log "loadgen in $(( $(now_ms) - t0 )) ms"
fi
# The CRDs exactly as the module ships them.
mod_dir="$(GOTOOLCHAIN="$GO127_TOOLCHAIN" go mod download -json "sigs.k8s.io/karpenter@$KARPENTER_VERSION" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')"
install -m 0644 "$mod_dir"/pkg/apis/crds/*.yaml "$mod_dir"/kwok/apis/crds/*.yaml "$CACHE/crds/"
log "done in $(( $(now_ms) - t_all )) ms -> $BIN"
