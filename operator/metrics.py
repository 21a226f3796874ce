"""The operator's Prometheus metrics; every layer records into these, the handlers expose them. The operator's own
alerts (charts/operator/templates/prometheusrule.yaml, docs/runbooks/operator.md) are written on them."""

from prometheus_client import Counter, Gauge, Histogram

RECONCILES = Counter(
    "fabrikam_operator_reconciles_total",
    "Reconciliations by kind and result: applied, unchanged, skipped (reconcile-policy), degraded (a problem the "
    "object's status names) or error (the pass failed and is retried).",
    ["kind", "result"],
)
RECONCILE_SECONDS = Histogram(
    "fabrikam_operator_reconcile_duration_seconds",
    "Time to reconcile one object.",
    ["kind"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
APPLY_WRITES = Counter(
    "fabrikam_operator_apply_total",
    "Rendered objects by outcome: sent to the API server, or skipped because nothing changed.",
    ["kind", "outcome"],
)
MANAGED_OBJECTS = Gauge("fabrikam_operator_managed_objects", "Objects the operator currently owns, by kind.", ["kind"])
LEADER = Gauge("fabrikam_operator_leader", "1 while this replica holds the operator's Lease and reconciles.")
OBJECTS = Gauge(
    "fabrikam_operator_objects",
    "DeliveryPlatforms and DroneServices by health, as their status last said: ready, progressing (not Ready yet, "
    "being worked on) or stalled (only a change of spec, permissions or Azure can help).",
    ["kind", "health"],
)


class Health:
    """Each object's health as its status was last computed, so that OBJECTS counts objects, not status writes."""

    def __init__(self) -> None:
        self._of: dict[tuple[str, str, str], str] = {}

    def record(self, kind: str, namespace: str, name: str, health: str) -> None:
        key = (kind, namespace, name)
        before = self._of.get(key)
        if before == health:
            return
        if before is not None:
            OBJECTS.labels(kind, before).dec()
        OBJECTS.labels(kind, health).inc()
        self._of[key] = health

    def forget(self, kind: str, namespace: str, name: str) -> None:
        before = self._of.pop((kind, namespace, name), None)
        if before is not None:
            OBJECTS.labels(kind, before).dec()


HEALTH = Health()
