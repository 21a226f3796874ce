#!/usr/bin/env bash
# Static checks run by `make test`: style, strict typing, layer contracts, generated files in sync.
set -euo pipefail
export PYTHONSAFEPATH=1
cd "$(dirname "$0")/.."
bin=.venv/bin
say() { printf '\033[1m[lint]\033[0m %s\n' "$*"; }
say "ruff check"; $bin/ruff check .
say "ruff format --check"; $bin/ruff format --check --quiet .
say "mypy --strict (operator, devcluster, cli, workloads)"
$bin/mypy -p fabrikam.operator -p fabrikam.devcluster -p fabrikam.cli -p fabrikam.workloads
# import-linter walks the packages on disk; the editable install maps them through an import hook it cannot see.
say "import-linter contracts"; PYTHONPATH=.typecheck $bin/lint-imports --no-cache
say "chart: helm lint, config/ in sync with the chart"; hack/chart-check.sh
