"""The workflow's memory stays flat under a steady stream of deliveries (issue #20, the seed's "workflow memory leak
suspected"): the short variant of benchmarks/bench_workloads_memory.py, on the same harness
(fabrikam.devcluster.workflow_memory) at a small scale.

The real workflow process on a real redis-server, fed through the Redis Streams adapter, with package, scheduler and
delivery played by the driver; every saga runs to `completed`. The baseline is taken once the saga cache (the one
per-delivery structure the workflow keeps in process, an LRU of 4,096 sagas) has filled.
"""

from pathlib import Path

from fabrikam.devcluster import workflow_memory

# 5,000 deliveries, past the saga cache's 4,096; then 15,000 more.
BASELINE_MESSAGES = 25_000
LAST_MESSAGES = 100_000


def test_the_workflows_rss_stays_within_10_percent_from_25k_to_100k_messages(tmp_path: Path) -> None:
    # The baseline must come after the saga cache has filled.
    assert workflow_memory.warmed_up_after() <= BASELINE_MESSAGES
    checkpoints = list(range(BASELINE_MESSAGES, LAST_MESSAGES + 1, BASELINE_MESSAGES))
    outcome = workflow_memory.run(tmp_path, checkpoints, BASELINE_MESSAGES)
    workflow_memory.report(outcome)
    last = outcome.checkpoints[-1]
    deliveries = LAST_MESSAGES // workflow_memory.MESSAGES_PER_DELIVERY
    every_step_once = {
        "DeliveryRequested": deliveries,
        "PackageCreated": deliveries,
        "DroneAssigned": deliveries,
        "DeliveryScheduled": deliveries,
        "DeliveryCompleted": deliveries,
    }
    assert last.by_type == every_step_once, "each saga ran straight through, no timeout, retry or redelivery"
    assert not outcome.unexpected_commands
    assert outcome.baseline.messages == BASELINE_MESSAGES
    assert outcome.facts["step deadlines left"] == "0"
    assert outcome.growth <= 0.10, f"RSS grew {outcome.growth:.1%} from {BASELINE_MESSAGES:,} to {LAST_MESSAGES:,}"
