#!/usr/bin/env python3
"""Creates N Pod objects in NAMESPACE and marks them Running with loopback pod IPs (bench/scale only: no
kubelet runs them; the programs behind the IPs are the benchmark's own servers on 0.0.0.0).

usage: pods.py APISERVER_URL TOKEN_FILE CA_FILE NAMESPACE LABEL_VALUE START COUNT PORT[,PORT...] [OWNER]

Pod i gets IP 127.(1 + i / 65536).(i / 256 % 256).(i % 256 or 1), port PORTS[i % len(PORTS)], label
scale=LABEL_VALUE; OWNER (a Deployment name) adds the owner reference of a ReplicaSet OWNER-<hash>, so
findings group per workload as they do for real Deployments.
"""
import concurrent.futures
import http.client
import json
import ssl
import sys
import threading
import urllib.parse

url, token_file, ca, ns, label, start, count, ports = sys.argv[1:9]
owner = sys.argv[9] if len(sys.argv) > 9 else ""
token = open(token_file).read().strip()
start, count = int(start), int(count)
ports = [int(p) for p in ports.split(",")]
ctx = ssl.create_default_context(cafile=ca)
server = urllib.parse.urlsplit(url)
local = threading.local()


def call(method, path, body, content_type="application/json"):
    # One kept-alive connection per thread: a TLS handshake per request made 10,000 pods take minutes.
    for attempt in range(2):
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = http.client.HTTPSConnection(server.hostname, server.port, context=ctx, timeout=30)
        try:
            conn.request(method, path, body=json.dumps(body).encode(),
                         headers={"Authorization": "Bearer " + token, "Content-Type": content_type})
            r = conn.getresponse()
            data = r.read()
        except (http.client.HTTPException, OSError):
            conn.close()
            local.conn = None
            if attempt:
                raise
            continue
        if r.status >= 300:
            raise RuntimeError("%s %s: HTTP %d %s" % (method, path, r.status, data[:200]))
        return


def ip_of(i):
    n = i + 1
    return "127.%d.%d.%d" % (1 + n // 65536, (n // 256) % 256, n % 256 or 1)


def one(i):
    name = "%s-%05d" % (label, i)
    meta = {"name": name, "namespace": ns, "labels": {"scale": label}}
    if owner:
        meta["labels"]["pod-template-hash"] = "5d8f7c9b6"
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner + "-5d8f7c9b6",
                                    "uid": "00000000-0000-0000-0000-%012d" % (hash(owner) % 10**12), "controller": True}]
    port = ports[i % len(ports)]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
           "spec": {"containers": [{"name": "app", "image": "example.invalid/go-app:1",
                                    "ports": [{"name": "pprof", "containerPort": port}]}]}}
    call("POST", "/api/v1/namespaces/%s/pods" % ns, pod)
    ip = ip_of(i)
    status = {"status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}], "hostIP": "127.0.0.1",
                         "startTime": "2026-01-01T00:00:00Z",
                         "containerStatuses": [{"name": "app", "image": "example.invalid/go-app:1", "imageID": "",
                                                "ready": True, "restartCount": 0, "started": True,
                                                "state": {"running": {"startedAt": "2026-01-01T00:00:06Z"}}}]}}
    call("PATCH", "/api/v1/namespaces/%s/pods/%s/status" % (ns, name), status, "application/merge-patch+json")


with concurrent.futures.ThreadPoolExecutor(16) as pool:
    for f in concurrent.futures.as_completed([pool.submit(one, i) for i in range(start, start + count)]):
        f.result()
