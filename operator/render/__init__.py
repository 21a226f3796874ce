"""Pure rendering: specs (plus observed facts) in, plain-dict Kubernetes objects out. No I/O, no clients."""

from fabrikam.operator.render.graph import ServiceRef, callers_of
from fabrikam.operator.render.monitoring import (
    MonitoringApis,
    platform_monitoring_status,
    render_platform_monitoring,
    render_service_monitoring,
    service_monitoring_status,
)
from fabrikam.operator.render.platform import bundled_services, expand_platform
from fabrikam.operator.render.service import ServiceFacts, endpoint, render_drone_service
from fabrikam.operator.render.team import render_team
from fabrikam.operator.render.validation import InvalidSpec, SpecProblem, validate_drone_service, validate_platform

__all__ = [
    "InvalidSpec",
    "MonitoringApis",
    "ServiceFacts",
    "ServiceRef",
    "SpecProblem",
    "bundled_services",
    "callers_of",
    "endpoint",
    "expand_platform",
    "platform_monitoring_status",
    "render_drone_service",
    "render_platform_monitoring",
    "render_service_monitoring",
    "render_team",
    "service_monitoring_status",
    "validate_drone_service",
    "validate_platform",
]
