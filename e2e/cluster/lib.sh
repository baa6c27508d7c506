# shellcheck shell=bash
# Shared by e2e/cluster/*.sh (source it, with STATE set). Not a command.

# The sandbox image every node imports; built by e2e/images/build.sh pause.
PAUSE_IMAGE="gohealth.local/pause:e2e"
# What the kubelet changes at start (pkg/kubelet/cm: setupKernelTunables); stop.sh restores them.
KUBELET_SYSCTLS=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys kernel.keys.root_maxbytes)
# Paths the kubelet/containerd create outside their configured directories.
HOST_PATHS=(/var/lib/kubelet /var/log/containers /var/log/pods /run/containerd /opt/containerd /var/lib/containerd /etc/cni /opt/cni /var/lib/cni /etc/kubernetes /run/kubernetes)
# Component processes, in stop order (node names are expanded by node_components).
CLUSTER_LOG_PREFIX="cluster"

log() { echo "$CLUSTER_LOG_PREFIX: $*" >&2; }
die() { log "$*"; exit 1; }
now() { date +%s.%N; }
elapsed() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$2"; }

# Running and not a zombie.
alive() {
    [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null || return 1
    local st
    st="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null || true)"
    [[ -n "$st" && "$st" != Z ]]
}
pid_of() { [[ -f "$STATE/$1.pid" ]] && cat "$STATE/$1.pid" || true; }

# Component names of this state dir, start order.
components() {
    local n=0 f
    for f in "$STATE"/node*/; do [[ -d "$f" ]] && n=$((n + 1)); done
    local i
    for i in $(seq "$n"); do echo "containerd$i" "kubelet$i"; done
}
any_alive() {
    local c
    for c in $(components); do alive "$(pid_of "$c")" && return 0; done
    alive "$(pid_of cp/apiserver)" || alive "$(pid_of cp/etcd)"
}

free_ports() { # prints N distinct free TCP ports on 127.0.0.1
    python3 -c '
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
' "$1"
}

# Start "$@" in its own session, detached from our stdio, logging to STATE/name.log and writing the real
# pid (after exec) to STATE/name.pid; prints the pid.
launch() {
    local name="$1"; shift
    rm -f "$STATE/$name.pid"
    setsid bash -c 'echo $$ > "$1"; shift; exec "$@"' _ "$STATE/$name.pid" "$@" \
        </dev/null >>"$STATE/$name.log" 2>&1 &
    local i
    for i in $(seq 100); do [[ -s "$STATE/$name.pid" ]] && break; sleep 0.02; done
    cat "$STATE/$name.pid"
}

# sign_cert CA_PREFIX OUT_PREFIX SUBJECT EXTENDED_KEY_USAGE SAN -> OUT_PREFIX.{key,crt} (ECDSA P-256)
sign_cert() {
    local ca="$1" out="$2" subj="$3" eku="$4" san="$5"
    (
        umask 077
        openssl ecparam -name prime256v1 -genkey -noout -out "$out.key" 2>/dev/null
        openssl req -new -key "$out.key" -subj "$subj" -out "$out.csr" 2>/dev/null
        {
            echo "basicConstraints=critical,CA:FALSE"
            echo "keyUsage=critical,digitalSignature,keyEncipherment"
            echo "extendedKeyUsage=$eku"
            [[ -n "$san" ]] && echo "subjectAltName=$san"
        } > "$out.ext"
        openssl x509 -req -in "$out.csr" -CA "$ca.crt" -CAkey "$ca.key" -CAcreateserial \
            -sha256 -days 3650 -extfile "$out.ext" -out "$out.crt" 2>/dev/null
        rm -f "$out.csr" "$out.ext"
    ) || die "openssl: cannot sign $out"
}

kubeconfig_for() { # FILE SERVER CA_CRT CLIENT_CRT CLIENT_KEY
    ( umask 077
      cat > "$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: gohealth-e2e
  cluster: {server: "$2", certificate-authority: "$3"}
users:
- name: component
  user: {client-certificate: "$4", client-key: "$5"}
contexts:
- name: gohealth-e2e
  context: {cluster: gohealth-e2e, user: component}
current-context: gohealth-e2e
EOF
    )
}

# Mount points of every cgroup v1 hierarchy (one line each).
cgroup_v1_dirs() {
    awk '$3 == "cgroup" {print $2}' /proc/self/mounts
}
# ... and of the cgroup2 ("unified") hierarchy a hybrid host also mounts: runc creates the cluster's
# cgroups there too, so stop.sh looks in both.
cgroup_all_dirs() {
    awk '$3 == "cgroup" || $3 == "cgroup2" {print $2}' /proc/self/mounts
}
