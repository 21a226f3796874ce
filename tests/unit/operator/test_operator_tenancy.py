"""Tenancy as tables: a team's declaration never opens a door the owner of the other side did not open.

The cases are the ones found by trying `fabrikam render` of the samples as the shipping team would (issue #19):
a call into another team's service, the pipeline's own queue, a bundled component with a team's image.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from fabrikam.operator.api import DeliveryPlatform, DroneService
from fabrikam.operator.render import bundled_services, render_drone_service, validate_drone_service
from fabrikam.operator.render.catalog import platform_queues
from fabrikam.operator.render.graph import ServiceRef
from fabrikam.operator.render.validation import InvalidSpec

SHIPPING, CUSTOMER = "fabrikam-shipping", "fabrikam-customer"
Obj = dict[str, Any]


def _svc(doc: Obj, **spec: Any) -> DroneService:
    changed = copy.deepcopy(doc)
    changed["spec"] |= spec
    return DroneService.model_validate(changed)


def _platform(doc: Obj, change: Any = None) -> DeliveryPlatform:
    changed = copy.deepcopy(doc)
    if change is not None:
        change(changed["spec"])
    return DeliveryPlatform.model_validate(changed)


def _problems(svc: DroneService, platform: DeliveryPlatform, *extra: DroneService) -> list[tuple[str, str]]:
    peers = [*bundled_services(platform), *extra, svc]
    return [(p.reason, p.field) for p in validate_drone_service(svc, platform=platform, peers=peers)]


def _policy(objects: list[Obj]) -> Obj:
    (policy,) = [o for o in objects if o["kind"] == "NetworkPolicy"]
    return policy


def _peers_in(rules: list[Obj]) -> set[tuple[str, str]]:
    """(namespace, service) of every pod peer in a NetworkPolicy's ingress or egress rules."""
    return {
        (
            peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
            peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"],
        )
        for rule in rules
        for peer in rule.get("from", rule.get("to", []))
        if "app.kubernetes.io/name" in peer.get("podSelector", {}).get("matchLabels", {})
    }


def _account(platform: DeliveryPlatform) -> DroneService:
    return next(s for s in bundled_services(platform) if s.name == "account")


def _rendered(svc: DroneService, platform: DeliveryPlatform, *extra: DroneService) -> list[Obj]:
    return render_drone_service(svc, platform=platform, peers=[*bundled_services(platform), *extra, svc])


@pytest.mark.parametrize(
    ("consent", "opened"),
    [
        (None, False),
        ({"namespace": SHIPPING, "name": "other-service"}, False),
        ({"namespace": "fabrikam-ops"}, False),
        ({"team": "customer"}, False),
        ({"namespace": SHIPPING, "name": "delivery-analytics"}, True),
        ({"namespace": SHIPPING}, True),
        ({"team": "shipping"}, True),
    ],
)
def test_a_call_into_another_team_opens_only_with_the_callees_consent(
    platform_doc: Obj, team_service_doc: Obj, consent: Obj | None, opened: bool
) -> None:
    """Shipping's own service calls customer's account: neither account's ingress nor the caller's egress opens,
    and the caller is Degraded naming where the consent goes, until the platform (account's owner) accepts."""

    def accept(spec: Obj) -> None:
        if consent is not None:
            spec.setdefault("services", {}).setdefault("account", {})["allowedCallers"] = [consent]

    platform = _platform(platform_doc, accept)
    caller = _svc(team_service_doc, calls=[{"name": "account", "namespace": CUSTOMER}])
    problems = _problems(caller, platform)
    account = _account(platform)
    ingress = _peers_in(_policy(_rendered(account, platform, caller))["spec"]["ingress"])
    egress = _peers_in(_policy(_rendered(caller, platform))["spec"]["egress"])
    assert ((SHIPPING, "delivery-analytics") in ingress) is opened
    assert ((CUSTOMER, "account") in egress) is opened
    if opened:
        assert problems == []
    else:
        assert problems == [("CallNotAccepted", "spec.calls[0]")]
        (message,) = [
            p.message for p in validate_drone_service(caller, platform=platform, peers=[*bundled_services(platform)])
        ]
        assert "fabrikam-customer/account does not accept calls from fabrikam-shipping/delivery-analytics" in message
        assert "spec.services.account.allowedCallers" in message


def test_a_teams_own_callee_consents_in_its_own_spec_and_same_namespace_calls_need_none(
    platform_doc: Obj, team_service_doc: Obj
) -> None:
    platform = _platform(platform_doc)
    reports_doc = copy.deepcopy(team_service_doc)
    reports_doc["metadata"] |= {"name": "reports", "namespace": CUSTOMER}
    reports = _svc(reports_doc, calls=[], uses=[])
    caller = _svc(team_service_doc, calls=[{"name": "reports", "namespace": CUSTOMER}, {"name": "delivery"}])
    assert _problems(caller, platform, reports) == [("CallNotAccepted", "spec.calls[0]")]
    assert "its spec.allowedCallers" in validate_drone_service(caller, platform=platform, peers=[reports])[0].message
    accepting = _svc(reports_doc, calls=[], uses=[], allowedCallers=[{"team": "shipping"}])
    assert _problems(caller, platform, accepting) == []
    egress = _peers_in(_policy(_rendered(caller, platform, accepting))["spec"]["egress"])
    assert {(CUSTOMER, "reports"), (SHIPPING, "delivery")} <= egress


def test_the_bundled_services_accept_exactly_their_catalog_callers(platform: DeliveryPlatform) -> None:
    """Workflow (shipping) calls package (customer): package's spec says so, and nobody else of shipping gets in."""
    services = {s.name: s for s in bundled_services(platform)}
    assert [c.model_dump(exclude_none=True) for c in services["package"].spec.allowed_callers] == [
        {"namespace": SHIPPING, "name": "workflow"}
    ]
    ingress = _peers_in(_policy(_rendered(services["package"], platform))["spec"]["ingress"])
    assert ingress == {(SHIPPING, "workflow")}
    for svc in services.values():
        assert [
            p
            for p in validate_drone_service(svc, platform=platform, peers=services.values())
            if p.reason == "CallNotAccepted"
        ] == []


@pytest.mark.parametrize(
    ("grants", "use", "missing"),
    [
        ([], {"kind": "queue", "name": "delivery-requests", "access": ["receive"]}, ["receive"]),
        (
            [{"name": "delivery-requests", "access": ["send"]}],
            {"kind": "queue", "name": "delivery-requests"},
            ["receive"],
        ),
        (
            [{"name": "delivery-requests", "access": ["receive"]}],
            {"kind": "queue", "name": "delivery-requests", "access": ["receive"]},
            [],
        ),
        ([], {"kind": "queue", "name": "reports"}, ["receive", "send"]),
        ([{"name": "reports", "access": ["send", "receive"]}], {"kind": "queue", "name": "reports"}, []),
    ],
)
def test_a_teams_service_uses_only_the_queues_granted_to_its_team(
    platform_doc: Obj, team_service_doc: Obj, grants: list[Obj], use: Obj, missing: list[str]
) -> None:
    def grant(spec: Obj) -> None:
        next(t for t in spec["teams"] if t["namespace"] == SHIPPING)["queues"] = grants

    platform = _platform(platform_doc, grant)
    svc = _svc(team_service_doc, uses=[use])
    problems = validate_drone_service(svc, platform=platform, peers=bundled_services(platform))
    if missing:
        assert [(p.reason, p.field) for p in problems] == [("QueueNotGranted", "spec.uses[0].name")]
        assert f"not granted {'/'.join(missing)} on queue {use['name']!r}" in problems[0].message
    else:
        assert problems == []
    # A queue granted to a team exists: it is created with the platform's queues.
    names = [q.name for q in platform_queues(platform)]
    assert all(g["name"] in names for g in grants)
    assert len(names) == len(set(names))


def test_a_teams_service_cannot_claim_a_bundled_component(platform: DeliveryPlatform, team_service_doc: Obj) -> None:
    """Shipping's service claiming `account` with its own image is refused outright (nothing rendered)."""
    impostor = _svc(team_service_doc, component="account", calls=[])
    assert _problems(impostor, platform) == [("ComponentReserved", "spec.component")]
    with pytest.raises(InvalidSpec, match="ComponentReserved"):
        _rendered(impostor, platform)
    # In the cluster the platform's own carry its owner reference; the same name and namespace without it do not.
    owned = platform.model_copy(deep=True)
    owned.metadata.uid = "a1b2"
    (account,) = [s for s in bundled_services(owned) if s.name == "account"]
    assert _problems(account, owned) == [("StoreNotProvided", "spec.uses[0]")]  # Azure SQL: not built yet
    lookalike_doc = copy.deepcopy(team_service_doc)
    lookalike_doc["metadata"] |= {"name": "account", "namespace": CUSTOMER}
    lookalike = _svc(lookalike_doc, component="account", calls=[])
    assert _problems(lookalike, owned) == [("ComponentReserved", "spec.component")]


@pytest.mark.parametrize(
    ("allowed", "repository", "admitted"),
    [
        (None, "fabrikam.azurecr.io/shipping/delivery-analytics", True),
        (None, "docker.io/library/nginx", False),
        (None, "fabrikam.azurecr.io.evil.example/x", False),
        (["fabrikam.azurecr.io/shipping/"], "fabrikam.azurecr.io/shipping/delivery-analytics", True),
        (["fabrikam.azurecr.io/shipping/"], "fabrikam.azurecr.io/customer/x", False),
        (["fabrikam.azurecr.io/ship/"], "fabrikam.azurecr.io/shipping/delivery-analytics", False),
        (["localhost:5000/"], "localhost:5000/fabrikam/x", True),
    ],
)
def test_images_come_from_the_platforms_registries(
    platform_doc: Obj, team_service_doc: Obj, allowed: list[str] | None, repository: str, admitted: bool
) -> None:
    """Default: the registry of the platform's own image. A prefix ends in "/", so no longer host matches it."""

    def restrict(spec: Obj) -> None:
        if allowed is not None:
            spec["allowedRegistries"] = allowed

    platform = _platform(platform_doc, restrict)
    svc = _svc(team_service_doc, image={**team_service_doc["spec"]["image"], "repository": repository})
    assert (("ImageNotAllowed", "spec.image.repository") not in _problems(svc, platform)) is admitted


def test_a_registry_prefix_must_end_with_a_slash(platform_doc: Obj) -> None:
    with pytest.raises(ValueError, match="allowedRegistries"):
        _platform(platform_doc, lambda spec: spec.update(allowedRegistries=["fabrikam.azurecr.io"]))


def test_a_consent_names_a_team_or_a_namespace(team_service_doc: Obj) -> None:
    for wrong in ({}, {"team": "shipping", "namespace": SHIPPING}, {"team": "shipping", "name": "x"}):
        with pytest.raises(ValueError, match="allowedCallers"):
            _svc(team_service_doc, allowedCallers=[wrong])


def test_a_teams_service_gets_its_own_redis_key_prefix(platform: DeliveryPlatform, team_service: DroneService) -> None:
    (config,) = [o for o in _rendered(team_service, platform) if o["kind"] == "ConfigMap"]
    assert config["data"]["FABRIKAM_REDIS_KEY_PREFIX"] == "team/fabrikam-shipping/delivery-analytics:"
    assert team_service.redis_key_prefix == "team/fabrikam-shipping/delivery-analytics:"
    assert ServiceRef.of(team_service) == ServiceRef(SHIPPING, "delivery-analytics")
