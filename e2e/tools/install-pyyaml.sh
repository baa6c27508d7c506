#!/usr/bin/env bash
# PyYAML for the e2e/ship helper scripts (chart_facts.py, check-docs.py, gen-crd-reference.py), from PyPI
# when the machine's python3 lacks it. Idempotent.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
python3 -c 'import yaml' 2>/dev/null && exit 0
log "pip install pyyaml"
python3 -m pip install -q pyyaml
