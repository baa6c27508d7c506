#!/usr/bin/env python3
"""Generate charts/gohealth-operator/files/dashboards/gohealth.json (the Grafana dashboard).

The dashboard is generated so its many near-identical panels stay consistent; the committed JSON is
what ships. `gen-dashboard.py --check` fails when the committed file differs from the generated one
(e2e/ship/verify.sh runs it). Every panel query must return data against a live operator: the e2e
test (operator/tests/e2e_ship.rs) asks a real Prometheus for each `targets[].expr`.
"""

import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "charts/gohealth-operator/files/dashboards/gohealth.json"

DS = {"type": "prometheus", "uid": "${datasource}"}
# Every gohealth series is filtered by the template variables.
SEL = 'job=~"$job", namespace=~"$namespace", audit=~"$audit"'
JOB = 'job=~"$job"'


def target(expr, legend="", ref="A", instant=False, fmt="time_series"):
    t = {"datasource": DS, "expr": expr, "refId": ref, "legendFormat": legend or "__auto"}
    if instant:
        t.update({"instant": True, "range": False, "format": fmt})
    else:
        t.update({"range": True, "instant": False})
    return t


class Layout:
    def __init__(self):
        self.y = 0
        self.x = 0
        self.row_h = 0
        self.next_id = 1
        self.panels = []

    def _id(self):
        i = self.next_id
        self.next_id += 1
        return i

    def row(self, title):
        self._newline()
        self.panels.append(
            {"type": "row", "title": title, "id": self._id(), "collapsed": False, "panels": [],
             "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y}}
        )
        self.y += 1

    def _newline(self):
        if self.x:
            self.y += self.row_h
            self.x = 0
            self.row_h = 0

    def add(self, panel, w, h):
        if self.x + w > 24:
            self._newline()
        panel["id"] = self._id()
        panel["gridPos"] = {"h": h, "w": w, "x": self.x, "y": self.y}
        panel["datasource"] = DS
        self.panels.append(panel)
        self.x += w
        self.row_h = max(self.row_h, h)


def stat(title, expr, unit="short", description="", thresholds=None):
    steps = thresholds or [{"color": "green", "value": None}]
    return {
        "type": "stat", "title": title, "description": description,
        "targets": [target(expr, instant=True)],
        "fieldConfig": {"defaults": {"unit": unit, "thresholds": {"mode": "absolute", "steps": steps}},
                        "overrides": []},
        "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                    "colorMode": "value", "graphMode": "none", "textMode": "auto"},
    }


def timeseries(title, targets, unit="short", description="", stack=False):
    return {
        "type": "timeseries", "title": title, "description": description, "targets": targets,
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "custom": {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "showPoints": "never",
                           "stacking": {"mode": "normal" if stack else "none", "group": "A"}},
            },
            "overrides": [],
        },
        "options": {"legend": {"displayMode": "table", "placement": "right", "calcs": ["lastNotNull", "max"]},
                    "tooltip": {"mode": "multi", "sort": "desc"}},
    }


def table(title, expr, description="", rename=None):
    return {
        "type": "table", "title": title, "description": description,
        "targets": [target(expr, instant=True, fmt="table")],
        "transformations": [
            {"id": "organize", "options": {"excludeByName": {"Time": True}, "renameByName": rename or {}}}
        ],
        "fieldConfig": {"defaults": {}, "overrides": []},
        "options": {"showHeader": True, "sortBy": [{"displayName": "Value", "desc": True}]},
    }


def build():
    red = [{"color": "green", "value": None}, {"color": "red", "value": 1}]
    amber = [{"color": "green", "value": None}, {"color": "orange", "value": 1}]
    L = Layout()

    L.row("Overview")
    L.add(stat("Audits", f"count(gohealth_audit_last_success_timestamp_seconds{{{SEL}}}) or vector(0)",
               description="GoHealthAudits with a completed audit."), 4, 4)
    L.add(stat("Targets", f"sum(gohealth_targets{{{SEL}}}) or vector(0)",
               description="Pods audited in the last audit of each selected audit."), 4, 4)
    L.add(stat("Failing targets", f'sum(gohealth_targets{{{SEL}, reason!="Ok"}}) or vector(0)',
               thresholds=amber, description="Targets whose last scrape failed."), 4, 4)
    L.add(stat("Critical findings", f'sum(gohealth_findings{{{SEL}, severity="critical"}}) or vector(0)',
               thresholds=red), 4, 4)
    L.add(stat("Warning findings", f'sum(gohealth_findings{{{SEL}, severity="warning"}}) or vector(0)',
               thresholds=amber), 4, 4)
    L.add(stat("Oldest audit", f"max(time() - gohealth_audit_last_success_timestamp_seconds{{{SEL}}})",
               unit="s", description="Time since the least recently completed audit finished."), 4, 4)

    L.row("Goroutines")
    L.add(timeseries("Goroutines per target", [
        target(f"gohealth_target_goroutines{{{SEL}}}", "{{target_namespace}}/{{target_pod}}"),
    ], description="Goroutine total each pod's runtime reported. Capped by --max-target-series "
                   "(see 'Targets without a series')."), 16, 9)
    L.add(timeseries("Goroutines per audit", [
        target(f"sum by (namespace, audit) (gohealth_goroutines{{{SEL}}})", "{{namespace}}/{{audit}}"),
        target(f"sum(gohealth_target_series_omitted{{{SEL}}})", "targets without a series", ref="B"),
    ]), 8, 9)

    L.row("Findings")
    L.add(timeseries("Findings by check and severity", [
        target(f"sum by (check, severity) (gohealth_findings{{{SEL}}})", "{{check}} ({{severity}})"),
    ], stack=True), 12, 9)
    L.add(table("Top leak sites",
                f"topk(10, sum by (namespace, audit, check, function) (gohealth_leak_site_goroutines{{{SEL}}}))",
                description="Functions holding the most leaked goroutines (GoroutineLeak, ProvenGoroutineLeak, "
                            "TickerLoopGrowth, GoexitInDefer, LongBlockedGoroutines), summed over targets.",
                rename={"Value": "goroutines"}), 12, 9)

    L.row("Scrapes")
    L.add(timeseries("Targets by scrape result", [
        target(f"sum by (reason) (gohealth_targets{{{SEL}}})", "{{reason}}"),
    ], stack=True), 12, 8)
    L.add(timeseries("Scrape rate by result", [
        target(f"sum by (reason) (rate(gohealth_scrapes_total{{{SEL}}}[$__rate_interval]))", "{{reason}}"),
    ], unit="ops"), 12, 8)

    L.row("Admission plugins")
    L.add(table("Admission findings",
                f"sum by (namespace, audit, plugin, check, severity) (gohealth_admission_findings{{{SEL}}})",
                description="kube-apiserver admission plugins flagged removed, deprecated, insecure, missing, "
                            "conflicting or unknown.",
                rename={"Value": "findings"}), 24, 8)

    L.row("Operator")
    L.add(timeseries("Operator up", [target(f"up{{{JOB}}}", "{{instance}}")]), 6, 8)
    L.add(timeseries("Audit duration (p90)", [
        target("histogram_quantile(0.9, sum by (le, namespace, audit) "
               f"(rate(gohealth_audit_duration_seconds_bucket{{{SEL}}}[$__rate_interval])))",
               "{{namespace}}/{{audit}}"),
    ], unit="s"), 6, 8)
    L.add(timeseries("Time since last completed audit", [
        target(f"time() - gohealth_audit_last_success_timestamp_seconds{{{SEL}}}", "{{namespace}}/{{audit}}"),
        target(f"2 * gohealth_audit_interval_seconds{{{SEL}}}", "stale after {{namespace}}/{{audit}}", ref="B"),
    ], unit="s"), 6, 8)
    L.add(timeseries("Reconciles and errors", [
        target(f"sum by (namespace, audit) (rate(gohealth_reconciles_total{{{SEL}}}[$__rate_interval]))",
               "{{namespace}}/{{audit}}"),
        target(f"sum by (category) (rate(gohealth_reconcile_errors_total{{{SEL}}}[$__rate_interval])) "
               "or vector(0)", "errors {{category}}", ref="B"),
    ], unit="ops"), 6, 8)
    L.add(timeseries("Operator memory (RSS)", [
        target(f"process_resident_memory_bytes{{{JOB}}}", "{{instance}}"),
    ], unit="bytes"), 8, 8)
    L.add(timeseries("Operator CPU", [
        target(f"rate(process_cpu_seconds_total{{{JOB}}}[$__rate_interval])", "{{instance}}"),
    ], unit="percentunit"), 8, 8)
    L.add(timeseries("Reconcile duration (p90)", [
        target("histogram_quantile(0.9, sum by (le) "
               f"(rate(gohealth_reconcile_duration_seconds_bucket{{{SEL}}}[$__rate_interval])))", "p90"),
    ], unit="s"), 8, 8)

    def var(name, label, query):
        return {
            "name": name, "label": label, "type": "query", "datasource": DS,
            "query": {"query": query, "refId": f"{name}-var"}, "definition": query,
            "refresh": 2, "includeAll": True, "multi": True, "allValue": ".*",
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
            "sort": 1, "hide": 0, "options": [], "regex": "",
        }

    return {
        "title": "gohealth: Go programs and admission plugins",
        "uid": "gohealth-operator",
        "description": "Goroutine leaks, scrape health and admission-plugin findings from the gohealth operator.",
        "tags": ["gohealth", "go", "kubernetes"],
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "1m",
        "time": {"from": "now-6h", "to": "now"},
        "timezone": "browser",
        "annotations": {"list": []},
        "links": [],
        "templating": {"list": [
            {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
             "current": {}, "hide": 0, "refresh": 1, "regex": "", "options": []},
            var("job", "Job", "label_values(gohealth_build_info, job)"),
            var("namespace", "Namespace",
                'label_values(gohealth_audit_last_success_timestamp_seconds{job=~"$job"}, namespace)'),
            var("audit", "Audit",
                'label_values(gohealth_audit_last_success_timestamp_seconds{job=~"$job", namespace=~"$namespace"}, audit)'),
        ]},
        "panels": L.panels,
    }


def main():
    text = json.dumps(build(), indent=2) + "\n"
    if sys.argv[1:] == ["--check"]:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT.relative_to(ROOT)} is stale: run e2e/ship/gen-dashboard.py", file=sys.stderr)
            return 1
        return 0
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
