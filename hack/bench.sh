#!/usr/bin/env bash
# Runs benchmarks (never part of `make test`); each prints its figures. Usage: hack/bench.sh [operator|workloads|...]
set -euo pipefail
export PYTHONSAFEPATH=1
cd "$(dirname "$0")/.."
selected=${1:-}
shopt -s nullglob
for bench in benchmarks/bench_${selected}*.py; do
  printf '\n\033[1m==> %s\033[0m\n' "$bench"
  .venv/bin/python "$bench"
done
