"""Ingress for exposed services: class and host from the platform, TLS issued and rotated by cert-manager."""

from __future__ import annotations

from fabrikam.operator.api import DeliveryPlatform, DroneService
from fabrikam.operator.render.labels import Obj, metadata


def tls_secret_name(svc: DroneService) -> str:
    return f"{svc.name}-tls"


def ingress(svc: DroneService, *, platform: DeliveryPlatform, labels: dict[str, str], owners: list[Obj]) -> Obj | None:
    """None when the service is not exposed, or the platform has no host to publish it on."""
    expose, spec = svc.spec.expose, platform.spec.ingress
    if expose is None or spec.host is None:
        return None
    annotations = {
        "cert-manager.io/cluster-issuer": spec.cluster_issuer,
        "nginx.ingress.kubernetes.io/force-ssl-redirect": "true",
        "nginx.ingress.kubernetes.io/limit-rps": str(spec.rate_limit.requests_per_second),
        "nginx.ingress.kubernetes.io/limit-burst-multiplier": str(spec.rate_limit.burst_multiplier),
    }
    path: str = expose.path
    path_type: str = expose.path_type
    if expose.strip_prefix:
        # /api/delivery/v1/deliveries/42 reaches the service as /v1/deliveries/42; /api/delivery alone as /.
        prefix = expose.path.rstrip("/")
        path, path_type = f"{prefix}(/|$)(.*)", "ImplementationSpecific"
        annotations |= {
            "nginx.ingress.kubernetes.io/use-regex": "true",
            "nginx.ingress.kubernetes.io/rewrite-target": "/$2",
        }
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": metadata(svc.name, namespace=svc.namespace, labels=labels, owners=owners, annotations=annotations),
        "spec": {
            "ingressClassName": spec.class_name,
            "tls": [{"hosts": [spec.host], "secretName": tls_secret_name(svc)}],
            "rules": [
                {
                    "host": spec.host,
                    "http": {
                        "paths": [
                            {
                                "path": path,
                                "pathType": path_type,
                                "backend": {"service": {"name": svc.name, "port": {"name": "http"}}},
                            }
                        ]
                    },
                }
            ],
        },
    }
