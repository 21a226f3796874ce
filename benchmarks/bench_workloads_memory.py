"""Workflow memory benchmark (issue #20, the seed's known issue "workflow memory leak suspected"): the workflow's
RSS after 1,000,000 messages must be within 10 % of its RSS after 100,000.

The harness, and what the workflow keeps per delivery: fabrikam.devcluster.workflow_memory.

Standalone, never in `make test`: `.venv/bin/python benchmarks/bench_workloads_memory.py`. FABRIKAM_BENCH_SCALE
scales the message counts (0.1: checkpoints every 10,000 messages up to 100,000). Exit status 1 when the RSS grew
more than 10 % from the baseline. The test suite runs a short variant
(tests/integration/workloads/test_workloads_workflow_memory.py).
"""

import os
import sys
import tempfile
from pathlib import Path

from fabrikam.devcluster.workflow_memory import (
    IN_FLIGHT,
    SAGA_CACHE_SIZE,
    checkpoints_for,
    report,
    run,
    warmed_up_after,
)

SCALE = float(os.environ.get("FABRIKAM_BENCH_SCALE", "1"))


def main() -> None:
    checkpoints = checkpoints_for(SCALE)
    baseline_at = next((c for c in checkpoints if c >= warmed_up_after()), checkpoints[-1])
    print(f"{os.cpu_count()} cores; load average before: {os.getloadavg()[0]:.2f} (other processes share the cores)")
    print(
        f"workflow memory: {checkpoints[-1]:,} messages (scale {SCALE:g}), {IN_FLIGHT:,} deliveries in flight; "
        f"baseline at {baseline_at:,} (the saga cache of {SAGA_CACHE_SIZE:,} is full after {warmed_up_after():,})"
    )
    print(
        "  a message = one the workflow consumed and settled (its fabrikam_messages_total): per delivery "
        "DeliveryRequested, PackageCreated, DroneAssigned, DeliveryScheduled, DeliveryCompleted (+ any StepTimedOut)"
    )
    with tempfile.TemporaryDirectory(prefix="bench-workloads-memory-") as scratch:
        outcome = run(Path(scratch), checkpoints, baseline_at)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    if not report(outcome):
        sys.exit(1)


if __name__ == "__main__":
    main()
