"""A DroneService's service level indicators as PromQL, shared by its alerting rules and its dashboard: which requests
count, which are bad, and the names the rules record their ratios under.

The indicators read the services' own metrics (workloads/kit/metrics.py): `fabrikam_http_requests_total{service,
method, route, status}` and the histogram `fabrikam_http_request_seconds{service, route}`, scraped with the pod's
`namespace` label (a PodMonitor, or the prometheus.io annotations).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fabrikam.operator.api import Component, DroneService

HTTP_REQUESTS = "fabrikam_http_requests_total"
HTTP_LATENCY = "fabrikam_http_request_seconds"
# Not requests of the service's users: the kubelet's probes and the scraper.
PROBE_ROUTES = ("/healthz", "/readyz", "/metrics")
# The bundled services' streams (server-sent events): a request lasts as long as its client listens, so its duration
# says nothing of how fast the service answers.
STREAMING_ROUTES: dict[Component, tuple[str, ...]] = {
    Component.DELIVERY: ("/v1/deliveries/{delivery_id}/track", "/v1/deliveries/{delivery_id}/stream"),
}
# The windows of the ratios the rules record: the short and long windows of the burn-rate alerts (monitoring.py).
WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
# The ratio of bad requests over a window, per namespace, service and slo (availability or latency).
ERROR_RATIO = "fabrikam:slo_errors:ratio_rate"
BY = "namespace, service"


def recorded(window: str) -> str:
    """The name of the recorded ratio of bad requests over `window`."""
    return f"{ERROR_RATIO}{window}"


def service_label(svc: DroneService) -> str:
    """The `service` label of the service's metrics: the FABRIKAM_SERVICE the operator sets in its ConfigMap (the
    component of a bundled service, the name of a team's own)."""
    return svc.spec.component.value if svc.spec.component is not Component.CUSTOM else svc.name


def selector(svc: DroneService, *, exclude: tuple[str, ...] = PROBE_ROUTES, extra: str = "") -> str:
    """The label matchers of the service's requests, routes in `exclude` left out."""
    matchers = [f'namespace="{svc.namespace}"', f'service="{service_label(svc)}"']
    matchers += [f'route!="{route}"' for route in exclude]
    if extra:
        matchers.append(extra)
    return ", ".join(matchers)


def latency_excluded(svc: DroneService) -> tuple[str, ...]:
    """Routes outside the latency indicator: probes, the bundled streams and what the spec leaves out."""
    streams = STREAMING_ROUTES.get(svc.spec.component, ())
    return (*PROBE_ROUTES, *streams, *sorted(set(svc.spec.slo.latency.excluded_routes) - set(streams)))


def le(threshold_ms: int) -> str:
    """The bucket bound as the services expose it (and Prometheus 3 normalises it): 0.25, 1.0, 2.5."""
    return repr(threshold_ms / 1000)


def _rate(metric: str, matchers: str, window: str) -> str:
    return f"sum by ({BY}) (rate({metric}{{{matchers}}}[{window}]))"


def error_ratio(svc: DroneService, window: str) -> str:
    """Requests answered with a 5xx over all requests; 0 (not empty) while none failed."""
    requests = _rate(HTTP_REQUESTS, selector(svc), window)
    errors = _rate(HTTP_REQUESTS, selector(svc, extra='status=~"5.."'), window)
    return f"({errors} or 0 * {requests})\n/\n{requests}"


def readiness_failing(svc: DroneService, window: str) -> str:
    """The kubelet probes the service's pods and none passes: the Service has no endpoints, so callers fail before
    reaching a pod, unseen by `error_ratio`, which counts only what the pods answer. The value: probes a second."""
    probes = f'{HTTP_REQUESTS}{{{selector(svc, exclude=())}, route="/readyz"}}'
    passed = f'{HTTP_REQUESTS}{{{selector(svc, exclude=())}, route="/readyz", status="200"}}'
    return f"sum by ({BY}) (rate({probes}[{window}])) > 0\nunless\nsum by ({BY}) (rate({passed}[{window}])) > 0"


def slow_ratio(svc: DroneService, window: str) -> str:
    """Requests slower than the latency threshold over all requests (streams left out)."""
    excluded = latency_excluded(svc)
    bound = le(svc.spec.slo.latency.threshold_milliseconds)
    fast = _rate(f"{HTTP_LATENCY}_bucket", selector(svc, exclude=excluded, extra=f'le="{bound}"'), window)
    total = _rate(f"{HTTP_LATENCY}_count", selector(svc, exclude=excluded), window)
    return f"1 - (\n{fast}\n/\n{total}\n)"


@dataclass(frozen=True)
class Indicator:
    """One service level indicator: its name (the `slo` label), how alerts call it, its objective in percent and the
    PromQL ratio of bad requests over a window."""

    name: str
    title: str
    runbook: str
    target: Callable[[DroneService], float]
    ratio: Callable[[DroneService, str], str]
    bad: str

    def budget(self, svc: DroneService) -> float:
        """The share of requests that may be bad: 1 - objective."""
        return round(1 - self.target(svc) / 100, 10)


INDICATORS = (
    Indicator(
        "availability",
        "Availability",
        "service-availability",
        lambda svc: svc.spec.slo.availability.target,
        error_ratio,
        "answered with a server error (5xx)",
    ),
    Indicator(
        "latency",
        "Latency",
        "service-latency",
        lambda svc: svc.spec.slo.latency.target,
        slow_ratio,
        "slower than the latency threshold",
    ),
)
