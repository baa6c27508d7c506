#!/usr/bin/env python3
"""Facts about the rendered chart, for e2e/ship/verify.sh (and e2e_ship.rs, which reuses `rbac`).

  chart_facts.py facts DEFAULT.yaml HA.yaml   assert security context, args, RBAC rules, monitoring objects
  chart_facts.py no-monitoring < rendered     assert no ServiceMonitor/PrometheusRule without the API
  chart_facts.py extract-rules RENDERED       print the PrometheusRule's groups as a rules file
  chart_facts.py pod-from-deployment RENDERED print a Pod with the Deployment's pod template
  chart_facts.py rbac RENDERED                print ServiceAccount, (Cluster)Role(Binding)s
  chart_facts.py operator-args RENDERED       print the operator container's args (JSON)
"""

import json
import sys

import yaml

# Exactly what the operator uses (docs/install.md#permissions). A change here is a change of the
# operator's permissions: keep it in step with the chart, the docs and the code.
EXPECTED_CLUSTER_RULES = [
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list"]},
    {"apiGroups": ["gohealth.dev"], "resources": ["gohealthaudits", "clustergohealthaudits"],
     "verbs": ["get", "list", "watch", "patch"]},
    {"apiGroups": ["gohealth.dev"], "resources": ["gohealthaudits/status", "clustergohealthaudits/status"],
     "verbs": ["get", "patch", "update"]},
    {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]},
    {"nonResourceURLs": ["/metrics", "/version"], "verbs": ["get"]},
]
LEASE_RULE = {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
              "verbs": ["get", "create", "update", "patch"]}
AUDIT_OBJECTS_RULE = {"apiGroups": [""], "resources": ["secrets", "configmaps"], "verbs": ["get"]}


def load(path_or_stream):
    text = path_or_stream.read() if hasattr(path_or_stream, "read") else open(path_or_stream).read()
    return [d for d in yaml.safe_load_all(text) if d]


def one(docs, kind, name=None):
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def kinds(docs):
    return sorted(d["kind"] for d in docs)


def check_deployment(docs, leader):
    dep = one(docs, "Deployment")
    pod = dep["spec"]["template"]["spec"]
    psc = pod["securityContext"]
    assert psc["runAsNonRoot"] is True, psc
    assert psc["seccompProfile"]["type"] == "RuntimeDefault", psc
    assert pod["automountServiceAccountToken"] is True
    (c,) = pod["containers"]
    sc = c["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False, sc
    assert sc["readOnlyRootFilesystem"] is True, sc
    assert sc["runAsNonRoot"] is True, sc
    assert sc["capabilities"]["drop"] == ["ALL"], sc
    assert "add" not in sc["capabilities"], sc
    args = c["args"]
    assert args[:3] == ["run", "--metrics-addr", "0.0.0.0:8080"], args
    for flag in ["--per-target-metrics=true", "--max-target-series", "--scrape-concurrency"]:
        assert flag in args, (flag, args)
    if leader:
        i = args.index("--leader-election")
        assert args[i + 1:i + 5] == ["--lease-name", "gohealth-operator", "--lease-namespace", "$(POD_NAMESPACE)"], args
    else:
        assert "--leader-election" not in args, args
        assert dep["spec"]["strategy"]["type"] == "Recreate"
    env = {e["name"]: e for e in c["env"]}
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace", env
    (port,) = c["ports"]
    assert port == {"name": "http-metrics", "containerPort": 8080, "protocol": "TCP"}, port
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    # a standby is never /readyz-ready: with leader election readiness must not block rollouts
    assert c["readinessProbe"]["httpGet"]["path"] == ("/healthz" if leader else "/readyz"), c["readinessProbe"]
    mounts = {m["mountPath"] for m in c["volumeMounts"]}
    assert "/tmp" in mounts, mounts
    return dep


AGGREGATE = "rbac.authorization.k8s.io/aggregate-to-"


def aggregated(role):
    return any(k.startswith(AGGREGATE) for k in role["metadata"].get("labels", {}))


def check_aggregated_roles(docs):
    """Namespace users get the namespaced kind through admin/edit/view, never the cluster-scoped one."""
    roles = [d for d in docs if d["kind"] == "ClusterRole" and aggregated(d)]
    to = sorted(k for r in roles for k in r["metadata"]["labels"] if k.startswith(AGGREGATE))
    assert to == [AGGREGATE + "admin", AGGREGATE + "edit", AGGREGATE + "view"], to
    for r in roles:
        for rule in r["rules"]:
            assert rule["apiGroups"] == ["gohealth.dev"], rule
            assert all(res.startswith("gohealthaudits") for res in rule["resources"]), rule
            assert "*" not in json.dumps(rule), rule


def check_rbac(docs, leader):
    check_aggregated_roles(docs)
    cr = one([d for d in docs if not aggregated(d)], "ClusterRole")
    assert cr["rules"] == EXPECTED_CLUSTER_RULES, json.dumps(cr["rules"], indent=1)
    sa = one(docs, "ServiceAccount")
    for binding in [d for d in docs if d["kind"] in ("ClusterRoleBinding", "RoleBinding")]:
        (subject,) = binding["subjects"]
        assert subject == {"kind": "ServiceAccount", "name": sa["metadata"]["name"],
                           "namespace": sa["metadata"]["namespace"]}, subject
    roles = {(r["metadata"]["namespace"], r["metadata"]["name"]): r for r in docs if r["kind"] == "Role"}
    release = [r for (ns, _), r in roles.items() if ns == sa["metadata"]["namespace"]]
    assert len(release) == 1, roles.keys()
    rules = release[0]["rules"]
    assert (LEASE_RULE in rules) == leader, rules
    assert AUDIT_OBJECTS_RULE in rules, rules
    others = [r for (ns, _), r in roles.items() if ns != sa["metadata"]["namespace"]]
    for r in others:
        assert r["rules"] == [AUDIT_OBJECTS_RULE], r
    # Nothing else anywhere: no wildcards, no write verbs beyond the listed ones.
    for r in [cr] + list(roles.values()):
        for rule in r["rules"]:
            assert "*" not in json.dumps(rule), rule


def check_monitoring(docs):
    svc = one(docs, "Service")
    assert svc["spec"]["ports"] == [{"name": "http-metrics", "port": 8080, "targetPort": "http-metrics",
                                     "protocol": "TCP"}], svc["spec"]["ports"]
    sm = one(docs, "ServiceMonitor")
    (ep,) = sm["spec"]["endpoints"]
    assert ep["port"] == "http-metrics" and ep["path"] == "/metrics" and ep["honorLabels"] is True, ep
    assert sm["spec"]["jobLabel"] == "app.kubernetes.io/name"
    assert sm["spec"]["selector"]["matchLabels"] == svc["spec"]["selector"]
    pr = one(docs, "PrometheusRule")
    alerts = [r["alert"] for g in pr["spec"]["groups"] for r in g["rules"]]
    for a in ["GoHealthGoroutineLeakSuspected", "GoHealthGoroutineLeakProven", "GoHealthRemovedAdmissionPlugin",
              "GoHealthDeprecatedAdmissionPlugin", "GoHealthScrapesFailing", "GoHealthAuditStale",
              "GoHealthOperatorDown"]:
        assert a in alerts, (a, alerts)
    for g in pr["spec"]["groups"]:
        for r in g["rules"]:
            assert r["labels"]["severity"] in ("warning", "critical"), r
            for k in ("summary", "description", "runbook_url"):
                assert r["annotations"].get(k), (r["alert"], k)
    cm = one(docs, "ConfigMap")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1", cm["metadata"]["labels"]
    dash = json.loads(cm["data"]["gohealth.json"])
    names = [v["name"] for v in dash["templating"]["list"]]
    assert names == ["datasource", "job", "namespace", "audit"], names


def facts(default_path, ha_path):
    default = load(default_path)
    ha = load(ha_path)
    crds = sorted((d["metadata"]["name"], d["spec"]["scope"]) for d in default if d["kind"] == "CustomResourceDefinition")
    assert crds == [("clustergohealthaudits.gohealth.dev", "Cluster"), ("gohealthaudits.gohealth.dev", "Namespaced")], crds
    check_deployment(default, leader=False)
    check_rbac(default, leader=False)
    check_monitoring(default)
    assert not [d for d in default if d["kind"] in ("NetworkPolicy", "PodDisruptionBudget")]
    dep = check_deployment(ha, leader=True)
    assert dep["spec"]["replicas"] == 2
    check_rbac(ha, leader=True)
    pdb = one(ha, "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1 and pdb["spec"]["selector"]["matchLabels"] == \
        dep["spec"]["selector"]["matchLabels"], pdb
    np_ = one(ha, "NetworkPolicy")
    assert np_["spec"]["ingress"][0]["ports"] == [{"port": "http-metrics", "protocol": "TCP"}], np_
    # The image's user is the one the chart runs as (a mismatch breaks file ownership assumptions).
    import pathlib
    import re
    dockerfile = (pathlib.Path(__file__).resolve().parents[2] / "Dockerfile").read_text()
    user = re.findall(r"^USER\s+(\d+):(\d+)\s*$", dockerfile, re.M)
    psc = one(default, "Deployment")["spec"]["template"]["spec"]["securityContext"]
    assert user and user[-1] == (str(psc["runAsUser"]), str(psc["runAsGroup"])), (user, psc)
    print("chart facts hold:", ", ".join(kinds(default)))


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "facts":
        facts(*args)
    elif cmd == "no-monitoring":
        docs = load(sys.stdin)
        bad = [d["kind"] for d in docs if d["kind"] in ("ServiceMonitor", "PrometheusRule")]
        assert not bad, f"rendered {bad} although the monitoring.coreos.com API is absent"
        print("no monitoring objects:", ", ".join(kinds(docs)))
    elif cmd == "extract-rules":
        pr = one(load(args[0]), "PrometheusRule")
        print(yaml.safe_dump({"groups": pr["spec"]["groups"]}, sort_keys=False))
    elif cmd == "pod-from-deployment":
        dep = one(load(args[0]), "Deployment")
        tmpl = dep["spec"]["template"]
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": dep["metadata"]["name"] + "-pss-check",
                            "namespace": dep["metadata"]["namespace"], "labels": tmpl["metadata"]["labels"]},
               "spec": tmpl["spec"]}
        print(yaml.safe_dump(pod, sort_keys=False))
    elif cmd == "operator-args":
        # The operator container's args and the rendered-namespace, as JSON (e2e_ship.rs runs exactly these).
        dep = one(load(args[0]), "Deployment")
        (c,) = dep["spec"]["template"]["spec"]["containers"]
        print(json.dumps({"args": c["args"], "namespace": dep["metadata"]["namespace"],
                          "serviceAccount": dep["spec"]["template"]["spec"]["serviceAccountName"]}))
    elif cmd == "rbac":
        docs = [d for d in load(args[0]) if d["kind"] in
                ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")]
        print(yaml.safe_dump_all(docs, sort_keys=False))
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
