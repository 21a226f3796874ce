"""The in-cluster Redis's ACL users as a table: who signs in as whom, reaching which keys (issue #19, locally).

Their effect on a real redis-server is in tests/integration/operator/test_redis_acl_users.py."""

from __future__ import annotations

import copy
import hashlib
from typing import Any

import pytest

from fabrikam.operator.api import DeliveryPlatform, DroneService
from fabrikam.operator.render import bundled_services, render_drone_service
from fabrikam.operator.render.backing import ACL_CONFIG_MAP, ACL_FILE
from fabrikam.operator.render.redis_acl import (
    DEFAULT_USER,
    LOCAL_TEAM_COMMANDS,
    acl_lines,
    admin_password,
    password,
    render_admin_secret,
    render_redis_acl,
)

KEY = b"k" * 32
UID = "0b7c6f0e-2f7a-4c1e-9d55-5d1f1c2e0a11"


@pytest.fixture
def platform(dev_platform_doc: dict[str, Any]) -> DeliveryPlatform:
    doc = copy.deepcopy(dev_platform_doc)
    doc["metadata"]["uid"] = UID
    shipping = next(t for t in doc["spec"]["teams"] if t["namespace"] == "fabrikam-shipping")
    shipping["queues"] = [{"name": "returns", "access": ["send", "receive"]}, {"name": "audit", "access": ["send"]}]
    return DeliveryPlatform.model_validate(doc)


def _team_service(team_service_doc: dict[str, Any], **spec: Any) -> DroneService:
    doc = copy.deepcopy(team_service_doc)
    doc["metadata"]["uid"] = "5f0c1e2d-0000-4000-8000-000000000001"
    doc["spec"]["platformRef"]["name"] = "fabrikam-dev"
    doc["spec"]["image"]["repository"] = "localhost:5000/shipping/delivery-analytics"  # the dev platform's registry
    doc["spec"] |= spec
    return DroneService.model_validate(doc)


def _users(lines: list[str]) -> dict[str, str]:
    return {line.split()[1]: line for line in lines}


def test_every_bundled_service_signs_in_as_itself_before_its_droneservice_exists(platform: DeliveryPlatform) -> None:
    lines = acl_lines(platform, [], KEY)
    assert lines[0] == DEFAULT_USER == "user default on nopass resetchannels -@all +ping"
    admin = hashlib.sha256(admin_password(KEY, "fabrikam-dev").encode()).hexdigest()
    assert lines[1] == f"user acl-admin on #{admin} resetchannels -@all +ping +acl|setuser +acl|deluser +acl|users"
    users = _users(lines[2:])
    expected = {f"{t.namespace}.{c.value}" for t in platform.spec.teams for c in t.services}
    assert set(users) == expected
    assert len(expected) == 8
    ingestion = users["fabrikam-shipping.ingestion"]
    digest = hashlib.sha256(password(KEY, "fabrikam-dev", "fabrikam-shipping", "ingestion").encode()).hexdigest()
    assert ingestion == f"user fabrikam-shipping.ingestion on #{digest} ~* &* +@all"
    # The platform's own DroneServices, once they exist, change nothing.
    assert acl_lines(platform, bundled_services(platform), KEY) == lines


def test_a_team_service_reaches_its_own_prefix_and_its_granted_queues_only(
    platform: DeliveryPlatform, team_service_doc: dict[str, Any]
) -> None:
    uses = [
        {"kind": "redis", "name": "analytics"},
        {"kind": "queue", "name": "returns", "access": ["receive"]},
        {"kind": "queue", "name": "audit", "access": ["send"]},
        # Not granted to the team: validation makes it Degraded (QueueNotGranted); the ACL adds nothing for it.
        {"kind": "queue", "name": "delivery-requests", "access": ["receive"]},
    ]
    svc = _team_service(team_service_doc, uses=uses)
    user = _users(acl_lines(platform, [svc], KEY))["fabrikam-shipping.delivery-analytics"]
    prefix = "team/fabrikam-shipping/delivery-analytics:"
    assert user.endswith(
        f"resetchannels &{prefix}* ~{prefix}* %W~queue:audit %W~queue:audit:seen:* ~queue:returns ~queue:returns:* "
        + LOCAL_TEAM_COMMANDS
    )
    assert "delivery-requests" not in user
    assert "~*" not in user
    assert "&*" not in user
    # Redis 7.0 refuses a file naming CLIENT SETINFO; the Azure policy keeps it.
    assert "setinfo" not in LOCAL_TEAM_COMMANDS
    assert "-@dangerous" in LOCAL_TEAM_COMMANDS


def test_only_the_platforms_redis_clients_get_a_user(
    platform: DeliveryPlatform, team_service_doc: dict[str, Any]
) -> None:
    no_redis = _team_service(team_service_doc, uses=[])
    other_platform = _team_service(team_service_doc, platformRef={"name": "elsewhere"})
    renamed = _team_service(team_service_doc)
    renamed_doc = renamed.model_dump(mode="json", by_alias=True, exclude_none=True)
    renamed_doc["metadata"]["name"] = "reports"
    users = _users(acl_lines(platform, [no_redis, other_platform, DroneService.model_validate(renamed_doc)], KEY))
    assert "fabrikam-shipping.delivery-analytics" not in users
    assert "fabrikam-shipping.reports" in users


def test_passwords_are_stable_and_differ_per_service_platform_and_key() -> None:
    first = password(KEY, "platform", "ns", "svc")
    assert first == password(KEY, "platform", "ns", "svc")
    assert len(first) == 43  # 256 bits, unpadded base64url
    assert len({first, password(KEY, "platform", "ns", "other"), password(KEY, "other", "ns", "svc")}) == 3
    assert password(b"x" * 32, "platform", "ns", "svc") != first


def test_the_configmap_and_the_service_agree_on_user_and_password_file(
    platform: DeliveryPlatform, team_service_doc: dict[str, Any]
) -> None:
    svc = _team_service(team_service_doc)
    acl = render_redis_acl(platform, [svc], KEY)
    assert acl is not None
    assert (acl["metadata"]["name"], acl["metadata"]["namespace"]) == (ACL_CONFIG_MAP, "fabrikam-backing")
    assert acl["metadata"]["ownerReferences"][0]["uid"] == UID
    assert "user fabrikam-shipping.delivery-analytics on #" in acl["data"][ACL_FILE]
    peers = [*bundled_services(platform), svc]
    objects = render_drone_service(svc, platform=platform, peers=peers)
    (config,) = [o for o in objects if o["kind"] == "ConfigMap"]
    assert config["data"]["FABRIKAM_REDIS_URL"].startswith("redis://fabrikam-shipping.delivery-analytics@redis.")
    assert config["data"]["FABRIKAM_REDIS_PASSWORD_FILE"] == "/mnt/redis/redis-password"
    without_backing = platform.model_copy(
        update={
            "spec": platform.spec.model_copy(
                update={"backing": platform.spec.backing.model_copy(update={"in_cluster": None})}
            )
        }
    )
    assert render_redis_acl(without_backing, [svc], KEY) is None
    admin = render_admin_secret(platform, KEY)
    assert admin is not None
    assert (admin["metadata"]["name"], admin["metadata"]["namespace"]) == ("redis-acl-admin", "fabrikam-backing")
    assert admin["stringData"] == {"redis-password": admin_password(KEY, "fabrikam-dev")}
