#!/usr/bin/env bash
# Static checks of the distribution, without a cluster: helm lint --strict on the chart, and config/ (the kustomize
# YAML) still equal to the chart rendered. Called by hack/lint.sh; the tests in tests/*/chart go further.
set -euo pipefail
export PYTHONSAFEPATH=1
cd "$(dirname "$0")/.."
helm=$(.venv/bin/python -c 'from fabrikam.devcluster import toolchain; print(toolchain.expected_binaries().helm)')
"$helm" lint charts/operator --strict --quiet
.venv/bin/python hack/chart-config.py --check
