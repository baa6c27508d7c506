#!/usr/bin/env python3
"""Docs that must not drift from what ships:
- every alert's runbook_url anchor is a heading in docs/alerts.md;
- every gohealth_* metric family the operator registers (operator/src/metrics/families.rs) is documented in
  docs/metrics.md, and every metric the docs, the alerts or the dashboard use exists.
"""

import json
import pathlib
import re
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]


def anchors(markdown):
    # GitHub's heading anchors: lowercase, drop punctuation except - and _, spaces to -.
    out = set()
    for line in markdown.splitlines():
        m = re.match(r"^#{1,6}\s+(.*)$", line)
        if m:
            a = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
            out.add(a)
    return out


def main():
    errors = []
    rules = yaml.safe_load((ROOT / "charts/gohealth-operator/files/prometheusrules.yaml").read_text())
    alerts_md = (ROOT / "docs/alerts.md").read_text()
    have = anchors(alerts_md)
    for g in rules["groups"]:
        for r in g["rules"]:
            url = r["annotations"]["runbook_url"]
            anchor = url.split("#", 1)[1]
            if anchor not in have:
                errors.append(f"{r['alert']}: runbook anchor #{anchor} missing in docs/alerts.md")
            if r["alert"] not in alerts_md:
                errors.append(f"{r['alert']}: not mentioned in docs/alerts.md")

    src = (ROOT / "operator/src/metrics/families.rs").read_text()
    registered = set(re.findall(r'"(gohealth_[a-z_]+)"', src))
    metrics_md = (ROOT / "docs/metrics.md").read_text()
    documented = set(re.findall(r"`(gohealth_[a-z_]+)`", metrics_md))
    for m in sorted(registered - documented):
        errors.append(f"{m}: registered in metrics/families.rs but not documented in docs/metrics.md")
    for m in sorted(documented - registered):
        errors.append(f"{m}: documented in docs/metrics.md but not registered in metrics/families.rs")

    used = set()
    for g in rules["groups"]:
        for r in g["rules"]:
            used |= set(re.findall(r"gohealth_[a-z_]+", r["expr"]))
    dash = json.loads((ROOT / "charts/gohealth-operator/files/dashboards/gohealth.json").read_text())
    for p in dash["panels"]:
        for t in p.get("targets", []):
            used |= set(re.findall(r"gohealth_[a-z_]+", t["expr"]))
    for v in dash["templating"]["list"]:
        used |= set(re.findall(r"gohealth_[a-z_]+", v.get("definition", "")))
    for m in sorted(used):
        base = re.sub(r"_(bucket|sum|count)$", "", m)
        if base not in registered:
            errors.append(f"{m}: used by the alerts or the dashboard but not registered")

    for e in errors:
        print(e, file=sys.stderr)
    print(f"docs: {len(registered)} metrics, {sum(len(g['rules']) for g in rules['groups'])} alerts checked")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
