#!/usr/bin/env bash
# Build the control plane for the local e2e cluster: kube-apiserver, kube-controller-manager, kube-scheduler,
# the kubelet and etcd.
#
# Usage: e2e/controlplane/build.sh [--print-bin-dir]
#
# Binaries go to ${GOHEALTH_CACHE:-$REPO/.cache}/controlplane/bin.
# The build is skipped when the binaries there were built from the same
# inputs (go.mod, go.sum, the Go sources here, this script, the Go version);
# a content hash is used instead of mtimes so fresh git clones (which reset
# mtimes) and shared cache dirs behave correctly.
# --print-bin-dir: only print the bin dir (no build) and exit.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
CACHE_ROOT="${GOHEALTH_CACHE:-$REPO/.cache}"
BIN="$CACHE_ROOT/controlplane/bin"

if [[ "${1:-}" == "--print-bin-dir" ]]; then
    echo "$BIN"
    exit 0
fi

if [[ -x /usr/local/go/bin/go ]] && ! command -v go >/dev/null 2>&1; then
    export PATH="/usr/local/go/bin:$PATH"
fi
command -v go >/dev/null || { echo "build.sh: go not found" >&2; exit 1; }

mkdir -p "$BIN"
BIN="$(cd "$BIN" && pwd)"

# Everything that determines the output.
inputs_hash() {
    {
        go version
        echo "flags: $GO_FLAGS_DESC"
        cd "$HERE"
        # go.mod, go.sum, build.sh and every .go file (sorted, content-hashed).
        find . -type f \( -name '*.go' -o -name go.mod -o -name go.sum -o -name build.sh \) -print0 |
            LC_ALL=C sort -z | xargs -0 sha256sum
    } | sha256sum | cut -d' ' -f1
}

K8S_VERSION="$(cd "$HERE" && awk '$1=="k8s.io/kubernetes"{print $2; exit} $1=="require" && $2=="k8s.io/kubernetes"{print $3; exit}' go.mod)"
[[ -n "$K8S_VERSION" ]] || { echo "build.sh: cannot find k8s.io/kubernetes version in go.mod" >&2; exit 1; }
K8S_MINOR="$(echo "$K8S_VERSION" | cut -d. -f2)"
LDFLAGS="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$K8S_MINOR -X k8s.io/component-base/version.gitTreeState=clean"
GO_FLAGS_DESC="-trimpath -buildvcs=false CGO_ENABLED=0 -ldflags=$LDFLAGS"

# Serialise concurrent builds into the same cache dir.
exec 9>"$BIN/.build.lock"
flock 9

WANT="$(inputs_hash)"
STAMP="$BIN/.inputs.sha256"
if [[ -x "$BIN/kube-apiserver" && -x "$BIN/kube-controller-manager" && -x "$BIN/kube-scheduler" && -x "$BIN/kubelet" && -x "$BIN/etcd" && -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" ]]; then
    echo "build.sh: up to date ($BIN, kubernetes $K8S_VERSION)"
    exit 0
fi

echo "build.sh: building kube-apiserver, kube-controller-manager, kube-scheduler, kubelet + etcd (kubernetes $K8S_VERSION) into $BIN"
start=$(date +%s)
TMP="$(mktemp -d "$BIN/.tmp.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

cd "$HERE"
t0=$(date +%s)
go mod download
t1=$(date +%s)
echo "build.sh: module download: $((t1 - t0))s"

CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -buildvcs=false" \
    go build -trimpath -ldflags="$LDFLAGS" -o "$TMP/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubelet ./cmd/etcd
t2=$(date +%s)
echo "build.sh: compile: $((t2 - t1))s"

for b in kube-apiserver kube-controller-manager kube-scheduler kubelet etcd; do
    mv -f "$TMP/$b" "$BIN/$b"
done
echo "$WANT" > "$STAMP"
end=$(date +%s)
ls -l "$BIN/kube-apiserver" "$BIN/kube-controller-manager" "$BIN/kube-scheduler" "$BIN/kubelet" "$BIN/etcd" | awk '{printf "build.sh: %s %.1f MiB\n", $NF, $5/1048576}'
echo "build.sh: done in $((end - start))s"
