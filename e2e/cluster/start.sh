#!/usr/bin/env bash
# Start a real Kubernetes cluster on 127.0.0.1: etcd + kube-apiserver (e2e/controlplane/start.sh), NODES nodes
# (default 1), each a containerd + kubelet, and kube-controller-manager and kube-scheduler as static pods of
# node 1 (mirror pods in kube-system, as kubeadm runs them).
#
# Usage: e2e/cluster/start.sh STATE_DIR
# Stop with e2e/cluster/stop.sh STATE_DIR (leaves no process, mount, cgroup or sysctl change behind).
#
# Node i is named 127.0.0.i (an IP-shaped node name becomes the node's InternalIP; the kubelet listens on that
# address only). There is no CNI: pods must use hostNetwork (a loopback-only conflist makes the runtime's
# network Ready); a hostNetwork pod's IP is its node's 127.0.0.i, so workloads pick distinct ports.
# Writes STATE_DIR/cluster.env (KUBECONFIG, APISERVER_URL, ...) and STATE_DIR/kubeconfig (admin).
# Env: NODES (1..9, default 1), GOHEALTH_CACHE (see e2e/controlplane/build.sh), CLUSTER_READY_TIMEOUT (s, 120).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
[[ $# -eq 1 && "$1" != -* ]] || { echo "usage: $0 STATE_DIR" >&2; exit 2; }
mkdir -p "$1"
STATE="$(cd "$1" && pwd)"
NODES="${NODES:-1}"
READY_TIMEOUT="${CLUSTER_READY_TIMEOUT:-120}"
[[ "$NODES" =~ ^[1-9]$ ]] || { echo "start.sh: NODES must be 1..9" >&2; exit 2; }
# shellcheck source=lib.sh
source "$HERE/lib.sh"
T0=$(now)

for c in containerd containerd-shim-runc-v2 runc ctr openssl kubectl python3 setsid; do
    command -v "$c" >/dev/null || die "$c not found (run e2e/cluster/install-deps.sh)"
done
[[ "$(id -u)" == 0 ]] || die "must run as root (containerd, kubelet, cgroups)"
if [[ -f "$STATE/cluster.env" ]] && any_alive; then
    die "a cluster is already running for $STATE (run e2e/cluster/stop.sh $STATE first)"
fi
# A fresh cluster every time: a previous run's data (but not a previous run's saved sysctls) goes.
bash "$HERE/stop.sh" "$STATE" >&2 || die "the previous cluster in $STATE could not be cleaned up (see above)"
find "$STATE" -mindepth 1 -maxdepth 1 ! -name sysctl.saved ! -name host-paths.created -exec rm -rf {} +

FAILED=1
trap '[[ $FAILED == 0 ]] || { log "start failed; stopping what was started"; bash "$HERE/stop.sh" "$STATE" >&2 || true; }' EXIT

# ---------------------------------------------------------------- binaries
"$REPO/e2e/controlplane/build.sh" >&2
BIN="$("$REPO/e2e/controlplane/build.sh" --print-bin-dir)"
for b in kube-controller-manager kube-scheduler kubelet; do
    [[ -x "$BIN/$b" ]] || die "missing $BIN/$b"
done
PAUSE_TAR="$("$REPO/e2e/images/build.sh" --print-tar pause)"
"$REPO/e2e/images/build.sh" pause >&2
T_BUILD=$(now)

# --------------------------------------------- host state we must restore
# The kubelet tunes these sysctls at start; stop.sh writes the saved values back. Kept from an earlier
# (crashed) run so the machine's original values win.
if [[ ! -s "$STATE/sysctl.saved" ]]; then
    for k in "${KUBELET_SYSCTLS[@]}"; do
        printf '%s=%s\n' "$k" "$(sysctl -n "$k")"
    done > "$STATE/sysctl.saved.tmp"
    mv -f "$STATE/sysctl.saved.tmp" "$STATE/sysctl.saved"
fi
# Host paths the kubelet and containerd create whatever their configuration says; stop.sh removes the ones
# that did not exist before the first start.
touch "$STATE/host-paths.created"
for p in "${HOST_PATHS[@]}"; do
    [[ -e "$p" ]] || grep -qxF "$p" "$STATE/host-paths.created" || echo "$p" >> "$STATE/host-paths.created"
done

# ---------------------------------------------------------- certificates
PKI="$STATE/pki"
mkdir -p "$PKI"
( umask 077
  # The nodes' CA: signs the kubelets' serving certificates and the apiserver's kubelet client certificate.
  openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/node-ca.key" 2>/dev/null
  openssl req -x509 -new -key "$PKI/node-ca.key" -sha256 -days 3650 -subj "/CN=gohealth-e2e-node-ca" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
      -out "$PKI/node-ca.crt" 2>/dev/null ) || die "openssl failed"
sign_cert "$PKI/node-ca" "$PKI/apiserver-kubelet-client" "/O=system:masters/CN=kube-apiserver-kubelet-client" clientAuth ""

# ------------------------------------------------------------ control plane
"$REPO/e2e/controlplane/start.sh" "$STATE/cp" \
    --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" \
    --kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority="$PKI/node-ca.crt" \
    --kubelet-preferred-address-types=InternalIP \
    --profiling=true >&2
# shellcheck disable=SC1091
source "$STATE/cp/env"
CA="$STATE/cp/pki/ca"
# No pod network here: this policy puts every pod on its node's network (see the file).
sed "s/@APISERVER_PORT@/$APISERVER_PORT/" "$HERE/host-network-policy.yaml" |
    kubectl --kubeconfig "$STATE/cp/kubeconfig" apply -f - >/dev/null || die "cannot apply host-network-policy.yaml"
T_CP=$(now)

component_kubeconfig() { # name CN O
    sign_cert "$CA" "$PKI/$1" "${3:+/O=$3}/CN=$2" clientAuth ""
    kubeconfig_for "$STATE/$1.kubeconfig" "$APISERVER_URL" "$CA.crt" "$PKI/$1.crt" "$PKI/$1.key"
}

# kube-controller-manager and kube-scheduler run as kubeadm runs them: static pods of node 1 (their mirror
# pods in kube-system carry component=<name>), host network, secure ports with delegated authentication and
# authorization, profiling on (the default). Their serving certificates are signed by the cluster CA, so a
# client can verify them. The binaries and files come from the host by read-only hostPath mounts; the image is
# the sandbox image (one static binary runs in it as well as in any other).
STATIC="$STATE/static"
mkdir -p "$STATIC/manifests"
read -r KCM_PORT SCHED_PORT < <(free_ports 2)
static_pod() { # name port args...
    local name="$1" port="$2" dir="$STATIC/$1"; shift 2
    mkdir -p "$dir"
    component_kubeconfig "$name" "system:$name" ""
    sed -e "s#$PKI/$name#/etc/kubernetes/$name#g" -e "s#$CA.crt#/etc/kubernetes/ca.crt#" \
        "$STATE/$name.kubeconfig" > "$dir/kubeconfig"
    cp "$PKI/$name.crt" "$PKI/$name.key" "$CA.crt" "$dir/"
    sign_cert "$CA" "$dir/serving" "/CN=$name" serverAuth "IP:127.0.0.1,DNS:localhost"
    chmod 0644 "$dir"/*.crt "$dir/kubeconfig"
    local args="" a
    for a in "$@"; do args+="        - \"$a\""$'\n'; done
    cat > "$STATIC/manifests/$name.yaml" <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: $name
  namespace: kube-system
  labels: {component: $name, tier: control-plane}
spec:
  hostNetwork: true
  containers:
    - name: $name
      image: $PAUSE_IMAGE
      imagePullPolicy: Never
      # The sandbox image's user cannot read the keys (0600, root), as on a kubeadm node.
      securityContext: {runAsUser: 0}
      command:
        - /usr/local/bin/$name
        - --kubeconfig=/etc/kubernetes/kubeconfig
        - --authentication-kubeconfig=/etc/kubernetes/kubeconfig
        - --authorization-kubeconfig=/etc/kubernetes/kubeconfig
        - --bind-address=127.0.0.1
        - --secure-port=$port
        - --tls-cert-file=/etc/kubernetes/serving.crt
        - --tls-private-key-file=/etc/kubernetes/serving.key
        - --leader-elect=false
$args      volumeMounts:
        - {name: bin, mountPath: /usr/local/bin/$name, readOnly: true}
        - {name: config, mountPath: /etc/kubernetes, readOnly: true}
  volumes:
    - {name: bin, hostPath: {path: $BIN/$name, type: File}}
    - {name: config, hostPath: {path: $dir, type: Directory}}
EOF
}
mkdir -p "$STATIC/kube-controller-manager"
cp "$STATE/cp/pki/sa.key" "$STATIC/kube-controller-manager/sa.key"
static_pod kube-controller-manager "$KCM_PORT" \
    --use-service-account-credentials=true \
    --service-account-private-key-file=/etc/kubernetes/sa.key \
    --root-ca-file=/etc/kubernetes/ca.crt \
    --service-cluster-ip-range=10.96.0.0/16 \
    '--controllers=*,-nodeipam'
static_pod kube-scheduler "$SCHED_PORT"

# ------------------------------------------------------------------- nodes
CGROUP_CONTROLLERS=()
while read -r c; do CGROUP_CONTROLLERS+=("$c"); done < <(cgroup_v1_dirs)
[[ ${#CGROUP_CONTROLLERS[@]} -gt 0 ]] || die "no cgroup v1 hierarchy under /sys/fs/cgroup (cgroup v2 hosts are not supported yet)"
CG_ID="gohealth-e2e-$(echo "$STATE" | sha256sum | cut -c1-8)"

for i in $(seq "$NODES"); do
    NODE="127.0.0.$i"
    ND="$STATE/node$i"
    CD="$ND/containerd"
    mkdir -p "$CD" "$ND/cni/net.d" "$ND/cni/bin" "$ND/kubelet" "$ND/pod-logs"
    CGROOT="/$CG_ID-node$i"
    for d in "${CGROUP_CONTROLLERS[@]}"; do
        mkdir -p "$d$CGROOT"
        # A new cpuset cgroup starts with no CPUs and memory nodes: copy them from the parent.
        if [[ -f "$d/cpuset.cpus" && ! -s "$d$CGROOT/cpuset.cpus" ]] || [[ -f "$d/cpuset.cpus" && -z "$(tr -d '\n' < "$d$CGROOT/cpuset.cpus")" ]]; then
            cat "$d/cpuset.cpus" > "$d$CGROOT/cpuset.cpus"
            cat "$d/cpuset.mems" > "$d$CGROOT/cpuset.mems"
        fi
    done
    echo "$CGROOT" > "$ND/cgroup-root"

    # Loopback only: pods run with hostNetwork; this makes the runtime report its network Ready.
    cat > "$ND/cni/net.d/10-loopback.conflist" <<EOF
{"cniVersion": "1.0.0", "name": "gohealth-e2e-loopback", "plugins": [{"type": "loopback"}]}
EOF
    cat > "$CD/config.toml" <<EOF
version = 2
root = "$CD/root"
state = "$CD/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "$CD/containerd.sock"
[ttrpc]
  address = "$CD/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$CD/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  disable_apparmor = true
  # Lowering oom_score_adj (the kubelet asks -998 for sandboxes) is denied on some hosts (no CAP_SYS_RESOURCE
  # in a VM sandbox): clamp to containerd's own value instead of failing every pod.
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$CD/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$ND/cni/bin"
    conf_dir = "$ND/cni/net.d"
EOF
    launch "containerd$i" containerd --config "$CD/config.toml" --log-level warn >/dev/null
    ok=""
    for _ in $(seq 200); do
        alive "$(pid_of "containerd$i")" || break
        if ctr --address "$CD/containerd.sock" version >/dev/null 2>&1; then ok=1; break; fi
        sleep 0.05
    done
    [[ -n "$ok" ]] || { tail -n 30 "$STATE/containerd$i.log" >&2; die "containerd for node $NODE did not start"; }
    ctr --address "$CD/containerd.sock" -n k8s.io images import --no-unpack=false "$PAUSE_TAR" >/dev/null \
        || die "importing the pause image into node $NODE failed"

    sign_cert "$CA" "$PKI/kubelet$i" "/O=system:nodes/CN=system:node:$NODE" clientAuth ""
    kubeconfig_for "$ND/kubelet.kubeconfig" "$APISERVER_URL" "$CA.crt" "$PKI/kubelet$i.crt" "$PKI/kubelet$i.key"
    sign_cert "$PKI/node-ca" "$PKI/kubelet$i-serving" "/CN=$NODE" serverAuth "IP:$NODE"
    read -r KUBELET_PORT KUBELET_HEALTHZ_PORT < <(free_ports 2)
    cat > "$ND/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ_PORT
tlsCertFile: $PKI/kubelet$i-serving.crt
tlsPrivateKeyFile: $PKI/kubelet$i-serving.key
# As kubeadm configures it: ServiceAccount tokens checked by TokenReview, every request authorized by a
# SubjectAccessReview (/debug/pprof needs nodes/proxy).
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true, cacheTTL: 30s}
  x509: {clientCAFile: $PKI/node-ca.crt}
authorization:
  mode: Webhook
# This machine has cgroup v1 only.
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: $CGROOT
cgroupsPerQOS: true
enforceNodeAllocatable: [pods]
containerRuntimeEndpoint: unix://$CD/containerd.sock
podLogsDir: $ND/pod-logs
failSwapOn: false
registerNode: true
rotateCertificates: false
serverTLSBootstrap: false
syncFrequency: 10s
nodeStatusUpdateFrequency: 5s
# A developer disk is often fuller than a node's: evict and collect images only when it is nearly full.
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
# and recover quickly once space is freed (the default keeps the taint for 5 minutes).
evictionPressureTransitionPeriod: 30s
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
maxPods: 50
EOF
    [[ $i == 1 ]] && echo "staticPodPath: $STATIC/manifests" >> "$ND/kubelet.yaml"
    launch "kubelet$i" "$BIN/kubelet" \
        --config="$ND/kubelet.yaml" \
        --kubeconfig="$ND/kubelet.kubeconfig" \
        --root-dir="$ND/kubelet" \
        --cert-dir="$ND/kubelet/pki" \
        --hostname-override="$NODE" \
        --v=1 >/dev/null
done

# ----------------------------------------------------------------- wait
deadline=$(( $(date +%s) + READY_TIMEOUT ))
ready=0
while (( $(date +%s) < deadline )); do
    for n in $(for i in $(seq "$NODES"); do echo "containerd$i kubelet$i"; done); do
        alive "$(pid_of "$n")" || { tail -n 40 "$STATE/$n.log" >&2; die "$n exited during startup (log: $STATE/$n.log)"; }
    done
    ready="$(kubectl --kubeconfig "$STATE/cp/kubeconfig" get nodes \
        -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' 2>/dev/null | grep -c '^True$' || true)"
    (( ready >= NODES )) && break
    sleep 0.2
done
(( ready >= NODES )) || { kubectl --kubeconfig "$STATE/cp/kubeconfig" describe nodes >&2 || true; for i in $(seq "$NODES"); do tail -n 30 "$STATE/kubelet$i.log" >&2; done; die "nodes not Ready after ${READY_TIMEOUT}s"; }
T_NODES=$(now)
# The policy is live once the apiserver's informer has it: a server-side dry run shows when.
for _ in $(seq 100); do
    hn="$(kubectl --kubeconfig "$STATE/cp/kubeconfig" -n default run policy-probe --image="$PAUSE_IMAGE" \
        --restart=Never --dry-run=server -o jsonpath='{.spec.hostNetwork}' 2>/dev/null || true)"
    [[ "$hn" == true ]] && break
    sleep 0.1
done
[[ "$hn" == true ]] || die "host-network-policy.yaml does not take effect (pods would have no network)"
# The default ServiceAccount appears shortly after the controller-manager starts; pods need it.
for _ in $(seq 900); do
    kubectl --kubeconfig "$STATE/cp/kubeconfig" -n default get serviceaccount default >/dev/null 2>&1 && break
    sleep 0.1
done

cp "$STATE/cp/kubeconfig" "$STATE/kubeconfig"
{
    printf 'STATE_DIR=%q\n' "$STATE"
    printf 'KUBECONFIG=%q\n' "$STATE/kubeconfig"
    printf 'APISERVER_URL=%q\n' "$APISERVER_URL"
    printf 'APISERVER_PORT=%q\n' "$APISERVER_PORT"
    printf 'CA_FILE=%q\n' "$CA.crt"
    printf 'NODES=%q\n' "$NODES"
    printf 'CGROUP_ID=%q\n' "$CG_ID"
    printf 'PAUSE_IMAGE=%q\n' "$PAUSE_IMAGE"
} > "$STATE/cluster.env"
FAILED=0
log "$NODES node(s) Ready in $(elapsed "$T0" "$T_NODES")s (binaries/images checked $(elapsed "$T0" "$T_BUILD")s, control plane $(elapsed "$T_BUILD" "$T_CP")s, components and nodes $(elapsed "$T_CP" "$T_NODES")s)"
log "use: export KUBECONFIG=$STATE/kubeconfig; e2e/cluster/load-images.sh $STATE TAR...; e2e/cluster/stop.sh $STATE"
