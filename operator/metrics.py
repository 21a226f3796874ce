"""The operator's Prometheus metrics; every layer records into these, the handlers expose them."""

from prometheus_client import Counter, Gauge, Histogram

RECONCILES = Counter("fabrikam_operator_reconciles_total", "Reconciliations by kind and result.", ["kind", "result"])
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
