# The two commands that work on a fresh machine: `make demo` and `make test`.
CARGO ?= cargo

.PHONY: demo test setup build unit lint crd

demo:
	bash e2e/cluster/demo.sh

test: setup lint
	$(CARGO) test --features e2e,e2e-cluster
	bash e2e/ship/verify.sh

setup:
	bash e2e/setup.sh

build:
	$(CARGO) build

unit:
	$(CARGO) test

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets --features e2e,e2e-cluster -- -D warnings

# Regenerate the committed CRD (a unit test fails when it drifts).
crd:
	$(CARGO) run --quiet -- crd > crds/gohealthaudits.gohealth.dev.yaml.tmp
	$(CARGO) run --quiet -- crd ClusterGoHealthAudit > crds/clustergohealthaudits.gohealth.dev.yaml.tmp
	mv crds/gohealthaudits.gohealth.dev.yaml.tmp crds/gohealthaudits.gohealth.dev.yaml
	mv crds/clustergohealthaudits.gohealth.dev.yaml.tmp crds/clustergohealthaudits.gohealth.dev.yaml
	bash e2e/ship/sync-crd.sh
