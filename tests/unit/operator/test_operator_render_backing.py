"""A development platform (`spec.backing.inCluster`): the stores it runs and how every service is wired to them."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from fabrikam.operator.api import DeliveryPlatform, DroneService
from fabrikam.operator.render import backing, bundled_services, expand_platform
from fabrikam.operator.render.labels import MANAGED_BY
from fabrikam.operator.render.service import render_dev_secret, render_drone_service
from fabrikam.operator.render.validation import validate_drone_service

Obj = dict[str, Any]
RESTRICTED_CONTAINER = {
    "runAsNonRoot": True,
    "readOnlyRootFilesystem": True,
    "allowPrivilegeEscalation": False,
    "privileged": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def _rendered(platform: DeliveryPlatform) -> dict[str, list[Obj]]:
    services = bundled_services(platform)
    return {svc.name: render_drone_service(svc, platform=platform, peers=services) for svc in services}


def _one(objects: list[Obj], kind: str, name: str | None = None) -> Obj:
    found = [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(found) == 1, (kind, name, found)
    return found[0]


def test_the_dev_sample_has_no_problems(dev_platform: DeliveryPlatform) -> None:
    services = bundled_services(dev_platform)
    assert len(services) == 8
    for svc in services:
        assert validate_drone_service(svc, platform=dev_platform, peers=services) == [], svc.name


def test_three_stores_with_their_own_volumes_in_a_restricted_namespace_and_a_mail_sink(
    dev_platform: DeliveryPlatform,
) -> None:
    objects = [o for o in expand_platform(dev_platform) if o["metadata"].get("namespace", "") == "fabrikam-backing"]
    namespace = _one(expand_platform(dev_platform), "Namespace", "fabrikam-backing")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert _one(objects, "NetworkPolicy", "default-deny")["spec"] == {
        "podSelector": {},
        "policyTypes": ["Ingress", "Egress"],
    }
    stateful = {o["metadata"]["name"]: o for o in objects if o["kind"] == "StatefulSet"}
    assert set(stateful) == {"redis", "mongo", "postgres"}
    for name, sts in stateful.items():
        spec = sts["spec"]
        assert spec["replicas"] == 1
        (claim,) = spec["volumeClaimTemplates"]
        assert claim["spec"]["storageClassName"] == "local-path"
        assert claim["spec"]["resources"]["requests"]["storage"] == "1Gi"
        container, *sidecars = spec["template"]["spec"]["containers"]
        assert [s["name"] for s in sidecars] == (["acl-sync"] if name == "redis" else [])
        for sidecar in sidecars:
            assert sidecar["securityContext"] == RESTRICTED_CONTAINER
            assert sidecar["image"] == container["image"]
            # The store has no fsGroup: its user must be able to read the mounted files as "other".
            admin = next(v for v in spec["template"]["spec"]["volumes"] if v["name"] == "acl-admin")
            assert admin["secret"]["defaultMode"] & 0o004
        assert container["securityContext"] == RESTRICTED_CONTAINER
        assert {"name": "data", "mountPath": container["volumeMounts"][0]["mountPath"]} in container["volumeMounts"]
        assert container["image"].startswith(f"localhost:5000/fabrikam/{'ferretdb' if name == 'mongo' else name}@")
        assert container["resources"]["limits"], name
        assert _one(objects, "Service", name)["spec"]["ports"][0]["port"] == backing.PORTS[name]
    assert "--appendonly" in stateful["redis"]["spec"]["template"]["spec"]["containers"][0]["args"]
    mail = _one(objects, "Deployment", backing.MAIL)
    assert mail["spec"]["template"]["spec"]["containers"][0]["securityContext"] == RESTRICTED_CONTAINER


def test_a_drain_waits_for_the_stores_unless_the_platform_declares_node_maintenance(
    dev_platform: DeliveryPlatform,
) -> None:
    """Each store is one pod on its node's volume: evicting it is an outage, so its budget allows none; declaring
    maintenance changes one field of the same objects (the applier never has to delete a budget)."""

    def budgets(platform: DeliveryPlatform) -> dict[str, Obj]:
        objects = expand_platform(platform)
        return {
            o["metadata"]["name"]: o["spec"]
            for o in objects
            if o["kind"] == "PodDisruptionBudget" and o["metadata"]["namespace"] == "fabrikam-backing"
        }

    held = budgets(dev_platform)
    assert set(held) == {"redis", "mongo", "postgres", backing.MAIL}
    for name, spec in held.items():
        assert spec == {
            "maxUnavailable": 0,
            "selector": {"matchLabels": {"app.kubernetes.io/name": name, "app.kubernetes.io/managed-by": MANAGED_BY}},
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
        }
    document = dev_platform.model_dump(mode="json", by_alias=True, exclude_none=True)
    document["spec"]["backing"]["inCluster"]["nodeMaintenance"] = True
    lifted = budgets(DeliveryPlatform.model_validate(document))
    assert set(lifted) == set(held)
    assert {spec["maxUnavailable"] for spec in lifted.values()} == {1}


def test_every_service_is_wired_to_what_it_uses_and_nothing_points_at_localhost(
    dev_platform: DeliveryPlatform,
) -> None:
    wanted = {
        "package": {"FABRIKAM_MONGO_URL": "mongodb://mongo.fabrikam-backing.svc.cluster.local:27017/"},
        "account": {
            "FABRIKAM_DATABASE_URL": "postgresql+asyncpg://fabrikam@postgres.fabrikam-backing.svc.cluster.local:5432/"
            "fabrikam"
        },
        "notification": {
            "FABRIKAM_SMTP_HOST": "mail-sink.fabrikam-backing.svc.cluster.local",
            "FABRIKAM_SMTP_PORT": "2525",
            "FABRIKAM_EMAIL_PROVIDER": "smtp",
        },
    }
    for name, objects in _rendered(dev_platform).items():
        data = _one(objects, "ConfigMap")["data"]
        namespace = _one(objects, "ConfigMap")["metadata"]["namespace"]
        url = f"redis://{namespace}.{name}@redis.fabrikam-backing.svc.cluster.local:6379/0"
        assert data["FABRIKAM_REDIS_URL"] == url, name
        # The ACL user's password: a file of the service's own Secret, never in the environment.
        assert data["FABRIKAM_REDIS_PASSWORD_FILE"] == "/mnt/redis/redis-password"
        pod = _one(objects, "Deployment")["spec"]["template"]["spec"]
        assert {"name": "redis", "secret": {"secretName": f"{name}-redis", "defaultMode": 0o440}} in pod["volumes"]
        assert {"name": "redis", "mountPath": "/mnt/redis", "readOnly": True} in pod["containers"][0]["volumeMounts"]
        assert data.items() >= wanted.get(name, {}).items(), name
        assert ("FABRIKAM_MONGO_URL" in data) == (name == "package")
        assert ("FABRIKAM_DATABASE_URL" in data) == (name == "account")
        assert not [v for v in data.values() if "127.0.0.1" in v or "localhost" in v], name


def test_a_store_admits_only_its_clients_and_the_clients_may_reach_only_their_stores(
    dev_platform: DeliveryPlatform,
) -> None:
    platform_objects = expand_platform(dev_platform)
    admitted = {}
    for store in ("redis", "mongo", "postgres", backing.MAIL):
        policy = _one(
            [o for o in platform_objects if o["metadata"].get("namespace") == "fabrikam-backing"],
            "NetworkPolicy",
            store,
        )
        (rule,) = policy["spec"]["ingress"]
        (peer,) = rule["from"]
        assert peer["namespaceSelector"]["matchExpressions"][0]["values"] == ["fabrikam-customer", "fabrikam-shipping"]
        admitted[store] = peer["podSelector"]["matchLabels"]
        assert rule["ports"] == [{"protocol": "TCP", "port": backing.PORTS[store]}]
    clients: dict[str, set[str]] = {}
    for name, objects in _rendered(dev_platform).items():
        labels = _one(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
        egress = _one(objects, "NetworkPolicy", name)["spec"]["egress"]
        reached = {
            peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
            for rule in egress
            for peer in rule["to"]
            if peer.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name")
            == "fabrikam-backing"
        }
        members = {store for store, selector in admitted.items() if labels.items() >= selector.items()}
        assert reached == members, name
        for store in members:
            clients.setdefault(store, set()).add(name)
    assert clients["mongo"] == {"package"}
    assert clients["postgres"] == {"account"}
    assert clients[backing.MAIL] == {"notification"}
    assert len(clients["redis"]) == 8


def test_secrets_come_from_a_generated_secret_mounted_as_files_never_from_the_environment(
    dev_platform: DeliveryPlatform,
) -> None:
    rendered = _rendered(dev_platform)
    for name, objects in rendered.items():
        deployment = _one(objects, "Deployment")
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert "env" not in container, name  # everything comes from the ConfigMap
        assert not any(o["kind"] in ("Secret", "SecretProviderClass") for o in objects), name
    account = {svc.name: svc for svc in bundled_services(dev_platform)}["account"]
    assert backing.dev_secret_keys(account, dev_platform) == [
        "pii-key",
        "payments-webhook-secret",
        "account-issuer-key",
    ]
    volumes = _one(rendered["account"], "Deployment")["spec"]["template"]["spec"]["volumes"]
    assert {"name": "secrets", "secret": {"secretName": "account-secrets", "defaultMode": 0o440}} in volumes
    data = _one(rendered["account"], "ConfigMap")["data"]
    assert data["FABRIKAM_PII_KEY_FILE"] == "/mnt/secrets/pii-key"
    assert data["FABRIKAM_PII_KEY_CREATE"] == "false"
    secret = render_dev_secret(account, platform=dev_platform, values={"pii-key": "a", "account-issuer-key": "b"})
    assert secret["metadata"]["namespace"] == "fabrikam-customer"
    assert secret["metadata"]["name"] == "account-secrets"
    assert secret["stringData"] == {"account-issuer-key": "b", "pii-key": "a"}


def test_without_stores_each_service_says_which_setting_provides_them(dev_platform_doc: dict[str, Any]) -> None:
    del dev_platform_doc["spec"]["backing"]
    platform = DeliveryPlatform.model_validate(dev_platform_doc)
    services = {svc.name: svc for svc in bundled_services(platform)}
    problems = {
        name: [(p.reason, p.field) for p in validate_drone_service(svc, platform=platform, peers=services.values())]
        for name, svc in services.items()
    }
    assert problems["package"][:2] == [("StoreNotProvided", "spec.component"), ("StoreNotProvided", "spec.uses[0]")]
    assert problems["account"][:2] == [("StoreNotProvided", "spec.component"), ("StoreNotProvided", "spec.uses[0]")]
    assert all(("StoreNotProvided", "spec.component") in found for found in problems.values())
    (mongo,) = [p for p in validate_drone_service(services["package"], platform=platform) if p.field == "spec.uses[0]"]
    assert "spec.backing.inCluster" in mongo.message
    assert "mongo 'packages'" in mongo.message
    rendered = render_drone_service(services["package"], platform=platform, peers=services.values())
    assert "FABRIKAM_MONGO_URL" not in _one(rendered, "ConfigMap")["data"]


def test_a_custom_service_gets_only_the_stores_it_declares(dev_platform: DeliveryPlatform) -> None:
    custom = DroneService.model_validate(
        {
            "metadata": {"name": "reports", "namespace": "fabrikam-shipping"},
            "spec": {
                "platformRef": {"name": "fabrikam-dev"},
                "component": "custom",
                "image": {"repository": "example.com/reports", "digest": "sha256:" + "1" * 64},
                "uses": [{"kind": "sql", "name": "reports"}],
            },
        }
    )
    assert backing.stores_of(custom, dev_platform) == ["postgres"]
    assert set(backing.environment(custom, dev_platform)) == {"FABRIKAM_DATABASE_URL"}


@pytest.mark.parametrize("namespace", ["fabrikam-customer", "default", "kube-backing"])
def test_the_stores_namespace_is_neither_a_team_nor_a_system_namespace(
    dev_platform_doc: dict[str, Any], namespace: str
) -> None:
    dev_platform_doc["spec"]["backing"]["inCluster"]["namespace"] = namespace
    with pytest.raises(ValidationError, match=r"spec\.backing\.inCluster\.namespace must not be"):
        DeliveryPlatform.model_validate(dev_platform_doc)


def test_the_backing_column_says_where_the_stores_come_from(
    dev_platform_doc: dict[str, Any], platform_doc: dict[str, Any]
) -> None:
    assert backing.description(dev_platform_doc["spec"]) == "in-cluster (fabrikam-backing)"
    assert backing.description(platform_doc["spec"]) == "azure"
    assert backing.description({"teams": []}) is None


def test_every_pod_of_the_platform_lands_on_the_nodes_it_names(dev_platform: DeliveryPlatform) -> None:
    """On the local cluster only the real nodes run containers: services and stores alike must go there."""
    objects = expand_platform(dev_platform) + [o for found in _rendered(dev_platform).values() for o in found]
    workloads = [o for o in objects if o["kind"] in ("Deployment", "StatefulSet")]
    assert len(workloads) == 8 + 3 + 1
    toleration = {"key": "fabrikam.io/real-node", "operator": "Exists", "effect": "NoSchedule"}
    for obj in workloads:
        pod = obj["spec"]["template"]["spec"]
        assert pod["nodeSelector"] == {"type": "real"}, obj["metadata"]["name"]
        assert pod["tolerations"] == [toleration], obj["metadata"]["name"]


def test_third_party_settings_reach_the_services_that_use_them(dev_platform_doc: dict[str, Any]) -> None:
    """Plain values through the API (the FABRIKAM_ prefix is refused in `config`), the weather host in egress."""
    dev_platform_doc["spec"]["thirdParty"] = {
        "email": {"fromAddress": "drones@fabrikam.example"},
        "sms": {"twilioAccountSid": "AC" + "0" * 32, "fromNumber": "+14255550100"},
        "weather": {"url": "https://weather.example.com/v1"},
    }
    dev_platform_doc["spec"]["network"] = {
        "egress": [{"name": "providers", "cidrs": ["203.0.113.0/24"], "ports": [443], "kinds": ["external"]}]
    }
    platform = DeliveryPlatform.model_validate(dev_platform_doc)
    rendered = _rendered(platform)
    notification = _one(rendered["notification"], "ConfigMap")["data"]
    assert notification["FABRIKAM_EMAIL_FROM"] == "drones@fabrikam.example"
    assert notification["FABRIKAM_TWILIO_ACCOUNT_SID"] == "AC" + "0" * 32
    assert notification["FABRIKAM_TWILIO_FROM"] == "+14255550100"
    scheduler = _one(rendered["drone-scheduler"], "ConfigMap")["data"]
    assert scheduler["FABRIKAM_WEATHER_URL"] == "https://weather.example.com/v1"
    egress = _one(rendered["drone-scheduler"], "NetworkPolicy", "drone-scheduler")["spec"]["egress"]
    assert {"to": [{"ipBlock": {"cidr": "203.0.113.0/24"}}], "ports": [{"protocol": "TCP", "port": 443}]} in egress
    assert "FABRIKAM_WEATHER_URL" not in _one(rendered["delivery"], "ConfigMap")["data"]
    dev_platform_doc["spec"]["thirdParty"]["sms"]["twilioAccountSid"] = "not-a-sid"
    with pytest.raises(ValidationError, match=r"twilioAccountSid"):
        DeliveryPlatform.model_validate(dev_platform_doc)


def test_the_fleet_speed_limit_reaches_drone_telemetry(
    dev_platform: DeliveryPlatform, platform: DeliveryPlatform
) -> None:
    telemetry = _one(_rendered(dev_platform)["drone-telemetry"], "ConfigMap")["data"]
    assert telemetry["FABRIKAM_TELEMETRY_MAX_SPEED_MPS"] == "1000"
    production = _one(_rendered(platform)["drone-telemetry"], "ConfigMap")["data"]
    assert production["FABRIKAM_TELEMETRY_MAX_SPEED_MPS"] == "60"


def test_the_scale_down_window_reaches_the_hpa(dev_platform: DeliveryPlatform, platform: DeliveryPlatform) -> None:
    hpa = _one(_rendered(dev_platform)["ingestion"], "HorizontalPodAutoscaler")["spec"]
    assert hpa["behavior"] == {"scaleDown": {"stabilizationWindowSeconds": 60}}
    assert "behavior" not in _one(_rendered(platform)["ingestion"], "HorizontalPodAutoscaler")["spec"]
