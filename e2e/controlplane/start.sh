#!/usr/bin/env bash
# Start a throw-away etcd + kube-apiserver on 127.0.0.1 (free ports).
#
# Usage: e2e/controlplane/start.sh STATE_DIR [extra kube-apiserver args...]
#
# Writes STATE_DIR/{kubeconfig,env,etcd.pid,apiserver.pid,etcd.log,apiserver.log}
# and returns once /readyz is ok (processes keep running; stop with stop.sh).
# Env: GOHEALTH_CACHE (see build.sh), CONTROLPLANE_BIN_DIR (use prebuilt
# binaries from this dir instead of running build.sh),
# CONTROLPLANE_READY_TIMEOUT (seconds, default 90).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if [[ $# -lt 1 || "$1" == -* ]]; then
    echo "usage: $0 STATE_DIR [extra kube-apiserver args...]" >&2
    exit 2
fi
mkdir -p "$1"
STATE="$(cd "$1" && pwd)"
shift
EXTRA_ARGS=("$@")
READY_TIMEOUT="${CONTROLPLANE_READY_TIMEOUT:-90}"
T_START=$(date +%s.%N)

log() { echo "start.sh: $*" >&2; }
die() { log "$*"; exit 1; }

# Running and not a zombie.
alive() {
    [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null || return 1
    local st
    st="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null || true)"
    [[ -n "$st" && "$st" != Z ]]
}
pid_of() { [[ -f "$STATE/$1.pid" ]] && cat "$STATE/$1.pid" || true; }

for c in openssl python3 curl setsid; do
    command -v "$c" >/dev/null || die "$c not found"
done

if alive "$(pid_of apiserver)" || alive "$(pid_of etcd)"; then
    die "a control plane is already running for $STATE (run stop.sh $STATE first)"
fi

# ---------------------------------------------------------------- binaries
if [[ -n "${CONTROLPLANE_BIN_DIR:-}" ]]; then
    BIN="$CONTROLPLANE_BIN_DIR"
else
    "$HERE/build.sh" >&2
    BIN="$("$HERE/build.sh" --print-bin-dir)"
fi
[[ -x "$BIN/etcd" && -x "$BIN/kube-apiserver" ]] || die "missing binaries in $BIN"

# ------------------------------------------------- certificates and tokens
# Generated once per STATE_DIR and reused on restart (etcd data persists).
PKI="$STATE/pki"
mkdir -p "$PKI"
if [[ ! -s "$PKI/ca.crt" || ! -s "$PKI/apiserver.crt" || ! -s "$PKI/sa.key" ]]; then
    (
        cd "$PKI"
        umask 077
        openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
        openssl req -x509 -new -key ca.key -sha256 -days 3650 -subj "/CN=gohealth-e2e-ca" \
            -addext "basicConstraints=critical,CA:TRUE" \
            -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
            -addext "subjectKeyIdentifier=hash" \
            -out ca.crt 2>/dev/null
        openssl ecparam -name prime256v1 -genkey -noout -out apiserver.key 2>/dev/null
        openssl req -new -key apiserver.key -subj "/CN=kube-apiserver" -out apiserver.csr 2>/dev/null
        cat > apiserver.ext <<'EOF'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:10.96.0.1
EOF
        openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
            -sha256 -days 3650 -extfile apiserver.ext -out apiserver.crt 2>/dev/null
        # Service-account token signing key (ES256) and its public half.
        openssl ecparam -name prime256v1 -genkey -noout -out sa.key 2>/dev/null
        openssl ec -in sa.key -pubout -out sa.pub 2>/dev/null
        chmod 644 ca.crt apiserver.crt sa.pub
    ) || die "openssl failed"
fi
if [[ ! -s "$PKI/admin.token" ]]; then
    (umask 077; openssl rand -hex 32 > "$PKI/admin.token")
fi
ADMIN_TOKEN="$(cat "$PKI/admin.token")"
# token,user,uid,"group1,group2"
printf '%s,admin,admin,"system:masters"\n' "$ADMIN_TOKEN" > "$PKI/tokens.csv"
chmod 600 "$PKI/tokens.csv"

# ------------------------------------------------------------------ helpers
free_ports() { # prints N distinct free TCP ports on 127.0.0.1
    python3 -c '
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
' "$1"
}

# Start "$@" in its own session, detached from our stdio, logging to $2.log
# and writing the real pid (after exec) to $1.pid.
launch() {
    local name="$1"; shift
    rm -f "$STATE/$name.pid"
    setsid bash -c 'echo $$ > "$1"; shift; exec "$@"' _ "$STATE/$name.pid" "$@" \
        </dev/null >>"$STATE/$name.log" 2>&1 &
    local i
    for i in $(seq 100); do [[ -s "$STATE/$name.pid" ]] && break; sleep 0.02; done
    cat "$STATE/$name.pid"
}

kill_wait() { # pid: TERM, wait up to 10 s, KILL
    local pid="$1" i
    alive "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 100); do alive "$pid" || return 0; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
}

ETCD_PID=""
APISERVER_PID=""
cleanup_on_error() {
    local rc=$?
    if [[ $rc -ne 0 ]]; then
        kill_wait "$APISERVER_PID"
        kill_wait "$ETCD_PID"
        rm -f "$STATE/apiserver.pid" "$STATE/etcd.pid"
    fi
}
trap cleanup_on_error EXIT

# --------------------------------------------------------------------- etcd
mkdir -p "$STATE/etcd"
chmod 700 "$STATE/etcd"
for attempt in 1 2 3; do
    read -r ETCD_PORT ETCD_PEER_PORT < <(free_ports 2)
    ETCD_URL="http://127.0.0.1:$ETCD_PORT"
    echo "---- start attempt $attempt $(date -u +%FT%TZ)" >>"$STATE/etcd.log"
    ETCD_PID="$(launch etcd "$BIN/etcd" \
        --name default \
        --data-dir "$STATE/etcd" \
        --listen-client-urls "$ETCD_URL" \
        --advertise-client-urls "$ETCD_URL" \
        --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
        --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
        --initial-cluster "default=http://127.0.0.1:$ETCD_PEER_PORT" \
        --initial-cluster-state new \
        --unsafe-no-fsync \
        --quota-backend-bytes $((2 * 1024 * 1024 * 1024)) \
        --log-level warn)"
    ok=""
    for i in $(seq 300); do
        alive "$ETCD_PID" || break
        if curl -fsS --max-time 1 "$ETCD_URL/health" 2>/dev/null | grep -q '"health":"true"'; then
            ok=1; break
        fi
        sleep 0.1
    done
    [[ -n "$ok" ]] && break
    kill_wait "$ETCD_PID"; ETCD_PID=""
    if ! tail -n 30 "$STATE/etcd.log" | grep -q "address already in use"; then
        tail -n 40 "$STATE/etcd.log" >&2
        die "etcd did not become healthy"
    fi
    log "etcd port race, retrying"
done
[[ -n "$ETCD_PID" ]] || { tail -n 40 "$STATE/etcd.log" >&2; die "etcd failed to start"; }

# --------------------------------------------------------------- apiserver
write_kubeconfig() { # port
    local tmp="$STATE/kubeconfig.tmp"
    cat > "$tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: gohealth-e2e
  cluster:
    server: https://127.0.0.1:$1
    certificate-authority-data: $(base64 -w0 < "$PKI/ca.crt")
users:
- name: admin
  user:
    token: $ADMIN_TOKEN
contexts:
- name: gohealth-e2e
  context:
    cluster: gohealth-e2e
    user: admin
    namespace: default
current-context: gohealth-e2e
EOF
    chmod 600 "$tmp"
    mv -f "$tmp" "$STATE/kubeconfig"
}

readyz() { # prints the body of /readyz (empty on failure)
    if command -v kubectl >/dev/null; then
        kubectl --kubeconfig "$STATE/kubeconfig" --request-timeout=2s get --raw /readyz 2>/dev/null || true
    else
        curl -sS --max-time 2 --cacert "$PKI/ca.crt" -H "Authorization: Bearer $ADMIN_TOKEN" \
            "https://127.0.0.1:$APISERVER_PORT/readyz" 2>/dev/null || true
    fi
}

SA_ISSUER="https://kubernetes.default.svc.cluster.local"
for attempt in 1 2 3; do
    read -r APISERVER_PORT < <(free_ports 1)
    APISERVER_URL="https://127.0.0.1:$APISERVER_PORT"
    APISERVER_ARGS=(
        --etcd-servers="$ETCD_URL"
        --bind-address=127.0.0.1
        --advertise-address=127.0.0.1
        --endpoint-reconciler-type=none
        --secure-port="$APISERVER_PORT"
        --cert-dir="$PKI"
        --tls-cert-file="$PKI/apiserver.crt"
        --tls-private-key-file="$PKI/apiserver.key"
        --client-ca-file="$PKI/ca.crt"
        --token-auth-file="$PKI/tokens.csv"
        --authorization-mode=Node,RBAC
        --service-cluster-ip-range=10.96.0.0/16
        --service-account-issuer="$SA_ISSUER"
        --service-account-key-file="$PKI/sa.pub"
        --service-account-signing-key-file="$PKI/sa.key"
        --api-audiences="$SA_ISSUER"
        --allow-privileged=true
        --profiling=false
        "${EXTRA_ARGS[@]}"
    )
    write_kubeconfig "$APISERVER_PORT"
    echo "---- start attempt $attempt $(date -u +%FT%TZ)" >>"$STATE/apiserver.log"
    APISERVER_PID="$(launch apiserver "$BIN/kube-apiserver" "${APISERVER_ARGS[@]}")"
    ok=""
    deadline=$(( $(date +%s) + READY_TIMEOUT ))
    while (( $(date +%s) < deadline )); do
        alive "$APISERVER_PID" || break
        if [[ "$(readyz)" == "ok" ]]; then ok=1; break; fi
        sleep 0.25
    done
    [[ -n "$ok" ]] && break
    if ! alive "$APISERVER_PID" && tail -n 30 "$STATE/apiserver.log" | grep -q "address already in use"; then
        APISERVER_PID=""
        log "apiserver port race, retrying"
        continue
    fi
    if alive "$APISERVER_PID"; then
        log "kube-apiserver not ready after ${READY_TIMEOUT}s; failing checks and last log lines:"
        curl -sS --max-time 2 --cacert "$PKI/ca.crt" -H "Authorization: Bearer $ADMIN_TOKEN" \
            "$APISERVER_URL/readyz?verbose" 2>&1 | grep -v '^\[+\]' >&2 || true
    else
        log "kube-apiserver exited during startup; last log lines ($STATE/apiserver.log):"
    fi
    tail -n 60 "$STATE/apiserver.log" >&2
    exit 1
done
[[ -n "$APISERVER_PID" ]] || { tail -n 60 "$STATE/apiserver.log" >&2; die "apiserver failed to start"; }

# --------------------------------------------------------------------- env
{
    printf 'STATE_DIR=%q\n' "$STATE"
    printf 'KUBECONFIG=%q\n' "$STATE/kubeconfig"
    printf 'APISERVER_URL=%q\n' "$APISERVER_URL"
    printf 'APISERVER_PORT=%q\n' "$APISERVER_PORT"
    printf 'ETCD_URL=%q\n' "$ETCD_URL"
    printf 'ETCD_PID=%q\n' "$ETCD_PID"
    printf 'APISERVER_PID=%q\n' "$APISERVER_PID"
    printf 'CA_FILE=%q\n' "$PKI/ca.crt"
    printf 'ADMIN_TOKEN=%q\n' "$ADMIN_TOKEN"
    printf 'SA_ISSUER=%q\n' "$SA_ISSUER"
    printf 'APISERVER_BIN=%q\n' "$BIN/kube-apiserver"
    printf 'APISERVER_ARGS=('
    printf ' %q' "${APISERVER_ARGS[@]}"
    printf ' )\n'
} > "$STATE/env.tmp"
mv -f "$STATE/env.tmp" "$STATE/env"

T_END=$(date +%s.%N)
log "ready in $(python3 -c "print(f'{$T_END - $T_START:.1f}')")s: $APISERVER_URL (etcd $ETCD_URL, pids $ETCD_PID/$APISERVER_PID)"
log "use: source $STATE/env  # or: kubectl --kubeconfig $STATE/kubeconfig ..."
