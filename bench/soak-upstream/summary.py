#!/usr/bin/env python3
"""Summarize a bench/soak-upstream run: per target the goroutines at the first and last recorded audit and
its scrape results, every finding ever seen (by check, target, function, severity, with the minutes it was
present), and the audits completed. Exit 1 when a warning or critical finding was seen at any time."""
import json
import pathlib
import re
import sys

out = pathlib.Path(sys.argv[1])
snaps = []
for p in sorted((out / "status").glob("*.json")):
    try:
        snaps.append((int(p.stem), json.loads(p.read_text())))
    except (ValueError, json.JSONDecodeError):
        pass
if not snaps:
    sys.exit("soak-upstream: no status recorded")

targets = {}
seen = {}
audit_times = set()
for minute, obj in snaps:
    st = obj.get("status", {})
    if st.get("lastAuditTime"):
        audit_times.add(st["lastAuditTime"])
    for t in st.get("targets", {}).get("items", []):
        key = f'{t["namespace"]}/{t["pod"]}'
        rec = targets.setdefault(key, {"first": t.get("goroutines"), "results": set()})
        rec["last"] = t.get("goroutines")
        rec["results"].add(t.get("result"))
    for f in st.get("findings", []):
        tgt = f.get("target") or {}
        key = (f["severity"], f["check"], f'{tgt.get("namespace", "")}/{tgt.get("pod", "")}', f.get("function") or "")
        seen.setdefault(key, []).append(minute)

log = (out / "operator.log").read_text(errors="replace") if (out / "operator.log").exists() else ""
completed = len(re.findall(r'audit complete', log))
print(f"soak-upstream: {len(snaps)} status samples over {snaps[-1][0]} minutes; "
      f"{completed} audits completed in the logs kept; {len(audit_times)} distinct audits sampled")
print(f"{'target':64} {'goroutines first -> last':>26}  results")
for key in sorted(targets):
    r = targets[key]
    print(f"{key:64} {str(r['first']):>12} -> {str(r.get('last')):<11}  {','.join(sorted(x or '?' for x in r['results']))}")
print("findings ever seen (severity, check, target, function: minutes present):")
bad = 0
for key in sorted(seen):
    sev, check, target, func = key
    mins = seen[key]
    print(f"  {sev:8} {check:28} {target:50} {func or '-'}: {len(mins)} of {len(snaps)} samples")
    if sev in ("warning", "critical"):
        bad += 1
if not seen:
    print("  none")
print(f"soak-upstream: {bad} warning/critical finding(s) seen")
sys.exit(1 if bad else 0)
