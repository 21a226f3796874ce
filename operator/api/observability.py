"""What the operator creates to watch what it runs (docs/observability.md): a DroneService's service level objectives,
and the platform's scraping, alert runbooks, dashboards and on-call routing."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Final, Literal, get_args

from pydantic import Field, StringConstraints, model_validator

from fabrikam.operator.api.base import (
    LABEL_KEY_PATTERN,
    DnsLabel,
    Guid,
    HttpsUrl,
    KeyVaultObjectName,
    LabelValue,
    Model,
    cel,
    defaulted,
    rules,
    unique,
)

RUNBOOK_BASE_URL: Final = "https://github.com/fabrikam/drone-delivery/blob/main/docs/runbooks"

# The bounds of the services' request-latency histogram (fabrikam_http_request_seconds) in milliseconds: a latency
# objective's threshold is one of them, so the requests under it are counted from a bucket, not estimated.
LatencyBound = Literal[1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500]
LATENCY_BOUNDS_MS: tuple[int, ...] = get_args(LatencyBound)

# A route as the services label their metrics: the path template, e.g. /v1/deliveries/{delivery_id}/track.
RouteTemplate = Annotated[str, StringConstraints(pattern=r"^/[A-Za-z0-9/_.{}~-]*$", max_length=256)]

_LOW_TARGET = (
    "at least 95: below it, the fast page (a 14.4x burn rate) would need more than 72 % of requests bad and could "
    "hardly ever fire"
)


class AvailabilityObjective(Model):
    """Requests answered without a server error."""

    target: float = Field(
        99.9,
        ge=95,
        le=99.99,
        description="Percent of the service's HTTP requests (probes and /metrics aside) answered without a 5xx over "
        f"30 days; {_LOW_TARGET}.",
    )


class LatencyObjective(Model):
    """Requests answered fast enough."""

    threshold_milliseconds: LatencyBound = Field(
        250,
        description="A request slower than this counts against the objective; one of the bounds of the services' "
        "latency histogram (1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500).",
    )
    target: float = Field(
        99.0,
        ge=95,
        le=99.99,
        description=f"Percent of the HTTP requests answered within the threshold over 30 days; {_LOW_TARGET}.",
    )
    excluded_routes: list[RouteTemplate] = Field(
        default_factory=list,
        max_length=16,
        description="Route templates left out of the latency objective: streams (server-sent events) whose request "
        "lasts as long as the client listens. The bundled delivery service's streams are always left out.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )


class ServiceLevelObjectives(Model):
    """The service's objectives over 30 days; the operator alerts on how fast their error budget burns (the SRE
    workbook's multi-window, multi-burn-rate alerts) through a PrometheusRule, when its CRD is installed."""

    enabled: bool = Field(
        True,
        description="false: no alerts for this service (one that does not expose the fabrikam_http_* metrics).",
    )
    availability: AvailabilityObjective = defaulted(AvailabilityObjective, "Requests without a server error.")
    latency: LatencyObjective = defaulted(LatencyObjective, "Requests within a latency threshold.")


class Metrics(Model):
    """Prometheus scraping of /metrics."""

    enabled: bool = Field(True)
    scraper_namespace: DnsLabel | None = Field(None, description="Namespace of the scraper, allowed in.")
    pod_monitor: bool = Field(
        True,
        description="A PodMonitor per service when the Prometheus Operator's CRD is installed, so Prometheus "
        "scrapes the services with the namespace and pod labels the alerts and dashboards select by. false: the "
        "cluster scrapes the pods' prometheus.io annotations instead.",
    )


class Dashboards(Model):
    """Grafana dashboards as ConfigMaps labelled grafana_dashboard: "1", which Grafana's dashboard sidecar loads:
    one per platform, and one per service beside it."""

    enabled: bool = Field(True)
    namespace: DnsLabel | None = Field(
        None,
        description="Namespace of the platform's dashboard (one the sidecar searches; it must exist); absent: the "
        "first team's namespace.",
    )


class PagerDuty(Model):
    """PagerDuty's Events API v2."""

    routing_key_secret: KeyVaultObjectName = Field(
        description="Key Vault secret holding the integration (routing) key of the PagerDuty service."
    )


class Opsgenie(Model):
    """Opsgenie's Alert API."""

    api_key_secret: KeyVaultObjectName = Field(description="Key Vault secret holding the Opsgenie API key.")
    api_url: HttpsUrl | None = Field(None, description="The API of another Opsgenie instance, e.g. the EU one.")


class Urgency(StrEnum):
    """What an alert of a severity does: wakes someone up, opens a ticket, or notifies no one."""

    PAGE = "page"
    TICKET = "ticket"
    NONE = "none"


class SeverityRoute(Model):
    """Where the alerts of one severity label go."""

    severity: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]*$", max_length=32)] = Field(
        description="The alerts' severity label: critical (the fast error-budget burns), warning (the slow ones)."
    )
    urgency: Urgency = Field(description="page, ticket or none.")


def _default_severities() -> list[SeverityRoute]:
    return [
        SeverityRoute(severity="critical", urgency=Urgency.PAGE),
        SeverityRoute(severity="warning", urgency=Urgency.TICKET),
    ]


_ONE_PROVIDER = "spec.observability.onCall: set exactly one of pagerDuty or opsgenie"


class OnCall(Model):
    """Who is told, instead of an e-mail: an AlertmanagerConfig in each team namespace routes its alerts by severity
    to PagerDuty or Opsgenie, with the key read from the platform's Key Vault (docs/observability.md)."""

    model_config = rules(cel("has(self.pagerDuty) != has(self.opsgenie)", _ONE_PROVIDER, reason="FieldValueInvalid"))

    pager_duty: PagerDuty | None = Field(None, description="Alerts go to PagerDuty.")
    opsgenie: Opsgenie | None = Field(None, description="Alerts go to Opsgenie.")
    identity_client_id: Guid | None = Field(
        None,
        description="Client id of a managed identity of your own that reads the key: Key Vault Secrets User on it, "
        "federated with the ServiceAccount fabrikam-oncall-keys of each team namespace. Absent: the operator creates "
        "that identity (needs spec.azure.oidcIssuerUrl), and removes it with the platform.",
    )
    severities: list[SeverityRoute] = Field(
        default_factory=_default_severities,
        min_length=1,
        max_length=8,
        description="Where each severity goes; alerts of other severities notify no one.",
        json_schema_extra={
            "default": [{"severity": "critical", "urgency": "page"}, {"severity": "warning", "urgency": "ticket"}],
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["severity"],
        },
    )

    @model_validator(mode="after")
    def _one_provider(self) -> OnCall:
        if (self.pager_duty is None) == (self.opsgenie is None):
            raise ValueError(_ONE_PROVIDER)
        unique(self.severities, "severity", "spec.observability.onCall.severities")
        return self

    @property
    def key_secret(self) -> str:
        """The Key Vault secret holding the provider's key."""
        if self.pager_duty is not None:
            return self.pager_duty.routing_key_secret
        assert self.opsgenie is not None
        return self.opsgenie.api_key_secret


class Tracing(Model):
    """Which of the services' traces are kept (workloads/kit/trace_sampling.py): a share of the new ones, each whole.

    One in ten by default. Every drone reports its position every second or so, and each report is a trace (its
    batch, then delivery's handling of the position), so a fleet's reports outnumber the spans of its deliveries'
    sagas hundreds to one, and keeping every trace costs ten times the Application Insights ingestion (or the
    collector's storage) of keeping one in ten. Little is lost at that share: the alerts, objectives and dashboards
    read the metrics, which are never sampled; Application Insights scales the counts of the kept traces back up
    (each span carries the rate it was kept at); and one delivery in ten is still plenty of whole traces an hour
    to read. 1 keeps them all (a development cluster, a hunt for one delivery), 0 none.
    """

    sampling_ratio: float = Field(
        0.1,
        ge=0,
        le=1,
        description="Share of new traces the services keep, from 0 (none) to 1 (all); set as OTEL_TRACES_SAMPLER_ARG "
        "with OTEL_TRACES_SAMPLER=parentbased_traceidratio. A trace is kept or dropped whole: a span whose caller or "
        "message carries a trace context follows its sampled flag, so a delivery's trace is kept across the queues.",
    )


# A Log Analytics workspace's ARM id; Azure answers the provider's name in either case.
WorkspaceResourceId = Annotated[
    str,
    StringConstraints(
        pattern=r"^/subscriptions/[^/]+/resource[Gg]roups/[^/]+/providers/[Mm]icrosoft\.[Oo]perational[Ii]nsights"
        r"/workspaces/[^/]+$",
        max_length=1024,
    ),
]


class ApplicationInsights(Model):
    """The platform's Application Insights component (operator/azure/desired.py), whose connection string every
    service gets as APPLICATIONINSIGHTS_CONNECTION_STRING.

    Azure creates workspace-based components only (classic ones are retired), so the component needs a Log
    Analytics workspace. The spec names an existing one rather than the operator creating its own: a workspace is
    usually shared (Container Insights, diagnostic settings) and its retention, access and cost belong to whoever
    runs the subscription; one the operator created would go with the platform, and the logs with it.
    """

    workspace_resource_id: WorkspaceResourceId = Field(
        description="ARM id of the Log Analytics workspace that stores the telemetry, e.g. "
        "/subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.OperationalInsights/workspaces/<name>."
    )


class Observability(Model):
    """Traces, metrics, alerts, dashboards and on-call."""

    otlp_endpoint: Annotated[str, StringConstraints(pattern=r"^https?://[^\s]+$", max_length=512)] | None = Field(
        None, description="OTLP endpoint for traces and metrics, set as OTEL_EXPORTER_OTLP_ENDPOINT."
    )
    collector_namespace: DnsLabel | None = Field(
        None, description="Namespace of an in-cluster OpenTelemetry collector, allowed out on 4317/4318."
    )
    application_insights: ApplicationInsights | None = Field(
        None,
        description="Provision the platform's Application Insights component (needs spec.azure) and send every "
        "service's traces and metrics there; it wins over otlpEndpoint. Absent: none.",
    )
    tracing: Tracing = defaulted(Tracing, "Which of the services' traces are kept.")
    metrics: Metrics = defaulted(Metrics)
    prometheus_labels: dict[str, LabelValue] = Field(
        default_factory=dict,
        max_length=16,
        description="Labels on every PodMonitor, PrometheusRule and AlertmanagerConfig: those your Prometheus and "
        "Alertmanager select them by, e.g. release: kube-prometheus-stack.",
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    f"self.all(k, k.matches('{LABEL_KEY_PATTERN}'))",
                    "spec.observability.prometheusLabels: keys must be label keys ([prefix/]name)",
                    reason="FieldValueInvalid",
                )
            ]
        },
    )
    runbook_base_url: HttpsUrl = Field(
        RUNBOOK_BASE_URL,
        description="Where the alerts' runbooks are (the folder of docs/runbooks): each alert's runbook_url is "
        "<this>/<file>.md#<alert>.",
    )
    dashboards: Dashboards = defaulted(Dashboards, "Grafana dashboards.")
    on_call: OnCall | None = Field(
        None, description="Alerts to PagerDuty or Opsgenie by severity (needs spec.azure.keyVaultName); absent: none."
    )

    @model_validator(mode="after")
    def _label_keys(self) -> Observability:
        for key in self.prometheus_labels:
            if not re.fullmatch(LABEL_KEY_PATTERN, key) or len(key) > 316:
                raise ValueError(f"spec.observability.prometheusLabels: {key!r} is not a label key ([prefix/]name)")
        return self


__all__ = [
    "LATENCY_BOUNDS_MS",
    "RUNBOOK_BASE_URL",
    "ApplicationInsights",
    "AvailabilityObjective",
    "Dashboards",
    "LatencyObjective",
    "Metrics",
    "Observability",
    "OnCall",
    "Opsgenie",
    "PagerDuty",
    "ServiceLevelObjectives",
    "SeverityRoute",
    "Tracing",
    "Urgency",
]
