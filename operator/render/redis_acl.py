"""Redis ACL users for the in-cluster Redis: a team's service reaches only its own key prefix, as on Azure.

On Azure a team's service signs in with its identity and a custom access policy limits it to
`team/<namespace>/<name>:*` (azure/desired.py). The in-cluster Redis gets the same rule through Redis ACL users:
one user per DroneService, named `<namespace>.<name>`, with a password only the operator and that service know.
The unauthenticated `default` user may only PING; the sidecar that applies the file's changes has a user of its own
that may only change users.

Passwords are not stored anywhere the operator must read back: each is an HMAC of the service's identity under
the operator's own key (a file the chart mounts), so the operator can render the ACL file again at any time and
create the service's Secret (create-only) with the same value. The ACL file holds only SHA-256 hashes of
256-bit random-looking passwords, so it is a ConfigMap.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from functools import lru_cache

from fabrikam.operator.api import API_VERSION, DeliveryPlatform, DependencyKind, DroneService, QueueAccess
from fabrikam.operator.render.backing import (
    ACL_ADMIN_SECRET,
    ACL_ADMIN_USER,
    ACL_CONFIG_MAP,
    ACL_FILE,
    REDIS,
    REDIS_PASSWORD_FILE,
    redis_user,
    store_labels,
    stores_of,
)
from fabrikam.operator.render.labels import Obj, metadata, owner_reference
from fabrikam.operator.render.tenancy import TEAM_REDIS_COMMANDS, is_platform_own, ungranted_queues

# Redis 7.0 (Debian bookworm's) has no CLIENT SETINFO: naming it makes the whole file fail to load. redis-py
# ignores the refusal of its optional SETINFO on connect.
LOCAL_TEAM_COMMANDS = TEAM_REDIS_COMMANDS.replace(" +client|setinfo", "")
# Unauthenticated connections: a PING, nothing else.
DEFAULT_USER = "user default on nopass resetchannels -@all +ping"
# The sidecar (backing.acl_sync_script): it applies the file user by user.
ADMIN_COMMANDS = "resetchannels -@all +ping +acl|setuser +acl|deluser +acl|users"
# The bundled services are the platform's own code: every key and channel (teams' prefixes cannot be excluded).
BUNDLED_COMMANDS = "~* &* +@all"


@lru_cache(maxsize=8192)  # a resync renders every user again: no HMAC per user per service per resync
def password(key: bytes, platform: str, namespace: str, name: str) -> str:
    """The service's Redis password: stable for the same operator key, platform name and service. By name, not
    uid: a team's service outlives a platform deleted and applied again, and its Secret (created once) with it."""
    message = f"redis/{platform}/{namespace}/{name}".encode()
    return base64.urlsafe_b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode().rstrip("=")


def admin_password(key: bytes, platform: str) -> str:
    """The sidecar's password (no service is named `acl-admin`: service users have a dot)."""
    return password(key, platform, "", ACL_ADMIN_USER)


def _queue_patterns(svc: DroneService, platform: DeliveryPlatform) -> list[str]:
    """The granted queues' streams (the local broker's `queue:<name>`): send writes only, receive reads and
    acknowledges (and moves to the dead-letter stream beside it)."""
    refused: dict[str, set[QueueAccess]] = {}
    for _, queue, lacking in ungranted_queues(svc, platform):
        refused.setdefault(queue, set()).update(lacking)
    patterns: set[str] = set()
    for use in svc.spec.uses:
        if use.kind is not DependencyKind.QUEUE:
            continue
        allowed = use.queue_access() - refused.get(use.name, set())
        if QueueAccess.RECEIVE in allowed:
            patterns |= {f"~queue:{use.name}", f"~queue:{use.name}:*"}
        elif QueueAccess.SEND in allowed:
            patterns |= {f"%W~queue:{use.name}", f"%W~queue:{use.name}:seen:*"}
    return sorted(patterns)


def team_rule(svc: DroneService, platform: DeliveryPlatform) -> str:
    """What a team's service may do: the Azure policy's commands on its own prefix, its granted queues."""
    prefix = svc.redis_key_prefix
    keys = " ".join([f"~{prefix}*", *_queue_patterns(svc, platform)])
    return f"resetchannels &{prefix}* {keys} {LOCAL_TEAM_COMMANDS}"


def _line(namespace: str, name: str, rule: str, key: bytes, platform: DeliveryPlatform) -> str:
    digest = hashlib.sha256(password(key, platform.name, namespace, name).encode()).hexdigest()
    return f"user {redis_user(namespace, name)} on #{digest} {rule}"


def acl_lines(platform: DeliveryPlatform, services: Iterable[DroneService], key: bytes) -> list[str]:
    """The ACL file: the default user, the bundled services the platform declares (known before their
    DroneServices exist, so the first Redis start already admits them), then each team service using Redis."""
    lines = {
        redis_user(team.namespace, c.value): _line(team.namespace, c.value, BUNDLED_COMMANDS, key, platform)
        for team in platform.spec.teams
        for c in team.services
    }
    for svc in services:
        if svc.spec.platform_ref.name != platform.name or REDIS not in stores_of(svc, platform):
            continue
        if is_platform_own(svc, platform):
            continue
        rule = team_rule(svc, platform)
        lines.setdefault(redis_user(svc.namespace, svc.name), _line(svc.namespace, svc.name, rule, key, platform))
    admin = hashlib.sha256(admin_password(key, platform.name).encode()).hexdigest()
    return [
        DEFAULT_USER,
        f"user {ACL_ADMIN_USER} on #{admin} {ADMIN_COMMANDS}",
        *(lines[user] for user in sorted(lines)),
    ]


def _beside_redis(platform: DeliveryPlatform, kind: str, name: str) -> Obj | None:
    """An object in the backing namespace, owned by the platform and labelled like the Redis it configures."""
    backing = platform.spec.backing.in_cluster
    if backing is None:
        return None
    owners = owner_reference(
        api_version=API_VERSION, kind="DeliveryPlatform", name=platform.name, uid=platform.metadata.uid
    )
    labels = store_labels(platform, REDIS)
    return {
        "apiVersion": "v1",
        "kind": kind,
        "metadata": metadata(name, namespace=backing.namespace, labels=labels, owners=owners),
    }


def render_admin_secret(platform: DeliveryPlatform, key: bytes) -> Obj | None:
    """The sidecar's password, as the file `redis-password` of a Secret in the backing namespace (created once)."""
    secret = _beside_redis(platform, "Secret", ACL_ADMIN_SECRET)
    if secret is not None:
        secret |= {"type": "Opaque", "stringData": {REDIS_PASSWORD_FILE: admin_password(key, platform.name)}}
    return secret


def render_redis_acl(platform: DeliveryPlatform, services: Iterable[DroneService], key: bytes) -> Obj | None:
    """The ACL ConfigMap of the platform's in-cluster Redis (None without in-cluster backing)."""
    acl = _beside_redis(platform, "ConfigMap", ACL_CONFIG_MAP)
    if acl is not None:
        acl["data"] = {ACL_FILE: "\n".join(acl_lines(platform, services, key)) + "\n"}
    return acl
