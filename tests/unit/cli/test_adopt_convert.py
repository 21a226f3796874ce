"""`fabrikam adopt`'s conversion, rule by rule: given these Deployments (and what surrounds them), these
DroneServices, this team mapping and these notes."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from fabrikam.cli.adopt import Adoption, Note, adopt
from fabrikam.cli.adopt.convert import ADOPTED_IMAGE, PLACEHOLDER_DIGEST, AdoptionError
from fabrikam.cli.adopt.environment import looks_secret
from fabrikam.cli.adopt.images import Resolution
from fabrikam.operator.api import DeliveryPlatform, DroneService, Team

DIGEST = "sha256:" + "ab" * 32
OTHER_DIGEST = "sha256:" + "cd" * 32
IMAGE = "fabrikam.azurecr.io/delivery:1.2"
RESOLVED = {IMAGE: Resolution(DIGEST)}
SECRET_VALUE = "s3cr3t-Value-that-must-never-leak"
SAMPLES = Path(__file__).resolve().parents[3] / "config" / "samples"


@pytest.fixture
def platform_doc() -> dict[str, Any]:
    """The production sample: Key Vault kv-fabrikam-prod, teams shipping, fleet and customer."""
    doc: dict[str, Any] = yaml.safe_load((SAMPLES / "platform.yaml").read_text())
    return doc


def container(**fields: Any) -> dict[str, Any]:
    return {"name": "delivery", "image": IMAGE, "ports": [{"name": "http", "containerPort": 8080}]} | fields


def deployment(
    name: str = "delivery",
    *,
    namespace: str = "default",
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    replicas: int | None = 2,
    containers: list[dict[str, Any]] | None = None,
    **pod: Any,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": name}},
        "template": {
            "metadata": {"labels": {"app": name, **(labels or {})}},
            "spec": {"containers": containers or [container(name=name)], **pod},
        },
    }
    if replicas is not None:
        spec["replicas"] = replicas
    metadata = {"name": name, "namespace": namespace, "labels": {"team": "shipping", **(labels or {})}}
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata, "spec": spec}


def service(name: str, app: str, *, namespace: str = "default", kind: str = "ClusterIP") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"type": kind, "selector": {"app": app}, "ports": [{"port": 8080}]},
    }


def config_map(name: str, data: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"}, "data": data}


def secret(name: str, keys: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": "default"},
        "data": dict.fromkeys(keys, ""),
    }


def hpa(target: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": target, "namespace": "default"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target}} | spec,
    }


def only(adoption: Adoption, name: str = "delivery") -> dict[str, Any]:
    found = [s for s in adoption.services if s["metadata"]["name"] == name]
    assert len(found) == 1, adoption.notes
    spec: dict[str, Any] = found[0]["spec"]
    return spec


def notes_of(adoption: Adoption, field: str) -> list[str]:
    return [note.message for note in adoption.notes if note.field == field]


def config(spec: dict[str, Any]) -> dict[str, str]:
    return {entry["name"]: entry["value"] for entry in spec.get("config", [])}


# Image


def test_a_tagged_image_is_pinned_to_the_digest_its_registry_answered() -> None:
    adoption = adopt([deployment()], digests=RESOLVED)
    assert only(adoption)["image"] == {"repository": "fabrikam.azurecr.io/delivery", "digest": DIGEST}
    assert notes_of(adoption, "image") == []


def test_an_image_pinned_by_digest_keeps_it_without_asking() -> None:
    pinned = f"fabrikam.azurecr.io/delivery@{OTHER_DIGEST}"
    adoption = adopt([deployment(containers=[container(image=pinned)])], digests=None)
    assert only(adoption)["image"]["digest"] == OTHER_DIGEST


def test_an_unresolved_image_gets_the_unpullable_placeholder_and_a_note_saying_how_to_fill_it() -> None:
    unreachable = {IMAGE: Resolution(None, "fabrikam.azurecr.io did not answer within 5 s")}
    adoption = adopt([deployment()], digests=unreachable)
    assert only(adoption)["image"]["digest"] == PLACEHOLDER_DIGEST
    assert adoption.services[0]["metadata"]["annotations"][ADOPTED_IMAGE] == IMAGE
    (message,) = notes_of(adoption, "image")
    assert "did not answer within 5 s" in message
    assert "az acr repository show -n fabrikam --image delivery:1.2 --query digest -o tsv" in message


def test_with_resolution_off_the_note_says_so() -> None:
    (message,) = notes_of(adopt([deployment()], digests=None), "image")
    assert "--no-resolve-digests" in message


def test_a_docker_hub_short_name_is_spelled_out_and_its_registry_allowed() -> None:
    adoption = adopt([deployment(containers=[container(image=f"nginx@{DIGEST}")])])
    assert only(adoption)["image"]["repository"] == "docker.io/library/nginx"
    assert adoption.platform_patch["spec"]["allowedRegistries"] == ["docker.io/"]


# Ports


def test_the_port_named_http_is_the_service_port_and_the_others_are_dropped() -> None:
    ports = [{"name": "metrics", "containerPort": 9090}, {"name": "http", "containerPort": 5000}]
    adoption = adopt([deployment(containers=[container(ports=ports)])], digests=RESOLVED)
    assert only(adoption)["port"] == 5000
    assert notes_of(adoption, "port 9090") == ["dropped: a DroneService serves one HTTP port"]


def test_a_privileged_port_becomes_8080_with_a_note() -> None:
    adoption = adopt([deployment(containers=[container(ports=[{"containerPort": 80}])])], digests=RESOLVED)
    assert only(adoption)["port"] == 8080
    assert "non-root" in notes_of(adoption, "port 80")[0]


# Environment


def test_plain_values_are_kept_in_config() -> None:
    env = [{"name": "ETA_REFRESH_SECONDS", "value": "15"}, {"name": "LOG_LEVEL", "value": "info"}]
    spec = only(adopt([deployment(containers=[container(env=env)])], digests=RESOLVED))
    assert config(spec) == {"ETA_REFRESH_SECONDS": "15", "LOG_LEVEL": "info"}
    assert "secrets" not in spec


def test_a_secret_key_ref_becomes_a_key_vault_reference_with_the_command_to_copy_it() -> None:
    env = [{"name": "SENDGRID_API_KEY", "valueFrom": {"secretKeyRef": {"name": "mail", "key": "api.key"}}}]
    adoption = adopt([deployment(containers=[container(env=env)])], digests=RESOLVED)
    spec = only(adoption)
    assert spec["secrets"] == [{"name": "delivery-sendgrid-api-key"}]
    assert config(spec) == {"SENDGRID_API_KEY_FILE": "/mnt/secrets/delivery-sendgrid-api-key"}
    (message,) = notes_of(adoption, "env SENDGRID_API_KEY")
    assert message.startswith("came from Secret mail key api.key: now Key Vault reference delivery-sendgrid-api-key")
    assert (
        "kubectl get secret mail -n default -o jsonpath='{.data.api\\.key}' | base64 -d | az keyvault secret set "
        "--vault-name <key-vault> --name delivery-sendgrid-api-key --file /dev/stdin" in message
    )


def test_the_platform_key_vault_is_named_in_the_commands(platform_doc: dict[str, Any]) -> None:
    env = [{"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {"name": "tokens", "key": "api"}}}]
    adoption = adopt([deployment(containers=[container(env=env)])], digests=RESOLVED, platform=platform_doc)
    assert "--vault-name kv-fabrikam-prod " in notes_of(adoption, "env API_TOKEN")[0]


def test_a_plain_value_that_looks_secret_moves_to_key_vault_and_is_not_copied() -> None:
    env = [
        {"name": "TWILIO_AUTH_TOKEN", "value": SECRET_VALUE},
        {"name": "MONGO_URL", "value": f"mongodb://app:{SECRET_VALUE}@mongo:27017/packages"},
    ]
    adoption = adopt([deployment(containers=[container(env=env)])], digests=RESOLVED)
    spec = only(adoption)
    assert [s["name"] for s in spec["secrets"]] == ["delivery-mongo-url", "delivery-twilio-auth-token"]
    assert SECRET_VALUE not in str(adoption)
    assert "rotate it" in notes_of(adoption, "env TWILIO_AUTH_TOKEN")[0]


@pytest.mark.parametrize(
    ("name", "value", "secret"),
    [
        ("DB_PASSWORD", "x", True),
        ("SENDGRID_API_KEY", "x", True),
        ("TWILIO_AUTH_TOKEN", "x", True),
        ("SERVICE_AUTH_SHARED_SECRET", "x", True),
        ("STORAGE_CONNECTION_STRING", "x", True),
        ("SETTINGS", "Server=tcp:sql;User ID=app;Password=x", True),
        ("QUEUE", "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKey=x", True),
        ("CACHE", "rediss://:x@cache:6380", True),
        ("TOKEN_LIFETIME_MINUTES", "60", False),
        ("SECRET_NAME", "sendgrid", False),
        ("TWILIO_ACCOUNT_SID", "AC0123", False),
        ("APPLICATIONINSIGHTS_CONNECTION_STRING", "InstrumentationKey=0000;IngestionEndpoint=https://x/", False),
    ],
)
def test_what_looks_like_a_secret(name: str, value: str, secret: bool) -> None:
    assert looks_secret(name, value) is secret


def test_config_map_values_are_kept_unless_they_look_like_connection_strings() -> None:
    data = {"REGION": "westus2", "REDIS": f"fabrikam.redis.cache.windows.net:6380,password={SECRET_VALUE},ssl=True"}
    env_from = [{"configMapRef": {"name": "settings"}}]
    env = [{"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "REGION"}}}]
    objects = [deployment(containers=[container(envFrom=env_from, env=env)]), config_map("settings", data)]
    adoption = adopt(objects, digests=RESOLVED)
    spec = only(adoption)
    assert config(spec) == {"MODE": "westus2", "REGION": "westus2", "REDIS_FILE": "/mnt/secrets/delivery-redis"}
    assert spec["secrets"] == [{"name": "delivery-redis"}]
    assert "ConfigMap settings key REDIS holds what looks like a secret" in notes_of(adoption, "env REDIS")[0]
    assert SECRET_VALUE not in str(adoption)


def test_env_from_a_secret_moves_each_key_to_key_vault() -> None:
    objects = [
        deployment(containers=[container(envFrom=[{"secretRef": {"name": "creds"}, "prefix": "APP_"}])]),
        secret("creds", ["USER", "PASSWORD"]),
    ]
    spec = only(adopt(objects, digests=RESOLVED))
    assert spec["secrets"] == [{"name": "delivery-app-password"}, {"name": "delivery-app-user"}]


def test_what_cannot_be_carried_over_is_dropped_with_a_note() -> None:
    env = [
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "OTEL_SERVICE_NAME", "value": "delivery"},
        {"name": "MISSING", "valueFrom": {"configMapKeyRef": {"name": "absent", "key": "x"}}},
    ]
    adoption = adopt([deployment(containers=[container(env=env)])], digests=RESOLVED)
    assert "config" not in only(adoption)
    assert notes_of(adoption, "env POD_NAME") == ["came from metadata.name, which a DroneService cannot set: dropped"]
    assert "FABRIKAM_* and OTEL_*" in notes_of(adoption, "env OTEL_SERVICE_NAME")[0]
    assert notes_of(adoption, "env MISSING")[0].startswith("not found among the objects read")


def test_an_address_of_another_adopted_service_is_rewritten_and_becomes_a_call_it_accepts() -> None:
    env = [{"name": "PACKAGE_URL", "value": "http://package-svc:8080/api/packages"}]
    objects = [
        deployment(containers=[container(env=env)]),
        deployment("package", labels={"team": "customer"}),
        service("package-svc", "package"),
    ]
    adoption = adopt(objects, digests={IMAGE: Resolution(DIGEST)})
    caller, callee = only(adoption, "delivery"), only(adoption, "package")
    assert config(caller)["PACKAGE_URL"] == "http://package.fabrikam-customer.svc.cluster.local/api/packages"
    assert caller["calls"] == [{"name": "package", "namespace": "fabrikam-customer"}]
    assert callee["allowedCallers"] == [{"namespace": "fabrikam-shipping", "name": "delivery"}]


def test_a_call_in_the_same_namespace_needs_no_consent() -> None:
    env = [{"name": "PACKAGE_HOST", "value": "package-svc.default.svc.cluster.local:8080"}]
    objects = [deployment(containers=[container(env=env)]), deployment("package"), service("package-svc", "package")]
    adoption = adopt(objects, digests=RESOLVED)
    assert config(only(adoption))["PACKAGE_HOST"] == "package.fabrikam-shipping.svc.cluster.local:80"
    assert only(adoption)["calls"] == [{"name": "package"}]
    assert "allowedCallers" not in only(adoption, "package")


def test_an_address_of_a_service_not_adopted_is_kept_with_a_note() -> None:
    env = [{"name": "LEGACY_URL", "value": "http://legacy.default.svc.cluster.local/api"}]
    adoption = adopt([deployment(containers=[container(env=env)])], digests=RESOLVED)
    assert config(only(adoption))["LEGACY_URL"] == "http://legacy.default.svc.cluster.local/api"
    assert "not adopted" in notes_of(adoption, "env LEGACY_URL")[0]


def test_an_external_url_and_the_stores_named_by_variables_become_uses() -> None:
    env = [
        {"name": "WEATHER_URL", "value": "https://api.weather.example.com/v1"},
        {"name": "REDIS_HOST", "value": "fabrikam.redis.cache.windows.net"},
        {"name": "SERVICEBUS_CONNECTION", "valueFrom": {"secretKeyRef": {"name": "bus", "key": "cs"}}},
        {"name": "INGEST_QUEUE_NAME", "value": "delivery-requests"},
    ]
    adoption = adopt([deployment(containers=[container(env=env)])], digests=RESOLVED)
    assert only(adoption)["uses"] == [
        {"kind": "external", "name": "api.weather.example.com"},
        {"kind": "queue", "name": "delivery-requests"},
        {"kind": "redis", "name": "delivery"},
    ]
    (grant,) = adoption.teams[0]["queues"]
    assert grant == {"name": "delivery-requests", "access": ["send", "receive"]}


def test_service_bus_without_a_named_queue_says_what_to_add() -> None:
    env = [{"name": "SERVICEBUS_CONNECTION", "valueFrom": {"secretKeyRef": {"name": "bus", "key": "cs"}}}]
    adoption = adopt([deployment(containers=[container(env=env)])], digests=RESOLVED)
    assert "uses" not in only(adoption)
    assert any("no plain variable names its queue" in m for m in notes_of(adoption, "env SERVICEBUS_CONNECTION"))


# Resources


def test_no_resources_are_filled_from_the_platform_defaults_with_a_note() -> None:
    adoption = adopt([deployment()], digests=RESOLVED)
    assert only(adoption)["resources"] == {
        "requests": {"cpu": "100m", "memory": "128Mi"},
        "limits": {"cpu": "500m", "memory": "256Mi"},
    }
    assert notes_of(adoption, "resources")[0].startswith("none set: filled from the platform's defaults")


def test_missing_limits_come_from_the_defaults_never_below_the_requests() -> None:
    resources = {"requests": {"cpu": "750m", "memory": "128Mi"}}
    adoption = adopt([deployment(containers=[container(resources=resources)])], digests=RESOLVED)
    assert only(adoption)["resources"] == {
        "requests": {"cpu": "750m", "memory": "128Mi"},
        "limits": {"cpu": "750m", "memory": "256Mi"},
    }
    assert "no cpu and memory limit" in notes_of(adoption, "resources.limits")[0]


def test_limits_alone_are_the_requests_too_as_kubernetes_does() -> None:
    resources = {"limits": {"cpu": 1, "memory": "1Gi"}}
    adoption = adopt([deployment(containers=[container(resources=resources)])], digests=RESOLVED)
    assert only(adoption)["resources"] == {
        "requests": {"cpu": "1", "memory": "1Gi"},
        "limits": {"cpu": "1", "memory": "1Gi"},
    }
    assert not [n for n in adoption.notes if n.field.startswith("resources")]


# Probes


def test_probe_timings_are_kept_and_other_paths_are_noted() -> None:
    readiness = {"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 5, "failureThreshold": 500}
    liveness = {"httpGet": {"path": "/healthz", "port": "http"}, "initialDelaySeconds": 20}
    probes = {"readinessProbe": readiness, "livenessProbe": liveness}
    adoption = adopt([deployment(containers=[container(**probes)])], digests=RESOLVED)
    assert only(adoption)["probes"] == {
        "readiness": {"periodSeconds": 5, "failureThreshold": 120},
        "liveness": {"initialDelaySeconds": 20},
    }
    assert notes_of(adoption, "readinessProbe") == [
        "was GET /ready on port 8080: the operator probes GET /readyz on the http port; the service must answer "
        "there before the switch"
    ]
    assert notes_of(adoption, "readinessProbe.failureThreshold") == ["500 is outside 1..120: 120"]
    assert notes_of(adoption, "livenessProbe") == []


@pytest.mark.parametrize(
    "probe",
    [
        {"httpGet": {"path": "/health/db", "port": 8080}},
        {"httpGet": {"path": "/healthz", "port": 8080, "host": "redis"}},
        {"exec": {"command": ["sh", "-c", "redis-cli -h cache ping"]}},
        {"exec": {"command": ["pg_isready", "-h", "db"]}},
    ],
)
def test_a_liveness_probe_checking_a_dependency_is_replaced_by_the_service_own(probe: dict[str, Any]) -> None:
    adoption = adopt([deployment(containers=[container(livenessProbe=probe | {"periodSeconds": 3})])], digests=RESOLVED)
    assert "liveness" not in only(adoption).get("probes", {})
    (message,) = notes_of(adoption, "livenessProbe")
    assert message.startswith("checked a dependency")
    assert "replaced by the service's own /healthz" in message


def test_missing_probes_are_noted() -> None:
    adoption = adopt([deployment()], digests=RESOLVED)
    assert notes_of(adoption, "readinessProbe")[0].startswith("none: the operator probes GET /readyz")
    assert notes_of(adoption, "livenessProbe")[0].startswith("none: the operator probes GET /healthz")


# Replicas


def test_an_existing_hpa_gives_the_autoscaling_bounds() -> None:
    metrics = [
        {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}}
    ]
    autoscaler = hpa("delivery", minReplicas=3, maxReplicas=15, metrics=metrics)
    autoscaler["spec"]["behavior"] = {"scaleDown": {"stabilizationWindowSeconds": 120}}
    spec = only(adopt([deployment(), autoscaler], digests=RESOLVED))
    assert spec["autoscaling"] == {
        "minReplicas": 3,
        "maxReplicas": 15,
        "targetCpuUtilizationPercentage": 60,
        "scaleDownStabilizationSeconds": 120,
    }


def test_an_autoscaling_v1_hpa_is_read_too() -> None:
    autoscaler = hpa("delivery", minReplicas=2, maxReplicas=10, targetCPUUtilizationPercentage=70)
    autoscaler["apiVersion"] = "autoscaling/v1"
    assert only(adopt([deployment(), autoscaler], digests=RESOLVED))["autoscaling"]["maxReplicas"] == 10


def test_a_fixed_replica_count_is_min_and_max_with_a_note() -> None:
    adoption = adopt([deployment(replicas=5)], digests=RESOLVED)
    assert only(adoption)["autoscaling"] == {"minReplicas": 5, "maxReplicas": 5, "targetCpuUtilizationPercentage": 70}
    assert "raise maxReplicas" in notes_of(adoption, "replicas")[0]


@pytest.mark.parametrize("replicas", [None, 1])
def test_fewer_than_two_pods_become_two(replicas: int | None) -> None:
    adoption = adopt([deployment(replicas=replicas)], digests=RESOLVED)
    assert only(adoption)["autoscaling"]["minReplicas"] == 2
    assert any("minReplicas 2" in message for message in notes_of(adoption, "replicas"))


def test_an_hpa_minimum_of_one_becomes_two() -> None:
    adoption = adopt([deployment(), hpa("delivery", minReplicas=1, maxReplicas=4)], digests=RESOLVED)
    assert only(adoption)["autoscaling"] == {"minReplicas": 2, "maxReplicas": 4, "targetCpuUtilizationPercentage": 70}


# Teams


def test_the_team_label_names_the_team_and_its_namespace() -> None:
    adoption = adopt([deployment()], digests=RESOLVED)
    assert adoption.services[0]["metadata"]["namespace"] == "fabrikam-shipping"
    (team,) = adoption.teams
    assert (team["name"], team["namespace"], team["costCenter"]) == ("shipping", "fabrikam-shipping", "cc-shipping")
    assert "set the team's real cost center" in notes_of(adoption, "costCenter")[0]


def test_without_a_team_label_the_helm_release_is_the_team() -> None:
    released = deployment(annotations={"meta.helm.sh/release-name": "Fleet_Ops"})
    del released["metadata"]["labels"]["team"]
    adoption = adopt([released], digests=RESOLVED)
    assert adoption.teams[0]["name"] == "fleet-ops"
    assert Note("team fleet-ops", "name", notes_of(adoption, "name")[0]) in adoption.notes
    assert "Helm release Fleet_Ops" in notes_of(adoption, "name")[0]


def test_without_label_or_release_the_source_namespace_is_the_team() -> None:
    bare = deployment(namespace="default")
    del bare["metadata"]["labels"]["team"]
    adoption = adopt([bare], digests=RESOLVED)
    assert (adoption.teams[0]["name"], adoption.teams[0]["namespace"]) == ("default", "fabrikam-default")


def test_the_caller_chooses_the_team_by_name_mapping_or_function() -> None:
    objects = [deployment("a"), deployment("b")]
    assert {t["name"] for t in adopt(objects, team_of="Fleet", digests=RESOLVED).teams} == {"fleet"}
    by_name = adopt(objects, team_of={"a": "customer"}, digests=RESOLVED)
    assert {t["name"] for t in by_name.teams} == {"customer", "shipping"}
    by_function = adopt(objects, team_of=lambda d: d["metadata"]["name"] + "-team", digests=RESOLVED)
    assert {t["name"] for t in by_function.teams} == {"a-team", "b-team"}
    assert notes_of(by_function, "name") == []


def test_a_cost_center_label_is_used() -> None:
    adoption = adopt([deployment(labels={"cost-center": "cc-1001-shipping"})], digests=RESOLVED)
    assert adoption.teams[0]["costCenter"] == "cc-1001-shipping"
    assert notes_of(adoption, "costCenter") == []


def test_the_quota_holds_the_services_at_their_hpa_maxima() -> None:
    resources = {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "2Gi"}}
    objects = [deployment(containers=[container(resources=resources)]), hpa("delivery", minReplicas=2, maxReplicas=12)]
    adoption = adopt(objects, digests=RESOLVED)
    # 12 pods at peak plus 3 surging in a rolling update, 2 CPU and 2 GiB each.
    assert adoption.teams[0]["quota"] == {"cpu": "30", "memory": "32Gi", "pods": 100}
    Team.model_validate(adoption.teams[0])


def test_the_patch_runs_the_adopted_services_with_the_bundled_ones_off() -> None:
    spec = adopt([deployment()], digests=RESOLVED).platform_patch["spec"]
    assert spec["allowedRegistries"] == ["fabrikam.azurecr.io/"]
    assert len(spec["services"]) == 8
    assert all(value == {"enabled": False} for value in spec["services"].values())


def test_merged_into_an_existing_platform_its_team_namespace_is_used_and_a_bundled_namesake_turned_off(
    platform_doc: dict[str, Any],
) -> None:
    adoption = adopt([deployment()], digests=RESOLVED, platform=platform_doc)
    assert adoption.services[0]["metadata"]["namespace"] == "fabrikam-shipping"
    assert adoption.platform is not None
    merged = DeliveryPlatform.model_validate(adoption.platform)
    assert merged.spec.services.delivery.enabled is False
    assert merged.spec.services.ingestion.enabled is True
    shipping = next(t for t in merged.spec.teams if t.name == "shipping")
    assert shipping.groups == ["0b1f3c5a-7d9e-4f21-8a3b-5c7d9e1f2a4b"]
    assert merged.spec.allowed_registries == ["fabrikam.azurecr.io/"]
    assert notes_of(adoption, "spec.services.delivery.enabled")


def test_an_invalid_platform_is_refused_naming_its_fields(platform_doc: dict[str, Any]) -> None:
    del platform_doc["spec"]["image"]
    with pytest.raises(AdoptionError, match=r"spec\.image"):
        adopt([deployment()], platform=platform_doc)


# The rest of the pod


def test_ingress_paths_become_expose() -> None:
    ingress = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": "api",
            "namespace": "default",
            "annotations": {"nginx.ingress.kubernetes.io/rewrite-target": "/"},
        },
        "spec": {
            "rules": [
                {
                    "host": "api.fabrikam.com",
                    "http": {
                        "paths": [
                            {
                                "path": "/api/deliveries",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": "delivery-svc", "port": {"number": 8080}}},
                            }
                        ]
                    },
                }
            ]
        },
    }
    adoption = adopt(
        [deployment(), service("delivery-svc", "delivery", kind="LoadBalancer"), ingress], digests=RESOLVED
    )
    assert only(adoption)["expose"] == {"path": "/api/deliveries"}
    messages = notes_of(adoption, "Ingress api")
    assert "it was api.fabrikam.com/api/deliveries" in messages[0]
    assert "stripPrefix" in messages[1]
    assert "LoadBalancer" in notes_of(adoption, "Service delivery-svc")[0]


def test_a_secret_volume_becomes_key_vault_files_and_other_volumes_are_dropped() -> None:
    mounts = [
        {"name": "tls", "mountPath": "/etc/tls"},
        {"name": "data", "mountPath": "/var/data"},
        {"name": "scratch", "mountPath": "/tmp"},
    ]
    volumes = [
        {"name": "tls", "secret": {"secretName": "delivery-tls"}},
        {"name": "data", "persistentVolumeClaim": {"claimName": "data"}},
        {"name": "scratch", "emptyDir": {}},
    ]
    objects = [
        deployment(containers=[container(volumeMounts=mounts)], volumes=volumes),
        secret("delivery-tls", ["tls.crt", "tls.key"]),
    ]
    adoption = adopt(objects, digests=RESOLVED)
    assert only(adoption)["secrets"] == [
        {"name": "delivery-delivery-tls-tls-crt"},
        {"name": "delivery-delivery-tls-tls-key"},
    ]
    assert "not /etc/tls" in notes_of(adoption, "volume tls")[0]
    assert notes_of(adoption, "volume data")[0].startswith("persistentVolumeClaim at /var/data: dropped")
    assert notes_of(adoption, "volume scratch") == []


def test_sidecars_and_init_containers_are_dropped_and_privileges_noted() -> None:
    containers = [container(securityContext={"privileged": True}), container(name="debug", image=IMAGE)]
    adoption = adopt(
        [deployment(containers=containers, initContainers=[{"name": "migrate", "image": IMAGE}])], digests=RESOLVED
    )
    assert notes_of(adoption, "container debug")
    assert notes_of(adoption, "initContainer migrate")
    assert notes_of(adoption, "securityContext")[0].startswith("ran privileged, with a writable root filesystem")


def test_a_pod_asking_for_spot_nodes_is_interruptible() -> None:
    selector = {"kubernetes.azure.com/scalesetpriority": "spot"}
    assert only(adopt([deployment(nodeSelector=selector)], digests=RESOLVED))["placement"] == {"interruptible": True}


def test_other_workloads_are_not_adopted() -> None:
    stateful = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "redis", "namespace": "default"}}
    adoption = adopt([deployment(), stateful], digests=RESOLVED)
    assert Note("default/redis", "StatefulSet", "not adopted: only Deployments become DroneServices") in adoption.notes


def test_every_written_service_is_what_the_models_accept() -> None:
    adoption = adopt([deployment("a"), deployment("b", replicas=7)], digests=RESOLVED)
    for manifest in adoption.services:
        parsed = DroneService.model_validate(manifest)
        assert parsed.metadata.annotations["dronedelivery.fabrikam.io/adopted-from"].startswith("Deployment default/")
