# Every target installs what it needs itself (through `setup`); see README.md.
SHELL := /bin/bash
export PYTHONSAFEPATH := 1
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin

.PHONY: setup toolchain image lint chart-config constraints unit integration e2e test demo bench bench-operator bench-workloads crds cluster-up cluster-down down clean

setup:  ## Create .venv, install the package and dev tools, and the Debian servers the tests run (idempotent)
	@hack/setup.sh

toolchain: setup  ## Build/fetch the pinned control-plane binaries and promtool into ~/.cache/fabrikam (once per machine)
	@$(BIN)/fabrikam cluster build
	@$(PY) -c 'from fabrikam.devcluster import toolchain, versions; toolchain.go_binary(versions.PROMTOOL_BINARY)'

image: toolchain  ## Build both Dockerfile targets with buildah into the local registry; print them by digest
	@$(BIN)/fabrikam image build

lint: setup  ## ruff, mypy --strict on the operator, import-linter contracts, committed CRDs up to date
	@hack/lint.sh

crds: setup  ## Regenerate crds/, the chart's crds/ and config/crd from the pydantic models
	@$(BIN)/fabrikam crds --write

chart-config: setup  ## Regenerate the kustomize YAML in config/ from the Helm chart
	@$(BIN)/python hack/chart-config.py

constraints: setup  ## Re-pin constraints.txt (the image installs from it) from the current .venv
	@$(BIN)/python hack/constraints.py

unit: setup
	@hack/test.sh unit

integration: toolchain
	@hack/test.sh integration

e2e: toolchain
	@hack/test.sh e2e

test: setup toolchain  ## Everything CI runs: lint and every test tier, with a summary per tier
	@hack/test.sh all

demo: setup toolchain  ## The platform on real pods (operator by its chart, platform-dev.yaml), then a simulated fleet
	@$(BIN)/fabrikam demo

bench: setup toolchain  ## All benchmarks; they print figures (not part of `make test`)
	@hack/bench.sh

bench-operator: setup toolchain
	@hack/bench.sh operator

bench-workloads: setup
	@hack/bench.sh workloads

cluster-up: toolchain
	@$(BIN)/fabrikam cluster up

cluster-down: setup
	@$(BIN)/fabrikam services down >/dev/null 2>&1 || true
	@$(BIN)/fabrikam cluster down

down: cluster-down  ## Stop the operator, local services and the cluster
	@$(BIN)/fabrikam registry down

clean: cluster-down
	rm -rf $(VENV) .typecheck .pytest_cache .mypy_cache .ruff_cache build *.egg-info
