"""Given a platform's spec.observability.onCall, each team namespace routes its alerts by severity to PagerDuty or
Opsgenie, with the key synced from Key Vault; without the AlertmanagerConfig CRD, the status says there is none."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from fabrikam.operator.api import DeliveryPlatform
from fabrikam.operator.render import MonitoringApis, platform_monitoring_status, render_platform_monitoring
from fabrikam.operator.render.oncall import (
    alertmanager_config,
    keys_deployment,
    read_by,
    secret_provider_class,
    service_account,
)

CLIENT_ID = "6b1d3f5a-7c9e-4b2d-8f4a-1c3e5a7b9d0f"


@pytest.fixture
def on_call_doc(platform_doc: dict[str, Any]) -> dict[str, Any]:
    platform_doc["spec"]["observability"]["onCall"] = {
        "pagerDuty": {"routingKeySecret": "pagerduty-routing-key"},
        "identityClientId": CLIENT_ID,
    }
    return platform_doc


def _severity(value: str) -> dict[str, str]:
    return {"name": "severity", "value": value, "matchType": "="}


def _platform(doc: dict[str, Any]) -> DeliveryPlatform:
    return DeliveryPlatform.model_validate(doc)


def test_each_team_namespace_gets_its_routing_and_the_key_sync(on_call_doc: dict[str, Any]) -> None:
    objects = render_platform_monitoring(_platform(on_call_doc), apis=MonitoringApis())
    on_call = [(o["metadata"]["namespace"], o["kind"], o["metadata"]["name"]) for o in objects[1:]]
    assert on_call == [
        (namespace, kind, name)
        for namespace in ("fabrikam-shipping", "fabrikam-fleet", "fabrikam-customer")
        for kind, name in (
            ("ServiceAccount", "fabrikam-oncall-keys"),
            ("SecretProviderClass", "fabrikam-oncall"),
            ("Deployment", "fabrikam-oncall-keys"),
            ("AlertmanagerConfig", "fabrikam-oncall"),
        )
    ]


def test_pages_and_tickets_go_to_pagerduty_with_the_synced_key(on_call_doc: dict[str, Any]) -> None:
    platform = _platform(on_call_doc)
    config = alertmanager_config(platform, platform.spec.teams[0])
    assert config["apiVersion"] == "monitoring.coreos.com/v1alpha1"
    route = config["spec"]["route"]
    assert route["receiver"] == "none"
    assert route["groupBy"] == ["alertname", "namespace", "service"]
    assert route["routes"] == [
        {"matchers": [_severity("critical")], "receiver": "page", "repeatInterval": "1h"},
        {"matchers": [_severity("warning")], "receiver": "ticket", "repeatInterval": "12h"},
    ]
    receivers = {r["name"]: r for r in config["spec"]["receivers"]}
    assert receivers["none"] == {"name": "none"}
    [page] = receivers["page"]["pagerdutyConfigs"]
    assert page["routingKey"] == {"name": "fabrikam-oncall", "key": "routing-key"}
    assert page["severity"] == "critical"
    assert receivers["ticket"]["pagerdutyConfigs"][0]["severity"] == "warning"
    assert config["spec"]["inhibitRules"][0]["equal"] == ["namespace", "service", "slo"]


def test_opsgenie_gets_priorities_and_its_own_instance(on_call_doc: dict[str, Any]) -> None:
    on_call_doc["spec"]["observability"]["onCall"] = {
        "opsgenie": {"apiKeySecret": "opsgenie-api-key", "apiUrl": "https://api.eu.opsgenie.com/"},
        "identityClientId": CLIENT_ID,
        "severities": [{"severity": "critical", "urgency": "page"}, {"severity": "warning", "urgency": "none"}],
    }
    platform = _platform(on_call_doc)
    config = alertmanager_config(platform, platform.spec.teams[0])
    receivers = {r["name"]: r for r in config["spec"]["receivers"]}
    assert set(receivers) == {"none", "page"}
    [page] = receivers["page"]["opsgenieConfigs"]
    assert (page["priority"], page["apiURL"]) == ("P1", "https://api.eu.opsgenie.com/")
    assert page["apiKey"] == {"name": "fabrikam-oncall", "key": "api-key"}
    assert config["spec"]["route"]["routes"][1] == {
        "matchers": [{"name": "severity", "value": "warning", "matchType": "="}],
        "receiver": "none",
    }
    provider = secret_provider_class(platform, platform.spec.teams[0])
    assert provider["spec"]["secretObjects"][0]["data"] == [{"objectName": "opsgenie-api-key", "key": "api-key"}]


def test_the_key_comes_from_key_vault_through_the_csi_driver_with_its_own_identity(
    on_call_doc: dict[str, Any],
) -> None:
    platform = _platform(on_call_doc)
    team = platform.spec.teams[1]
    provider = secret_provider_class(platform, team)
    parameters = provider["spec"]["parameters"]
    assert parameters["keyvaultName"] == "kv-fabrikam-prod"
    assert parameters["clientID"] == CLIENT_ID
    assert "objectName: pagerduty-routing-key" in parameters["objects"]
    assert provider["spec"]["secretObjects"][0]["secretName"] == "fabrikam-oncall"
    deployment = keys_deployment(platform, team)
    pod = deployment["spec"]["template"]
    assert pod["metadata"]["labels"]["azure.workload.identity/use"] == "true"
    assert pod["spec"]["serviceAccountName"] == "fabrikam-oncall-keys"
    assert pod["spec"]["volumes"][0]["csi"]["volumeAttributes"] == {"secretProviderClass": "fabrikam-oncall"}
    container = pod["spec"]["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert set(container["resources"]) == {"requests", "limits"}
    assert deployment["spec"]["replicas"] == 1


OPERATORS_READER = "0f6e2a4c-1b3d-4e5f-8a7b-9c0d1e2f3a4b"


def _kinds(objects: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(o["metadata"]["namespace"], o["kind"]) for o in objects if o["kind"] != "ConfigMap"]


def test_without_an_identity_of_the_users_the_key_is_read_by_the_one_the_operator_provisions(
    on_call_doc: dict[str, Any],
) -> None:
    del on_call_doc["spec"]["observability"]["onCall"]["identityClientId"]
    platform = read_by(_platform(on_call_doc), OPERATORS_READER)
    team = platform.spec.teams[0]
    assert secret_provider_class(platform, team)["spec"]["parameters"]["clientID"] == OPERATORS_READER
    annotations = service_account(platform, team)["metadata"]["annotations"]
    assert annotations == {"azure.workload.identity/client-id": OPERATORS_READER}


def test_until_the_operators_reader_is_known_only_the_routing_is_rendered(on_call_doc: dict[str, Any]) -> None:
    """Nothing unrendered is deleted: the keys objects an earlier pass applied stay as they were."""
    del on_call_doc["spec"]["observability"]["onCall"]["identityClientId"]
    objects = render_platform_monitoring(read_by(_platform(on_call_doc), None), apis=MonitoringApis())
    assert _kinds(objects) == [
        ("fabrikam-shipping", "AlertmanagerConfig"),
        ("fabrikam-fleet", "AlertmanagerConfig"),
        ("fabrikam-customer", "AlertmanagerConfig"),
    ]


def test_an_identity_the_user_names_wins_over_the_operators(on_call_doc: dict[str, Any]) -> None:
    platform = read_by(_platform(on_call_doc), OPERATORS_READER)
    assert platform.spec.observability.on_call is not None
    assert platform.spec.observability.on_call.identity_client_id == CLIENT_ID
    provider = secret_provider_class(platform, platform.spec.teams[0])
    assert provider["spec"]["parameters"]["clientID"] == CLIENT_ID


def test_another_reader_rolls_the_keys_pod_so_it_mounts_the_key_again(on_call_doc: dict[str, Any]) -> None:
    del on_call_doc["spec"]["observability"]["onCall"]["identityClientId"]
    platform = _platform(on_call_doc)
    team = platform.spec.teams[0]

    def rollout(client_id: str) -> Any:
        return keys_deployment(read_by(platform, client_id), team)["spec"]["template"]["metadata"]["annotations"]

    assert rollout(OPERATORS_READER) == rollout(OPERATORS_READER)
    assert rollout(OPERATORS_READER) != rollout(CLIENT_ID)


def test_without_the_crd_there_is_no_routing_and_the_status_says_so(on_call_doc: dict[str, Any]) -> None:
    platform = _platform(on_call_doc)
    apis = MonitoringApis(alertmanager_config=False)
    assert [o["kind"] for o in render_platform_monitoring(platform, apis=apis)] == ["ConfigMap"]
    assert platform_monitoring_status(platform, apis=apis) == (
        "dashboard ConfigMap fabrikam-shipping/fabrikam-platform-dashboard; AlertmanagerConfig CRD not installed: "
        "no on-call routing"
    )
    assert platform_monitoring_status(platform, apis=MonitoringApis()).endswith(
        "AlertmanagerConfig fabrikam-oncall in 3 team namespaces"
    )


@pytest.mark.parametrize(
    ("on_call", "message"),
    [
        ({"identityClientId": CLIENT_ID}, "set exactly one of pagerDuty or opsgenie"),
        (
            {
                "pagerDuty": {"routingKeySecret": "a"},
                "opsgenie": {"apiKeySecret": "b"},
                "identityClientId": CLIENT_ID,
            },
            "set exactly one of pagerDuty or opsgenie",
        ),
        ({"pagerDuty": {"routingKeySecret": "a"}, "identityClientId": "not-a-guid"}, "identityClientId"),
        ({"pagerDuty": {"routingKeySecret": "not a name"}, "identityClientId": CLIENT_ID}, "routingKeySecret"),
    ],
)
def test_a_wrong_on_call_is_refused_naming_the_field(
    platform_doc: dict[str, Any], on_call: dict[str, Any], message: str
) -> None:
    platform_doc["spec"]["observability"]["onCall"] = on_call
    with pytest.raises(ValidationError, match=message):
        _platform(platform_doc)


def test_on_call_needs_the_key_vault(on_call_doc: dict[str, Any]) -> None:
    del on_call_doc["spec"]["azure"]["keyVaultName"]
    with pytest.raises(ValidationError, match=r"spec\.observability\.onCall needs spec\.azure\.keyVaultName"):
        _platform(on_call_doc)
