#!/usr/bin/env bash
# Run unmodified upstream Go programs (gohealth.local/upstream:e2e, e2e/upstream/build.sh) as Deployments in
# NAMESPACE of the cluster started by e2e/cluster/start.sh, under load, so the operator audits them like any
# workload. Audited pods are labelled app.kubernetes.io/part-of=upstream and name their pprof port "pprof":
#   etcd          Debian etcd-server, --enable-pprof: /debug/pprof on the client URL
#   prometheus    Debian prometheus: /debug/pprof on the web port; scrapes the five programs every 10 s
#                 (static targets: Debian builds it without Kubernetes discovery); an always-firing rule
#                 sends alerts to Alertmanager
#   alertmanager  Debian prometheus-alertmanager: /debug/pprof on the web port; notifies the load
#                 generator's webhook receiver
#   coredns       CoreDNS from its Go module: pprof, prometheus, file (zone upstream.test), hosts, cache,
#                 errors, health, reload plugins; no forward (nothing leaves the node)
#   karpenter     Karpenter's KWOK provider (controller-runtime) with its CRDs and the chart's RBAC;
#                 ENABLE_PROFILING puts /debug/pprof on its metrics port. It provisions fake KWOK nodes for
#                 the demand Deployment (pause pods pinned to its NodePool) and reconciles them.
# The load generator (e2e/fleet/cmd/loadgen, ours) is labelled part-of=upstream-load and has no pprof port,
# so it is not audited; so is the demand Deployment. Every program runs on the first node and binds that
# node's own 127.0.0.x address on a free port (no pod network here, see README.md); Karpenter's manager
# takes only a port, so it listens on every address of the node.
#
# Usage: e2e/cluster/deploy-upstream.sh STATE_DIR NAMESPACE
# Returns once every pod is Running and each pprof endpoint answers; prints the endpoints.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
[[ $# -eq 2 ]] || { echo "usage: $0 STATE_DIR NAMESPACE" >&2; exit 2; }
STATE="$(cd "$1" && pwd)"
NS="$2"
# shellcheck source=lib.sh
source "$HERE/lib.sh"
CLUSTER_LOG_PREFIX="cluster deploy-upstream"
export KUBECONFIG="$STATE/kubeconfig"
t0=$(now)
IMAGE="$("$HERE/../images/build.sh" --print-image upstream)"
CRDS="$(dirname "$(bash "$HERE/../upstream/build.sh" --print-bin)")/crds"
ls "$CRDS"/karpenter.sh_nodepools.yaml >/dev/null 2>&1 || die "no Karpenter CRDs in $CRDS (run e2e/upstream/build.sh)"

# The first node (sorted by name): every program runs there, at its address.
NODE="$(kubectl get nodes -l '!karpenter.sh/nodepool' -o jsonpath='{.items[*].metadata.name}' | tr ' ' '\n' | sort | head -1)"
[[ -n "$NODE" ]] || die "no node"
IP="$(kubectl get node "$NODE" -o jsonpath='{.status.addresses[?(@.type=="InternalIP")].address}')"
[[ "$IP" == 127.* ]] || die "node $NODE has address '$IP', not a loopback one"
read -r ETCD ETCD_PEER PROM AM DNS DNS_PPROF DNS_METRICS DNS_HEALTH KARP KARP_HEALTH HOOK < <(free_ports 11)

# Shared pod fields: the first node, non-root, read-only root.
pod_spec_head() { # serviceAccountName automount
    cat <<YAML
      serviceAccountName: $1
      automountServiceAccountToken: $2
      nodeSelector: {kubernetes.io/hostname: "$NODE"}
      terminationGracePeriodSeconds: 5
      securityContext:
        runAsNonRoot: true
        runAsUser: 65532
        runAsGroup: 65532
        seccompProfile: {type: RuntimeDefault}
YAML
}
container_security() {
    cat <<YAML
          imagePullPolicy: Never
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: {drop: [ALL]}
YAML
}
meta() { # name part-of [scrape port]
    echo "  name: $1"
    echo "  namespace: $NS"
    echo "  labels: {app: $1, app.kubernetes.io/part-of: $2}"
    echo "spec:"
    echo "  replicas: 1"
    echo "  strategy: {type: Recreate}"
    echo "  selector: {matchLabels: {app: $1}}"
    echo "  template:"
    echo "    metadata:"
    echo "      labels: {app: $1, app.kubernetes.io/part-of: $2}"
    if [[ -n "${3:-}" ]]; then
        echo "      annotations: {prometheus.io/scrape: \"true\", prometheus.io/port: \"$3\"}"
    fi
    echo "    spec:"
}

manifests() {
    cat <<YAML
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: karpenter, namespace: $NS}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: loadgen, namespace: $NS}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: loadgen, namespace: $NS}
rules:
  - {apiGroups: [apps], resources: [deployments/scale], verbs: [get, patch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: loadgen, namespace: $NS}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: loadgen}
subjects: [{kind: ServiceAccount, name: loadgen, namespace: $NS}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: upstream-e2e-loadgen-$NS}
rules:
  - {apiGroups: [karpenter.sh], resources: [nodepools], verbs: [get, patch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: upstream-e2e-loadgen-$NS}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: upstream-e2e-loadgen-$NS}
subjects: [{kind: ServiceAccount, name: loadgen, namespace: $NS}]
YAML
    karpenter_rbac
    cat <<YAML
---
apiVersion: v1
kind: ConfigMap
metadata: {name: prometheus, namespace: $NS}
data:
  prometheus.yml: |
    global: {scrape_interval: 10s, evaluation_interval: 10s}
    rule_files: [/etc/prometheus/rules.yml]
    alerting:
      alertmanagers: [{static_configs: [{targets: ["$IP:$AM"]}]}]
    # Debian builds Prometheus without Kubernetes service discovery: the targets are static.
    scrape_configs:
      - job_name: prometheus
        static_configs: [{targets: ["$IP:$PROM"]}]
      - job_name: etcd
        static_configs: [{targets: ["$IP:$ETCD"]}]
      - job_name: alertmanager
        static_configs: [{targets: ["$IP:$AM"]}]
      - job_name: coredns
        static_configs: [{targets: ["$IP:$DNS_METRICS"]}]
      - job_name: karpenter
        static_configs: [{targets: ["$IP:$KARP"]}]
  rules.yml: |
    groups:
      - name: upstream-e2e
        rules:
          - alert: UpstreamE2EWatchdog
            expr: vector(1)
            labels: {severity: none}
            annotations: {summary: "Always firing: Alertmanager always has something to route."}
          - alert: UpstreamTargetDown
            expr: up == 0
            for: 1m
            labels: {severity: warning}
          - record: job:go_goroutines:sum
            expr: sum by (job) (go_goroutines)
          - record: job:process_cpu_seconds:rate1m
            expr: sum by (job) (rate(process_cpu_seconds_total[1m]))
---
apiVersion: v1
kind: ConfigMap
metadata: {name: alertmanager, namespace: $NS}
data:
  alertmanager.yml: |
    route:
      receiver: loadgen
      group_by: [alertname, instance]
      group_wait: 5s
      group_interval: 10s
      repeat_interval: 1m
    receivers:
      - name: loadgen
        webhook_configs:
          - {url: "http://$IP:$HOOK/alerts", send_resolved: true}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: coredns, namespace: $NS}
data:
  Corefile: |
    .:$DNS {
        bind $IP
        errors
        health $IP:$DNS_HEALTH
        prometheus $IP:$DNS_METRICS
        pprof $IP:$DNS_PPROF
        cache 30
        reload 30s
        hosts {
            $IP etcd.upstream.test prometheus.local alertmanager.local
            fallthrough
        }
        file /etc/coredns/upstream.test.db upstream.test
    }
  upstream.test.db: |
    \$ORIGIN upstream.test.
    @     3600 IN SOA ns.upstream.test. admin.upstream.test. 2026120101 7200 3600 1209600 60
    @     3600 IN NS  ns
    ns          IN A   $IP
    www         IN A   $IP
    api         IN A   $IP
    api         IN AAAA ::1
    _http._tcp  IN SRV 0 5 80 www
    txt         IN TXT "gohealth e2e zone"
---
apiVersion: apps/v1
kind: Deployment
metadata:
$(meta etcd upstream "$ETCD")
$(pod_spec_head default false)
      containers:
        - name: etcd
          image: $IMAGE
$(container_security)
          command: [/etcd]
          args: [--name=upstream-etcd, --data-dir=/var/lib/etcd/data, --enable-pprof,
                 --listen-client-urls=http://$IP:$ETCD, --advertise-client-urls=http://$IP:$ETCD,
                 --listen-peer-urls=http://$IP:$ETCD_PEER, --initial-advertise-peer-urls=http://$IP:$ETCD_PEER,
                 --initial-cluster=upstream-etcd=http://$IP:$ETCD_PEER,
                 --auto-compaction-mode=revision, --auto-compaction-retention=1000]
          ports: [{name: pprof, containerPort: $ETCD}, {name: peer, containerPort: $ETCD_PEER}]
          volumeMounts: [{name: data, mountPath: /var/lib/etcd}]
          resources: {requests: {cpu: 20m, memory: 64Mi}, limits: {memory: 512Mi}}
      volumes: [{name: data, emptyDir: {}}]
---
apiVersion: apps/v1
kind: Deployment
metadata:
$(meta prometheus upstream "$PROM")
$(pod_spec_head default false)
      containers:
        - name: prometheus
          image: $IMAGE
$(container_security)
          command: [/prometheus]
          args: [--config.file=/etc/prometheus/prometheus.yml, --storage.tsdb.path=/var/lib/prometheus,
                 --storage.tsdb.retention.time=2h, --web.listen-address=$IP:$PROM]
          ports: [{name: pprof, containerPort: $PROM}]
          volumeMounts: [{name: config, mountPath: /etc/prometheus}, {name: data, mountPath: /var/lib/prometheus}]
          resources: {requests: {cpu: 20m, memory: 64Mi}, limits: {memory: 512Mi}}
      volumes: [{name: config, configMap: {name: prometheus}}, {name: data, emptyDir: {}}]
---
apiVersion: apps/v1
kind: Deployment
metadata:
$(meta alertmanager upstream "$AM")
$(pod_spec_head default false)
      containers:
        - name: alertmanager
          image: $IMAGE
$(container_security)
          command: [/alertmanager]
          # An empty cluster address turns the gossip mesh off (one replica).
          args: [--config.file=/etc/alertmanager/alertmanager.yml, --storage.path=/var/lib/alertmanager,
                 --web.listen-address=$IP:$AM, --cluster.listen-address=]
          ports: [{name: pprof, containerPort: $AM}]
          volumeMounts: [{name: config, mountPath: /etc/alertmanager}, {name: data, mountPath: /var/lib/alertmanager}]
          resources: {requests: {cpu: 10m, memory: 32Mi}, limits: {memory: 256Mi}}
      volumes: [{name: config, configMap: {name: alertmanager}}, {name: data, emptyDir: {}}]
---
apiVersion: apps/v1
kind: Deployment
metadata:
$(meta coredns upstream "$DNS_METRICS")
$(pod_spec_head default false)
      containers:
        - name: coredns
          image: $IMAGE
$(container_security)
          command: [/coredns]
          args: [-conf, /etc/coredns/Corefile]
          ports:
            - {name: dns, containerPort: $DNS, protocol: UDP}
            - {name: dns-tcp, containerPort: $DNS, protocol: TCP}
            - {name: pprof, containerPort: $DNS_PPROF}
            - {name: metrics, containerPort: $DNS_METRICS}
            - {name: health, containerPort: $DNS_HEALTH}
          volumeMounts: [{name: config, mountPath: /etc/coredns}]
          resources: {requests: {cpu: 20m, memory: 32Mi}, limits: {memory: 256Mi}}
      volumes: [{name: config, configMap: {name: coredns}}]
---
apiVersion: apps/v1
kind: Deployment
metadata:
$(meta karpenter upstream "$KARP")
$(pod_spec_head karpenter true)
      containers:
        - name: controller
          image: $IMAGE
$(container_security)
          command: [/karpenter-kwok]
          # The environment of the module's own chart (kwok/charts/templates/deployment.yaml).
          env:
            - {name: KUBERNETES_MIN_VERSION, value: "1.19.0-0"}
            - {name: METRICS_PORT, value: "$KARP"}
            - {name: HEALTH_PROBE_PORT, value: "$KARP_HEALTH"}
            - {name: ENABLE_PROFILING, value: "true"}
            - {name: LOG_LEVEL, value: info}
            - {name: SYSTEM_NAMESPACE, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
            - {name: MEMORY_LIMIT, valueFrom: {resourceFieldRef: {containerName: controller, divisor: "0", resource: limits.memory}}}
            - {name: CPU_REQUESTS, valueFrom: {resourceFieldRef: {containerName: controller, divisor: 1m, resource: requests.cpu}}}
          ports: [{name: pprof, containerPort: $KARP}, {name: health, containerPort: $KARP_HEALTH}]
          resources: {requests: {cpu: 50m, memory: 64Mi}, limits: {memory: 512Mi}}
---
apiVersion: apps/v1
kind: Deployment
metadata:
$(meta loadgen upstream-load)
$(pod_spec_head loadgen true)
      containers:
        - name: loadgen
          image: $IMAGE
$(container_security)
          command: [/loadgen]
          args: [-etcd, "http://$IP:$ETCD", -dns, "$IP:$DNS", -prometheus, "http://$IP:$PROM",
                 -alertmanager, "http://$IP:$AM", -listen, "$IP:$HOOK", -namespace, $NS,
                 -demand, karpenter-demand, -nodepool, upstream-demo-$NS]
          ports: [{name: webhook, containerPort: $HOOK}]
          resources: {requests: {cpu: 20m, memory: 32Mi}, limits: {memory: 128Mi}}
---
# Demand for Karpenter: pause pods that fit only its NodePool's (fake) nodes; the load generator scales it.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: karpenter-demand
  namespace: $NS
  labels: {app: karpenter-demand, app.kubernetes.io/part-of: upstream-load}
spec:
  replicas: 0
  selector: {matchLabels: {app: karpenter-demand}}
  template:
    metadata:
      labels: {app: karpenter-demand, app.kubernetes.io/part-of: upstream-load}
    spec:
      automountServiceAccountToken: false
      terminationGracePeriodSeconds: 0
      nodeSelector: {karpenter.sh/nodepool: upstream-demo-$NS}
      containers:
        - name: pause
          image: $PAUSE_IMAGE
          imagePullPolicy: Never
          resources: {requests: {cpu: 500m, memory: 256Mi}}
YAML
}

karpenter_rbac() { # the rules of the module's chart (kwok/charts/templates/{clusterrole,clusterrole-kwok,role}.yaml)
    local cr="upstream-e2e-karpenter-$NS"
    cat <<YAML
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: $cr-core}
rules:
  - {apiGroups: [karpenter.sh], resources: [nodepools, nodepools/status, nodeclaims, nodeclaims/status, nodeoverlays, nodeoverlays/status], verbs: [get, list, watch]}
  - {apiGroups: [autoscaling.x-k8s.io], resources: [capacitybuffers, capacitybuffers/status], verbs: [get, list, watch, update, patch]}
  - {apiGroups: [""], resources: [pods, nodes, persistentvolumes, persistentvolumeclaims, replicationcontrollers, namespaces, podtemplates, services], verbs: [get, list, watch]}
  - {apiGroups: [storage.k8s.io], resources: [storageclasses, csinodes, volumeattachments], verbs: [get, watch, list]}
  - {apiGroups: [apps], resources: [daemonsets, deployments, replicasets, statefulsets], verbs: [get, list, watch]}
  - {apiGroups: [autoscaling.k8s.io], resources: [verticalpodautoscalers], verbs: [get, list, watch]}
  - {apiGroups: [apiextensions.k8s.io], resources: [customresourcedefinitions], verbs: [watch, list]}
  - {apiGroups: [policy], resources: [poddisruptionbudgets], verbs: [get, list, watch]}
  - {apiGroups: [karpenter.sh], resources: [nodeclaims, nodeclaims/status, nodeclaims/finalizers], verbs: [create, delete, update, patch]}
  - {apiGroups: [karpenter.sh], resources: [nodepools, nodepools/status, nodepools/finalizers, nodeoverlays/status], verbs: [update, patch]}
  - {apiGroups: [""], resources: [events], verbs: [create, patch]}
  - {apiGroups: [""], resources: [nodes], verbs: [create, patch, delete, update]}
  - {apiGroups: [""], resources: [nodes/status], verbs: [patch]}
  - {apiGroups: [""], resources: [pods/eviction], verbs: [create]}
  - {apiGroups: [""], resources: [pods], verbs: [delete, patch, update]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: $cr}
rules:
  - {apiGroups: [karpenter.kwok.sh], resources: [kwoknodeclasses], verbs: [get, list, watch]}
  - {apiGroups: [karpenter.kwok.sh], resources: [kwoknodeclasses, kwoknodeclasses/status], verbs: [patch, update]}
YAML
    local r
    for r in "$cr-core" "$cr"; do
        cat <<YAML
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: $r}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: $r}
subjects: [{kind: ServiceAccount, name: karpenter, namespace: $NS}]
YAML
    done
    cat <<YAML
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: karpenter, namespace: $NS}
rules:
  - {apiGroups: [coordination.k8s.io], resources: [leases], verbs: [get, watch]}
  - {apiGroups: [coordination.k8s.io], resources: [leases], verbs: [patch, update], resourceNames: [karpenter-leader-election]}
  - {apiGroups: [coordination.k8s.io], resources: [leases], verbs: [create]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: $cr-dns, namespace: kube-system}
rules:
  - {apiGroups: [""], resources: [services], resourceNames: [kube-dns], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: $cr-lease, namespace: kube-node-lease}
rules:
  - {apiGroups: [coordination.k8s.io], resources: [leases], verbs: [get, list, watch]}
  - {apiGroups: [coordination.k8s.io], resources: [leases], verbs: [delete]}
YAML
    for r in karpenter:$NS "$cr-dns":kube-system "$cr-lease":kube-node-lease; do
        cat <<YAML
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: ${r%%:*}, namespace: ${r#*:}}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: ${r%%:*}}
subjects: [{kind: ServiceAccount, name: karpenter, namespace: $NS}]
YAML
    done
}

# Karpenter's objects: its node class and a NodePool that only the demand pods select, capped so the fake
# nodes stay few. Applied after the CRDs are established.
karpenter_objects() {
    cat <<YAML
---
apiVersion: karpenter.kwok.sh/v1alpha1
kind: KWOKNodeClass
metadata: {name: upstream-$NS}
spec: {nodeRegistrationDelay: 5s}
---
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: upstream-demo-$NS}
spec:
  limits: {cpu: "16"}
  disruption:
    consolidationPolicy: WhenEmptyOrUnderutilized
    consolidateAfter: 30s
    budgets: [{nodes: "50%"}]
  template:
    metadata:
      labels: {upstream.gohealth.dev/demo: "true"}
    spec:
      expireAfter: 15m
      requirements:
        - {key: kubernetes.io/os, operator: In, values: [linux]}
        - {key: karpenter.sh/capacity-type, operator: In, values: [on-demand]}
        - {key: karpenter.kwok.sh/instance-cpu, operator: Lt, values: ["9"]}
      nodeClassRef: {group: karpenter.kwok.sh, kind: KWOKNodeClass, name: upstream-$NS}
YAML
}

kubectl get namespace "$NS" >/dev/null 2>&1 || kubectl create namespace "$NS" >/dev/null
kubectl apply --server-side --force-conflicts -f "$CRDS" >/dev/null || die "cannot apply the Karpenter CRDs"
kubectl wait --for condition=established --timeout=60s -f "$CRDS" >/dev/null || die "Karpenter CRDs not established"
karpenter_objects | kubectl apply -f - >/dev/null || die "cannot create the Karpenter objects"
manifests | kubectl apply -f - >/dev/null || die "cannot apply the upstream Deployments"

declare -A PPROF=([etcd]=$ETCD [prometheus]=$PROM [alertmanager]=$AM [coredns]=$DNS_PPROF [karpenter]=$KARP)
for prog in etcd prometheus alertmanager coredns karpenter; do
    ok=""
    for _ in $(seq 600); do
        if curl -fsS -o /dev/null --max-time 2 "http://$IP:${PPROF[$prog]}/debug/pprof/goroutine?debug=1" 2>/dev/null; then ok=1; break; fi
        sleep 0.2
    done
    if [[ -z "$ok" ]]; then
        kubectl -n "$NS" describe pods -l "app=$prog" >&2 || true
        kubectl -n "$NS" logs -l "app=$prog" --tail=30 >&2 || true
        die "$prog: no pprof answer at http://$IP:${PPROF[$prog]}/debug/pprof/"
    fi
    log "$prog: pprof at http://$IP:${PPROF[$prog]}/debug/pprof/ ($(elapsed "$t0" "$(now)")s)"
done
kubectl -n "$NS" wait --for=condition=Ready pod -l app=loadgen --timeout=60s >/dev/null || die "loadgen not Ready"
log "5 upstream programs and the load generator running in namespace $NS on $NODE in $(elapsed "$t0" "$(now)")s"
