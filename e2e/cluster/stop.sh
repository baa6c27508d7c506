#!/usr/bin/env bash
# Stop the cluster started by e2e/cluster/start.sh STATE_DIR and undo what it did to the host (idempotent):
# kubelets, every container process (by cgroup), containerd and its shims, scheduler, controller-manager,
# apiserver, etcd; then unmount everything under STATE_DIR, remove the cluster's cgroups, restore the
# sysctls the kubelet changed and remove host paths that did not exist before the first start.
# Then checks that nothing is left and exits 1 naming what is (exit 0 = clean).
#
# Usage: e2e/cluster/stop.sh STATE_DIR          stop, clean up, check
#        e2e/cluster/stop.sh --check STATE_DIR  only check (exit 1 when anything is left)
# STATE_DIR keeps logs and data; rm -rf it yourself.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
CHECK_ONLY=""
if [[ "${1:-}" == "--check" ]]; then CHECK_ONLY=1; shift; fi
[[ $# -eq 1 ]] || { echo "usage: $0 [--check] STATE_DIR" >&2; exit 2; }
[[ -d "$1" ]] || exit 0
STATE="$(cd "$1" && pwd)"
# shellcheck source=lib.sh
source "$HERE/lib.sh"
CLUSTER_LOG_PREFIX="cluster stop"

# Only signal a pid that still runs the binary we started (guards against pid reuse).
ours() { # pid binary-name
    local exe
    exe="$(readlink "/proc/$1/exe" 2>/dev/null || true)"
    [[ "$exe" == */"$2" || "$exe" == */"$2 (deleted)" ]]
}
stop_one() { # name binary
    local pid i
    pid="$(pid_of "$1")"
    if [[ "$pid" =~ ^[0-9]+$ ]] && alive "$pid" && ours "$pid" "$2"; then
        kill -TERM "$pid" 2>/dev/null || true
        for i in $(seq 150); do alive "$pid" || break; sleep 0.1; done
        if alive "$pid"; then
            log "$1 ($pid) ignored SIGTERM, sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            for i in $(seq 50); do alive "$pid" || break; sleep 0.1; done
        fi
    fi
    rm -f "$STATE/$1.pid"
}

node_dirs() { local d; for d in "$STATE"/node*/; do [[ -f "$d/cgroup-root" ]] && echo "${d%/}"; done; }
# cgroup directories of this cluster, deepest first.
cluster_cgroups() {
    local nd root h
    for nd in $(node_dirs); do
        root="$(cat "$nd/cgroup-root")"
        [[ "$root" == /gohealth-e2e-* ]] || continue
        for h in $(cgroup_all_dirs); do
            [[ -d "$h$root" ]] && find "$h$root" -depth -type d
        done
    done
}
# pids in this cluster's cgroups (container processes).
cgroup_pids() {
    local d
    for d in $(cluster_cgroups); do cat "$d/cgroup.procs" 2>/dev/null; done | sort -un
}
# containerd shims of this cluster's containerds (they outlive containerd by design).
shim_pids() {
    local nd
    for nd in $(node_dirs); do
        pgrep -f -- "containerd-shim.* -address $nd/containerd/containerd\.sock( |\$)" || true
    done
}
# Mount points at or under STATE_DIR, deepest first.
state_mounts() {
    awk -v s="$STATE" '{ m = $5; gsub(/\\040/, " ", m); if (m == s || index(m, s "/") == 1) print m }' /proc/self/mountinfo |
        awk '{ print length($0) "\t" $0 }' | sort -rn | cut -f2-
}

stop_all() {
    local nd i pid n
    n="$(node_dirs | wc -l)"
    local t=$(now)
    for i in $(seq "$n"); do stop_one "kubelet$i" kubelet; done
    PHASES="kubelets $(elapsed "$t" "$(now)")s"; t=$(now)
    # Container processes: the kubelet is gone, so nothing restarts them.
    for pid in $(cgroup_pids); do kill -KILL "$pid" 2>/dev/null || true; done
    for i in $(seq "$n"); do stop_one "containerd$i" containerd; done
    for pid in $(shim_pids); do kill -KILL "$pid" 2>/dev/null || true; done
    for i in $(seq 50); do [[ -z "$(cgroup_pids)$(shim_pids)" ]] && break; sleep 0.1; done
    PHASES+=", containers and containerd $(elapsed "$t" "$(now)")s"; t=$(now)
    bash "$REPO/e2e/controlplane/stop.sh" "$STATE/cp" >/dev/null 2>&1 || true
    PHASES+=", control plane $(elapsed "$t" "$(now)")s"; t=$(now)

    local m
    while read -r m; do
        [[ -n "$m" ]] || continue
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "cannot unmount $m"
    done < <(state_mounts)
    # A second pass for mounts that only became visible once their parent bind mount was gone.
    while read -r m; do [[ -n "$m" ]] && { umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; }; done < <(state_mounts)

    local d
    for d in $(cluster_cgroups); do rmdir "$d" 2>/dev/null || true; done

    if [[ -s "$STATE/sysctl.saved" ]]; then
        local kv ok=1
        while read -r kv; do
            [[ -n "$kv" ]] || continue
            sysctl -q -w "$kv" >/dev/null 2>&1 || { log "cannot restore $kv"; ok=""; }
        done < "$STATE/sysctl.saved"
        [[ -n "$ok" ]] && mv -f "$STATE/sysctl.saved" "$STATE/sysctl.restored"
    fi
    if [[ -f "$STATE/host-paths.created" ]]; then
        local p
        while read -r p; do
            # Only paths from our own list, never anything else a corrupted file might name.
            for known in "${HOST_PATHS[@]}"; do
                [[ "$p" == "$known" ]] && rm -rf "$p"
            done
        done < "$STATE/host-paths.created"
        rm -f "$STATE/host-paths.created"
    fi
    PHASES+=", host cleanup $(elapsed "$t" "$(now)")s"
}

# Prints one line per leftover; exit 1 when there is any.
check() {
    local left=() c pid kv k v m d
    for c in $(components) cp/apiserver cp/etcd; do
        pid="$(pid_of "$c")"
        alive "$pid" && left+=("process $c ($pid)")
    done
    for pid in $(cgroup_pids); do left+=("process $pid in a cluster cgroup"); done
    for pid in $(shim_pids); do left+=("containerd shim $pid"); done
    while read -r m; do [[ -n "$m" ]] && left+=("mount $m"); done < <(state_mounts)
    for d in $(cluster_cgroups); do left+=("cgroup $d"); done
    for f in "$STATE/sysctl.saved" "$STATE/sysctl.restored"; do
        [[ -f "$f" ]] || continue
        while IFS='=' read -r k v; do
            [[ -n "$k" ]] || continue
            [[ "$(sysctl -n "$k" 2>/dev/null)" == "$v" ]] || left+=("sysctl $k=$(sysctl -n "$k") (was $v)")
        done < "$f"
    done
    [[ -f "$STATE/host-paths.created" ]] && while read -r p; do [[ -e "$p" ]] && left+=("host path $p"); done < "$STATE/host-paths.created"
    if [[ ${#left[@]} -gt 0 ]]; then
        printf 'left behind: %s\n' "${left[@]}" >&2
        return 1
    fi
    return 0
}

T0=$(now)
PHASES=""
if [[ -z "$CHECK_ONLY" ]]; then
    stop_all
fi
if check; then
    [[ -n "$CHECK_ONLY" ]] || log "stopped in $(elapsed "$T0" "$(now)")s ($PHASES); no process, mount, cgroup, sysctl change or host path left"
    exit 0
fi
exit 1
