#!/usr/bin/env bash
# Runs the requested test tier(s) and prints one summary line per tier. Usage: hack/test.sh unit|integration|e2e|all
set -uo pipefail
export PYTHONSAFEPATH=1
cd "$(dirname "$0")/.."
tiers=("$@"); [ "${1:-all}" = all ] && tiers=(lint unit integration e2e)
mkdir -p .run/test-reports
declare -A outcome seconds
failed=0
for tier in "${tiers[@]}"; do
  printf '\n\033[1m==> %s\033[0m\n' "$tier"
  start=$(date +%s)
  if [ "$tier" = lint ]; then
    hack/lint.sh; rc=$?
  else
    # Real nodes (containers for real) serve the end-to-end tier; the others need only simulated nodes.
    real_nodes=0; [ "$tier" = e2e ] && real_nodes=2
    FABRIKAM_REAL_NODES=${FABRIKAM_REAL_NODES:-$real_nodes} \
      .venv/bin/pytest "tests/$tier" -ra -q --junitxml=".run/test-reports/$tier.xml"; rc=$?
    [ $rc -eq 5 ] && rc=0  # a tier with no tests yet is not a failure of the others
  fi
  seconds[$tier]=$(( $(date +%s) - start ))
  if [ $rc -eq 0 ]; then outcome[$tier]=passed; else outcome[$tier]="FAILED (exit $rc)"; failed=1; fi
done
printf '\n\033[1mSummary\033[0m\n'
for tier in "${tiers[@]}"; do
  counts=""
  if [ -f ".run/test-reports/$tier.xml" ] && [ "$tier" != lint ]; then
    counts=$(.venv/bin/python - "$tier" <<'PY'
import sys, xml.etree.ElementTree as ET
suite = ET.parse(f".run/test-reports/{sys.argv[1]}.xml").getroot()
suite = suite if suite.tag == "testsuite" else suite[0]
get = lambda k: int(suite.get(k, 0))
print(f"{get('tests')} tests, {get('failures') + get('errors')} failed, {get('skipped')} skipped")
PY
)
  fi
  printf '  %-12s %-18s %5ss  %s\n' "$tier" "${outcome[$tier]}" "${seconds[$tier]}" "$counts"
done
exit $failed
