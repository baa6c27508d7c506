#!/usr/bin/env bash
# Stop the control plane started by start.sh STATE_DIR (idempotent).
#
# Usage: e2e/controlplane/stop.sh STATE_DIR
# kube-apiserver first, then etcd: SIGTERM, wait up to 15 s, then SIGKILL.
# STATE_DIR (data, logs, certs) is left in place; rm -rf it yourself.
set -euo pipefail

if [[ $# -ne 1 ]]; then
    echo "usage: $0 STATE_DIR" >&2
    exit 2
fi
STATE="$1"
[[ -d "$STATE" ]] || exit 0

# Running and not a zombie (a zombie is as good as stopped).
alive() {
    [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null || return 1
    local st
    st="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null || true)"
    [[ -n "$st" && "$st" != Z ]]
}

# Only signal the pid if it still runs the binary we started (guards
# against pid reuse after a reboot or a long-dead control plane).
ours() { # pid name
    local exe
    exe="$(readlink "/proc/$1/exe" 2>/dev/null || true)"
    [[ "$exe" == */"$2" || "$exe" == */"$2 (deleted)" ]]
}

stop_one() { # name binary
    local pidfile="$STATE/$1.pid" pid i
    [[ -f "$pidfile" ]] || return 0
    pid="$(cat "$pidfile" 2>/dev/null || true)"
    if [[ "$pid" =~ ^[0-9]+$ ]] && alive "$pid" && ours "$pid" "$2"; then
        kill -TERM "$pid" 2>/dev/null || true
        for i in $(seq 150); do alive "$pid" || break; sleep 0.1; done
        if alive "$pid"; then
            echo "stop.sh: $1 ($pid) ignored SIGTERM, sending SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null || true
            for i in $(seq 50); do alive "$pid" || break; sleep 0.1; done
        fi
    fi
    rm -f "$pidfile"
}

stop_one apiserver kube-apiserver
stop_one etcd etcd
