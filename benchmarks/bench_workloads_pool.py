"""Delivery connection-pool benchmark (issue #20, the seed's known issue "Redis connection pool exhaustion during
traffic spikes"): under a 10x spike the delivery service keeps its Redis connections within its pool, and requests
wait for a connection (at most `pool_wait_seconds`) instead of failing.

The harness and its method: fabrikam.devcluster.pool_spike.

Exit status 1 when the service held more connections than its pool, or any request failed; a 503 `overloaded` (the
designed answer once a request has waited `pool_wait_seconds` for a connection) is reported apart from other errors.
Standalone, never in `make test`: `.venv/bin/python benchmarks/bench_workloads_pool.py`; FABRIKAM_BENCH_SCALE
scales the phases' length (0.3: 3 s each). The test suite runs a short variant
(tests/integration/workloads/test_workloads_pool_spike.py).
"""

import os
import sys
import tempfile
from pathlib import Path

from fabrikam.devcluster.machine_reference import measure
from fabrikam.devcluster.pool_spike import (
    BASELINE_CONNECTIONS,
    DELIVERIES,
    POOL_SIZE,
    POOL_WAIT_SECONDS,
    SPIKE_FACTOR,
    UNBOUNDED_POOL_SIZE,
    SpikeRun,
    fixed_load,
    phase_table,
    report,
    run_spike,
)

SCALE = float(os.environ.get("FABRIKAM_BENCH_SCALE", "1"))
PHASE_SECONDS = max(1.0, 10.0 * SCALE)


def spike_of(directory: Path, pool_size: int) -> SpikeRun:
    return run_spike(
        directory,
        pool_size=pool_size,
        pool_wait_seconds=POOL_WAIT_SECONDS,
        baseline_connections=BASELINE_CONNECTIONS,
        factor=SPIKE_FACTOR,
        phase_seconds=PHASE_SECONDS,
        deliveries=DELIVERIES,
    )


def main() -> None:
    print(f"{os.cpu_count()} cores; load average before: {os.getloadavg()[0]:.2f} (other processes share the cores)")
    with tempfile.TemporaryDirectory(prefix="bench-workloads-pool-") as scratch:
        reference = measure(Path(scratch) / "reference", fixed_load, requests=max(2_000, round(20_000 * SCALE)))
        reference.print()
        print(
            f"demand: the same load on a pool of {UNBOUNDED_POOL_SIZE} (never full), for the connections it would take"
        )
        phase_table(spike_of(Path(scratch) / "demand", UNBOUNDED_POOL_SIZE))
        print(
            f"delivery pool spike: pool {POOL_SIZE} connections, wait {POOL_WAIT_SECONDS:g} s; "
            f"{BASELINE_CONNECTIONS} -> {BASELINE_CONNECTIONS * SPIKE_FACTOR} -> {BASELINE_CONNECTIONS} HTTP "
            f"connections, {PHASE_SECONDS:g} s each (scale {SCALE:g}); GET /v1/deliveries/{{id}} and .../events "
            f"over {DELIVERIES:,} deliveries"
        )
        passed = report(spike_of(Path(scratch) / "spike", POOL_SIZE), reference)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    if not passed:
        sys.exit(1)


if __name__ == "__main__":
    main()
