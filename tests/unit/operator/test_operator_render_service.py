"""Given a DroneService and its platform, these are the objects it becomes."""

from __future__ import annotations

from typing import Any

import pytest

from fabrikam.operator.api import DeliveryPlatform, DroneService
from fabrikam.operator.api.service import Expose
from fabrikam.operator.render import InvalidSpec, ServiceFacts, bundled_services, endpoint, render_drone_service

CLIENT_ID = "0f6a1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d"


def _render(svc: DroneService, platform: DeliveryPlatform, **kwargs: Any) -> dict[str, dict[str, Any]]:
    peers = [*bundled_services(platform), svc]
    return {o["kind"]: o for o in render_drone_service(svc, platform=platform, peers=peers, **kwargs)}


def _bundled(platform: DeliveryPlatform, name: str) -> DroneService:
    return next(s for s in bundled_services(platform) if s.name == name)


def test_a_service_becomes_its_workload_objects_in_apply_order(platform: DeliveryPlatform) -> None:
    svc = _bundled(platform, "notification")
    kinds = [o["kind"] for o in render_drone_service(svc, platform=platform, peers=bundled_services(platform))]
    assert kinds == [
        "ServiceAccount",
        "ConfigMap",
        "SecretProviderClass",
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "Ingress",
    ]


def test_every_object_carries_the_label_set(platform: DeliveryPlatform, team_service: DroneService) -> None:
    for obj in _render(team_service, platform).values():
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "delivery-analytics"
        assert labels["app.kubernetes.io/instance"] == "fabrikam"
        assert labels["app.kubernetes.io/part-of"] == "fabrikam-drone-delivery"
        assert labels["app.kubernetes.io/managed-by"] == "fabrikam-operator"
        assert labels["app.kubernetes.io/component"] == "custom"
        assert labels["dronedelivery.fabrikam.io/team"] == "shipping"
        assert labels["dronedelivery.fabrikam.io/cost-center"] == "cc-1001-shipping"
        assert obj["metadata"]["namespace"] == "fabrikam-shipping"


def test_only_current_api_versions(platform: DeliveryPlatform, team_service: DroneService) -> None:
    versions = {kind: o["apiVersion"] for kind, o in _render(team_service, platform).items()}
    assert versions["Deployment"] == "apps/v1"
    assert versions["HorizontalPodAutoscaler"] == "autoscaling/v2"
    assert versions["PodDisruptionBudget"] == "policy/v1"
    assert versions["NetworkPolicy"] == "networking.k8s.io/v1"


def test_the_pod_is_hardened(platform: DeliveryPlatform, team_service: DroneService) -> None:
    pod = _render(team_service, platform)["Deployment"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] > 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    (container,) = pod["containers"]
    assert container["securityContext"] | {} == {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert container["resources"] == {
        "requests": {"cpu": "100m", "memory": "256Mi"},
        "limits": {"cpu": "1", "memory": "512Mi"},
    }
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]


def test_image_by_digest_and_config_from_the_config_map(platform: DeliveryPlatform, team_service: DroneService) -> None:
    (container,) = _render(team_service, platform)["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert container["image"] == (
        "fabrikam.azurecr.io/shipping/delivery-analytics@sha256:9c2e7b4f1a3d5c6e8f0a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e2f4a6b8c0d2e"
    )
    assert container["envFrom"] == [{"configMapRef": {"name": "delivery-analytics-config"}}]
    assert container["args"] == ["--interval", "300"]


def test_probes_liveness_checks_the_process_readiness_the_dependencies(
    platform: DeliveryPlatform, team_service: DroneService
) -> None:
    (container,) = _render(team_service, platform)["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["startupProbe"]["failureThreshold"] == 60  # the sample's override
    assert container["startupProbe"]["periodSeconds"] == 5  # the default it kept


def test_pods_spread_over_zones_and_nodes(platform: DeliveryPlatform, team_service: DroneService) -> None:
    pod = _render(team_service, platform)["Deployment"]["spec"]["template"]["spec"]
    keys = [c["topologyKey"] for c in pod["topologySpreadConstraints"]]
    assert keys == ["topology.kubernetes.io/zone", "kubernetes.io/hostname"]


def test_only_interruptible_services_go_to_spot(platform: DeliveryPlatform, team_service: DroneService) -> None:
    spot = _render(team_service, platform)["Deployment"]["spec"]["template"]["spec"]
    assert spot["tolerations"] == [
        {"key": "kubernetes.azure.com/scalesetpriority", "operator": "Equal", "value": "spot", "effect": "NoSchedule"}
    ]
    preferred = spot["affinity"]["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]
    assert preferred["preference"]["matchExpressions"][0]["values"] == ["spot"]
    regular = _render(_bundled(platform, "delivery"), platform)["Deployment"]["spec"]["template"]["spec"]
    assert "tolerations" not in regular
    assert "affinity" not in regular


def test_the_hpa_owns_replicas(platform: DeliveryPlatform, team_service: DroneService) -> None:
    objects = _render(team_service, platform)
    assert "replicas" not in objects["Deployment"]["spec"]
    hpa = objects["HorizontalPodAutoscaler"]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 4)
    assert hpa["metrics"][0]["resource"]["target"] == {"type": "Utilization", "averageUtilization": 80}
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "delivery-analytics"}


def test_a_pdb_protects_every_service(platform: DeliveryPlatform, team_service: DroneService) -> None:
    pdb = _render(team_service, platform)["PodDisruptionBudget"]["spec"]
    assert pdb["maxUnavailable"] == 1
    assert pdb["selector"]["matchLabels"]["app.kubernetes.io/name"] == "delivery-analytics"


def test_workload_identity_annotation_once_the_client_id_is_known(
    platform: DeliveryPlatform, team_service: DroneService
) -> None:
    before = _render(team_service, platform)
    assert "annotations" not in before["ServiceAccount"]["metadata"]
    labels = before["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert labels["azure.workload.identity/use"] == "true"
    after = _render(team_service, platform, facts=ServiceFacts(identity_client_id=CLIENT_ID))
    assert after["ServiceAccount"]["metadata"]["annotations"] == {"azure.workload.identity/client-id": CLIENT_ID}


def test_a_config_change_changes_the_pod_template_hash(platform: DeliveryPlatform, team_service: DroneService) -> None:
    def digest(svc: DroneService) -> str:
        template = _render(svc, platform)["Deployment"]["spec"]["template"]
        value: str = template["metadata"]["annotations"]["dronedelivery.fabrikam.io/config-hash"]
        return value

    changed = team_service.model_copy(deep=True)
    changed.spec.config[0].value = "48"
    assert digest(team_service) == digest(team_service.model_copy(deep=True))
    assert digest(team_service) != digest(changed)


def test_the_config_map_wires_dependencies_and_telemetry(
    platform: DeliveryPlatform, team_service: DroneService
) -> None:
    data = _render(team_service, platform)["ConfigMap"]["data"]
    assert data["FABRIKAM_DELIVERY_URL"] == "http://delivery.fabrikam-shipping.svc.cluster.local"
    assert data["FABRIKAM_HOST"] == "0.0.0.0"
    assert data["FABRIKAM_BROKER"] == "servicebus"
    assert data["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector.observability.svc.cluster.local:4317"
    assert data["REPORT_WINDOW_HOURS"] == "24"
    assert list(data) == sorted(data)


def test_key_vault_secrets_are_mounted_files_not_kubernetes_secrets(platform: DeliveryPlatform) -> None:
    objects = _render(_bundled(platform, "notification"), platform, facts=ServiceFacts(identity_client_id=CLIENT_ID))
    assert "Secret" not in objects
    spc = objects["SecretProviderClass"]["spec"]
    assert spc["provider"] == "azure"
    assert spc["parameters"]["keyvaultName"] == "kv-fabrikam-prod"
    assert spc["parameters"]["clientID"] == CLIENT_ID
    assert "objectName: sendgrid-api-key" in spc["parameters"]["objects"]
    (container,) = objects["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert {"name": "secrets", "mountPath": "/mnt/secrets", "readOnly": True} in container["volumeMounts"]


def test_bundled_services_read_their_third_party_secrets_and_pii_key_from_the_mounted_files(
    platform: DeliveryPlatform,
) -> None:
    account = _render(_bundled(platform, "account"), platform)
    notification = _render(_bundled(platform, "notification"), platform)
    ingestion = _render(_bundled(platform, "ingestion"), platform)

    for objects, names in (
        (account, ["pii-key", "payments-webhook-secret"]),
        (notification, ["pii-key", "sendgrid-api-key", "twilio-auth-token"]),
    ):
        data = objects["ConfigMap"]["data"]
        assert data["FABRIKAM_SECRETS_DIR"] == "/mnt/secrets"
        assert data["FABRIKAM_PII_KEY_FILE"] == "/mnt/secrets/pii-key"
        assert data["FABRIKAM_PII_KEY_CREATE"] == "false"
        parameters = objects["SecretProviderClass"]["spec"]["parameters"]
        assert [line.split(": ")[1] for line in parameters["objects"].splitlines() if "objectName" in line] == names
    assert notification["ConfigMap"]["data"]["FABRIKAM_EMAIL_PROVIDER"] == "sendgrid"
    assert "FABRIKAM_EMAIL_PROVIDER" not in account["ConfigMap"]["data"]
    assert "SecretProviderClass" not in ingestion
    assert not any(key.startswith(("FABRIKAM_SECRETS", "FABRIKAM_PII")) for key in ingestion["ConfigMap"]["data"])


def test_without_a_key_vault_nothing_points_at_secret_files(platform: DeliveryPlatform) -> None:
    assert platform.spec.azure is not None
    azure = platform.spec.azure.model_copy(update={"key_vault_name": None})
    local = platform.model_copy(update={"spec": platform.spec.model_copy(update={"azure": azure})})

    account = _render(_bundled(local, "account"), local)

    assert "SecretProviderClass" not in account
    assert not any(key.startswith(("FABRIKAM_SECRETS", "FABRIKAM_PII")) for key in account["ConfigMap"]["data"])


def test_exposed_services_get_a_tls_ingress_on_the_platform_host(platform: DeliveryPlatform) -> None:
    ingress = _render(_bundled(platform, "delivery"), platform)["Ingress"]
    assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "letsencrypt"
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/limit-rps"] == "50"
    spec = ingress["spec"]
    assert spec["ingressClassName"] == "webapprouting.kubernetes.azure.com"
    assert spec["tls"] == [{"hosts": ["api.dronedelivery.fabrikam.com"], "secretName": "delivery-tls"}]
    path = spec["rules"][0]["http"]["paths"][0]
    # The service's own routes (/v1/deliveries/...) below /api/delivery, with the prefix stripped on the way in.
    assert (path["path"], path["pathType"]) == ("/api/delivery(/|$)(.*)", "ImplementationSpecific")
    assert path["backend"]["service"]["name"] == "delivery"
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/use-regex"] == "true"
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/rewrite-target"] == "/$2"
    assert (
        endpoint(_bundled(platform, "delivery"), platform=platform)
        == "https://api.dronedelivery.fabrikam.com/api/delivery"
    )


def test_a_plain_prefix_reaches_the_service_unchanged(platform: DeliveryPlatform, team_service: DroneService) -> None:
    team_service.spec.expose = Expose(path="/api/reports")
    ingress = _render(team_service, platform)["Ingress"]

    [path] = ingress["spec"]["rules"][0]["http"]["paths"]
    assert (path["path"], path["pathType"]) == ("/api/reports", "Prefix")
    assert "nginx.ingress.kubernetes.io/rewrite-target" not in ingress["metadata"]["annotations"]


def test_every_public_bundled_service_is_published_under_its_own_name(platform: DeliveryPlatform) -> None:
    published = {s.name: s.spec.expose.path for s in bundled_services(platform) if s.spec.expose is not None}

    assert published == {
        name: f"/api/{name}" for name in ("ingestion", "delivery", "notification", "account", "drone-telemetry")
    }


def test_internal_services_get_no_ingress(platform: DeliveryPlatform, team_service: DroneService) -> None:
    assert "Ingress" not in _render(team_service, platform)
    assert endpoint(team_service, platform=platform) == "http://delivery-analytics.fabrikam-shipping.svc.cluster.local"


def test_a_service_outside_every_team_namespace_is_not_rendered(
    platform: DeliveryPlatform, team_service: DroneService
) -> None:
    team_service.metadata.namespace = "somewhere-else"
    with pytest.raises(InvalidSpec) as raised:
        render_drone_service(team_service, platform=platform)
    assert raised.value.problems[0].reason == "NamespaceNotInPlatform"


def test_rendering_is_deterministic(platform: DeliveryPlatform, team_service: DroneService) -> None:
    assert _render(team_service, platform) == _render(team_service.model_copy(deep=True), platform)
