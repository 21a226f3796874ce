"""Grafana dashboards as ConfigMaps labelled `grafana_dashboard: "1"`, the convention Grafana's dashboard sidecar
(the Grafana and kube-prometheus-stack charts) loads them by: one per platform (deliveries, ingestion, queues, drones,
notifications) and one per service (rate, errors, duration, saturation), built from Python dicts.

Every query reads the services' own metrics (workloads/kit/metrics.py) or the ratios the SLO rules record
(slo.py), in the namespaces of the platform; a data source variable picks the Prometheus.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from fabrikam.operator.api import Component, DeliveryPlatform, DependencyKind, DroneService, QueueAccess
from fabrikam.operator.render.labels import (
    COMPONENT,
    INSTANCE,
    MANAGED_BY,
    NAME,
    PART_OF,
    PLATFORM,
    Obj,
    metadata,
    owner_reference,
)
from fabrikam.operator.render.platform import owning_namespace
from fabrikam.operator.render.slo import HTTP_LATENCY, HTTP_REQUESTS, PROBE_ROUTES, recorded, selector, service_label

SIDECAR_LABEL = "grafana_dashboard"
# The folder the sidecar files a dashboard in, when it is configured with folderAnnotation: grafana_folder.
FOLDER_ANNOTATION = "grafana_folder"
SCHEMA_VERSION = 39
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
WIDTH = 24  # Grafana's grid is 24 columns wide


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str


@dataclass(frozen=True)
class Panel:
    title: str
    queries: tuple[Query, ...]
    unit: str
    description: str = ""
    thresholds: tuple[float, ...] = ()


@dataclass
class Row:
    title: str
    panels: list[Panel] = field(default_factory=list)


def _target(query: Query, ref: int) -> Obj:
    return {"datasource": DATASOURCE, "expr": query.expr, "legendFormat": query.legend, "refId": chr(ord("A") + ref)}


def _panel(panel: Panel, *, id: int, x: int, y: int, w: int) -> Obj:
    defaults: Obj = {"unit": panel.unit}
    if panel.thresholds:
        # The objective drawn as a dashed line: where the series should stay.
        defaults["thresholds"] = {
            "mode": "absolute",
            "steps": [{"color": "green", "value": None}, *({"color": "red", "value": t} for t in panel.thresholds)],
        }
        defaults["custom"] = {"thresholdsStyle": {"mode": "dashed"}}
    return {
        "id": id,
        "type": "timeseries",
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"x": x, "y": y, "w": w, "h": 8},
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}, "tooltip": {"mode": "multi"}},
        "targets": [_target(q, i) for i, q in enumerate(panel.queries)],
    }


def _layout(rows: list[Row]) -> list[Obj]:
    """Rows one under the other, each a collapsible row header and its panels side by side, two to a line."""
    panels: list[Obj] = []
    y = 0
    for row in rows:
        if not row.panels:
            continue
        panels.append(
            {
                "id": len(panels) + 1,
                "type": "row",
                "title": row.title,
                "collapsed": False,
                "gridPos": {"x": 0, "y": y, "w": WIDTH, "h": 1},
                "panels": [],
            }
        )
        y += 1
        for index, panel in enumerate(row.panels):
            width = WIDTH if len(row.panels) == 1 else WIDTH // 2
            column = index % 2 if len(row.panels) > 1 else 0
            if index and column == 0:
                y += 8
            panels.append(_panel(panel, id=len(panels) + 1, x=column * width, y=y, w=width))
        y += 8
    return panels


def _dashboard(title: str, uid_of: str, tags: list[str], rows: list[Row]) -> Obj:
    return {
        "uid": "fabrikam-" + hashlib.sha256(uid_of.encode()).hexdigest()[:16],
        "title": title,
        "tags": ["fabrikam", *tags],
        "editable": False,
        "schemaVersion": SCHEMA_VERSION,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "30s",
        "timezone": "browser",
        "templating": {
            "list": [
                {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus", "hide": 0}
            ]
        },
        "panels": _layout(rows),
    }


def _config_map(
    name: str, namespace: str, *, platform: str, labels: dict[str, str], owners: list[Obj], board: Obj
) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(
            name,
            namespace=namespace,
            labels={**labels, SIDECAR_LABEL: "1"},
            owners=owners,
            annotations={FOLDER_ANNOTATION: f"Fabrikam {platform}"},
        ),
        "data": {f"{name}.json": json.dumps(board, indent=1, sort_keys=True)},
    }


def _consumes_queues(svc: DroneService) -> bool:
    return any(u.kind is DependencyKind.QUEUE and QueueAccess.RECEIVE in u.queue_access() for u in svc.spec.uses)


def service_dashboard_name(svc: DroneService) -> str:
    return f"{svc.name}-dashboard"


def service_rows(svc: DroneService) -> list[Row]:
    """Rate, errors, duration and saturation of one service, and the burn of its error budgets."""
    requests = selector(svc)
    errors = selector(svc, extra='status=~"5.."')
    pods = f'namespace="{svc.namespace}", pod=~"{svc.name}-[a-z0-9]+-[a-z0-9]+"'
    slo = svc.spec.slo
    threshold = slo.latency.threshold_milliseconds / 1000
    traffic = Row(
        "Rate and errors",
        [
            Panel(
                "Requests by route",
                (Query(f"sum by (route) (rate({HTTP_REQUESTS}{{{requests}}}[5m]))", "{{route}}"),),
                "reqps",
                "HTTP requests answered per second (probes and /metrics aside).",
            ),
            Panel(
                "Server errors",
                (
                    Query(
                        f"sum(rate({HTTP_REQUESTS}{{{errors}}}[5m])) / sum(rate({HTTP_REQUESTS}{{{requests}}}[5m]))",
                        "5xx ratio",
                    ),
                    Query(
                        f"sum by (status) (rate({HTTP_REQUESTS}{{{requests}}}[5m]))",
                        "{{status}}/s",
                    ),
                ),
                "percentunit",
                f"Share of requests answered with a 5xx; the objective allows {100 - slo.availability.target:g} %.",
                (round(1 - slo.availability.target / 100, 10),),
            ),
        ],
    )
    duration = Row(
        "Duration",
        [
            Panel(
                "Latency percentiles",
                tuple(
                    Query(
                        f"histogram_quantile({q}, sum by (le) (rate({HTTP_LATENCY}_bucket{{{requests}}}[5m])))",
                        f"p{round(q * 100)}",
                    )
                    for q in (0.5, 0.9, 0.99)
                ),
                "s",
                f"Request duration; the latency objective's threshold is {slo.latency.threshold_milliseconds} ms.",
                (threshold,),
            ),
        ],
    )
    budget = Row("Error budget")
    if slo.enabled:
        budget.panels = [
            Panel(
                f"{name.title()} error budget burn rate",
                tuple(
                    Query(
                        f'{recorded(window)}{{namespace="{svc.namespace}", service="{service_label(svc)}", '
                        f'slo="{name}"}} / {round(1 - target / 100, 10):g}',
                        f"{window}",
                    )
                    for window in ("5m", "1h", "1d", "3d")
                ),
                "short",
                f"How many times faster than sustainable the {name} budget burns (1: it lasts 30 days); the page "
                "fires above 14.4 over 1h and 5m, or 6 over 6h and 30m, the ticket above 1 over 3d and 6h.",
                (1.0,),
            )
            for name, target in (("availability", slo.availability.target), ("latency", slo.latency.target))
        ]
    saturation = Row(
        "Saturation",
        [
            Panel(
                "CPU per pod",
                (Query(f"rate(process_cpu_seconds_total{{{pods}}}[5m])", "{{pod}}"),),
                "short",
                "CPU seconds per second of each pod's service process (its limit: spec.resources.limits.cpu).",
            ),
            Panel(
                "Memory per pod",
                (Query(f"process_resident_memory_bytes{{{pods}}}", "{{pod}}"),),
                "bytes",
                "Resident memory of each pod's service process (its limit: spec.resources.limits.memory).",
            ),
        ],
    )
    if _consumes_queues(svc):
        saturation.panels.append(
            Panel(
                "Message handlers busy",
                (
                    Query(
                        f'sum by (queue) (fabrikam_handlers_in_flight{{namespace="{svc.namespace}", '
                        f'service="{service_label(svc)}"}}) / sum by (queue) (fabrikam_handlers_limit'
                        f'{{namespace="{svc.namespace}", service="{service_label(svc)}"}})',
                        "{{queue}}",
                    ),
                ),
                "percentunit",
                "Handlers running against the concurrency allowed: at 100 % messages wait in the queue.",
            )
        )
    # Every service's runtime holds a Redis client (its state, or the broker of a development platform).
    saturation.panels.append(
        Panel(
            "Redis connections in use",
            (
                Query(
                    f'fabrikam_redis_pool_connections{{{pods}, state="in_use"}} / fabrikam_redis_pool_size{{{pods}}}',
                    "{{pod}}",
                ),
            ),
            "percentunit",
            "Connections of each pod's Redis pool in use: a full pool answers 503.",
        )
    )
    rows = [traffic, duration, budget, saturation]
    if _consumes_queues(svc):
        messages = f'namespace="{svc.namespace}", service="{service_label(svc)}"'
        rows.append(
            Row(
                "Messages",
                [
                    Panel(
                        "Messages handled by outcome",
                        (
                            Query(
                                f"sum by (queue, outcome) (rate(fabrikam_messages_total{{{messages}}}[5m]))",
                                "{{queue}} {{outcome}}",
                            ),
                        ),
                        "ops",
                        "completed; released (retried later), deadlettered or unsettled are failures.",
                    ),
                    Panel(
                        "Message handling p99",
                        (
                            Query(
                                "histogram_quantile(0.99, sum by (queue, le) "
                                f"(rate(fabrikam_message_seconds_bucket{{{messages}}}[5m])))",
                                "{{queue}}",
                            ),
                        ),
                        "s",
                    ),
                ],
            )
        )
    return rows


def service_dashboard(
    svc: DroneService, *, platform: DeliveryPlatform, labels: dict[str, str], owners: list[Obj]
) -> Obj:
    board = _dashboard(
        f"Fabrikam {platform.name} / {svc.namespace} / {svc.name}",
        f"{platform.name}/{svc.namespace}/{svc.name}",
        [platform.name, svc.spec.component.value],
        service_rows(svc),
    )
    return _config_map(
        service_dashboard_name(svc), svc.namespace, platform=platform.name, labels=labels, owners=owners, board=board
    )


def platform_rows(platform: DeliveryPlatform) -> list[Row]:
    """Deliveries by stage, ingestion rate and p99, queue depth and age, drones in flight, notifications, and each
    service's availability."""
    namespaces = f'namespace=~"{"|".join(sorted(t.namespace for t in platform.spec.teams))}"'
    rows = [
        Row(
            "Deliveries",
            [
                Panel(
                    "Deliveries reaching each stage",
                    (
                        Query(
                            f"sum by (stage) (rate(fabrikam_delivery_stage_transitions_total{{{namespaces}}}[5m]))",
                            "{{stage}}",
                        ),
                    ),
                    "ops",
                    "Deliveries per second entering created, scheduled, headed_to_pickup, headed_to_dropoff, "
                    "completed, cancelled or failed.",
                ),
                Panel(
                    "Drones by status",
                    (Query(f"max by (status) (fabrikam_drones{{{namespaces}}})", "{{status}}"),),
                    "short",
                    "The fleet as the scheduler last counted it; assigned drones are flying a delivery.",
                ),
            ],
        )
    ]
    ingestion = owning_namespace(platform, Component.INGESTION)
    if ingestion is not None and platform.spec.services.ingestion.enabled:
        requests = ", ".join(
            [f'namespace="{ingestion}"', 'service="ingestion"', *(f'route!="{r}"' for r in PROBE_ROUTES)]
        )
        rows.append(
            Row(
                "Ingestion",
                [
                    Panel(
                        "Delivery requests",
                        (Query(f"sum by (status) (rate({HTTP_REQUESTS}{{{requests}}}[5m]))", "{{status}}"),),
                        "reqps",
                        "Requests to the ingestion service by HTTP status: 202 accepted, 4xx refused, 5xx failed.",
                    ),
                    Panel(
                        "Ingestion p99",
                        (
                            Query(
                                "histogram_quantile(0.99, sum by (le) "
                                f"(rate({HTTP_LATENCY}_bucket{{{requests}}}[5m])))",
                                "p99",
                            ),
                        ),
                        "s",
                    ),
                ],
            )
        )
    rows += [
        Row(
            "Queues",
            [
                Panel(
                    "Queue depth",
                    (Query(f"max by (queue, state) (fabrikam_queue_messages{{{namespaces}}})", "{{queue}} {{state}}"),),
                    "short",
                    "Messages waiting for a consumer, or in flight (being handled), as each queue's consumer last "
                    "sampled it.",
                ),
                Panel(
                    "Oldest message age",
                    (
                        Query(
                            f"max by (queue) (fabrikam_queue_oldest_message_age_seconds{{{namespaces}}})", "{{queue}}"
                        ),
                    ),
                    "s",
                    "How long the oldest message of each queue has waited: growing means consumers fall behind.",
                ),
                Panel(
                    "Dead letters",
                    (Query(f"max by (queue) (fabrikam_queue_dead_letters{{{namespaces}}})", "{{queue}}"),),
                    "short",
                    "Messages set aside after failing every delivery attempt (runbook: docs/runbooks/dead-letters.md).",
                ),
                Panel(
                    "Messages published",
                    (
                        Query(
                            f"sum by (queue) (rate(fabrikam_messages_published_total{{{namespaces}}}[5m]))", "{{queue}}"
                        ),
                    ),
                    "ops",
                ),
            ],
        ),
        Row(
            "Notifications",
            [
                Panel(
                    "Notifications by channel and outcome",
                    (
                        Query(
                            f"sum by (channel, outcome) (rate(fabrikam_notifications_total{{{namespaces}}}[5m]))",
                            "{{channel}} {{outcome}}",
                        ),
                    ),
                    "ops",
                    "sent; failed (refused for good); skipped (channel not configured); deferred (provider failing, "
                    "retried).",
                ),
            ],
        ),
        Row(
            "Services",
            [
                Panel(
                    "Availability over the last hour",
                    (
                        Query(
                            f'1 - max by (namespace, service) ({recorded("1h")}{{{namespaces}, slo="availability"}})',
                            "{{namespace}}/{{service}}",
                        ),
                    ),
                    "percentunit",
                    "Share of each service's requests answered without a 5xx (from its SLO rules).",
                ),
                Panel(
                    "Within the latency threshold over the last hour",
                    (
                        Query(
                            f'1 - max by (namespace, service) ({recorded("1h")}{{{namespaces}, slo="latency"}})',
                            "{{namespace}}/{{service}}",
                        ),
                    ),
                    "percentunit",
                ),
            ],
        ),
    ]
    return rows


def platform_dashboard_name(platform: DeliveryPlatform) -> str:
    return f"{platform.name}-platform-dashboard"


def platform_dashboard(platform: DeliveryPlatform) -> Obj:
    """The platform's dashboard, in spec.observability.dashboards.namespace or the first team's namespace, owned by
    the (cluster-scoped) platform."""
    namespace = platform.spec.observability.dashboards.namespace or platform.spec.teams[0].namespace
    labels = {
        NAME: platform.name,
        INSTANCE: platform.name,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": MANAGED_BY,
        COMPONENT: "dashboard",
        PLATFORM: platform.name,
    }
    owners = owner_reference(
        api_version=platform.api_version, kind=platform.kind, name=platform.name, uid=platform.metadata.uid
    )
    board = _dashboard(
        f"Fabrikam {platform.name}", f"{platform.name}/platform", [platform.name], platform_rows(platform)
    )
    return _config_map(
        platform_dashboard_name(platform), namespace, platform=platform.name, labels=labels, owners=owners, board=board
    )
