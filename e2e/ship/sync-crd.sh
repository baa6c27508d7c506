#!/usr/bin/env bash
# After `make crd` (crds/ regenerated from operator/src/crd.rs): refresh the chart's copy of the CRD and
# docs/crd-reference.md, which e2e/ship/verify.sh checks against crds/.
set -euo pipefail
cd "$(dirname "$0")/../.."
cp crds/gohealthaudits.gohealth.dev.yaml charts/gohealth-operator/crds/gohealthaudits.gohealth.dev.yaml
cp crds/clustergohealthaudits.gohealth.dev.yaml charts/gohealth-operator/crds/clustergohealthaudits.gohealth.dev.yaml
python3 e2e/ship/gen-crd-reference.py
echo "synced: charts/gohealth-operator/crds/, docs/crd-reference.md"
