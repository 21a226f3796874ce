"""Keeps the in-cluster Redis's ACL users current: the platform's bundled services and every team service using
Redis, each limited to its own keys (render/redis_acl.py). The file is one object for many owners' needs, so it
is rendered from the index of the platform's services, under one lock per platform: whoever applies last has read
the latest index, and no concurrent reconcile can put back a user a deleted service had."""

import asyncio
from collections import defaultdict
from typing import Any

from pydantic import ValidationError

from fabrikam.operator.apply.applier import ApplyError, apply_objects
from fabrikam.operator.apply.client import ApiError
from fabrikam.operator.handlers import operator_key
from fabrikam.operator.handlers.parsing import parse_platform, peers_of
from fabrikam.operator.handlers.runtime import Runtime
from fabrikam.operator.render.redis_acl import render_admin_secret, render_redis_acl

_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
_admin_created: set[tuple[str, str | None]] = set()


async def sync(runtime: Runtime, platform_body: dict[str, Any] | None, services_by_platform: Any) -> bool:
    """Applies the platform's ACL ConfigMap if it changed (True when it was sent); nothing without in-cluster
    backing. The drift watcher keeps it as the platform's child."""
    if platform_body is None or not ((platform_body.get("spec") or {}).get("backing") or {}).get("inCluster"):
        return False
    name = platform_body["metadata"]["name"]
    async with _locks[name]:
        try:
            platform = parse_platform(platform_body)
        except ValidationError:
            return False  # the platform's own reconcile reports it
        services = peers_of(list(services_by_platform.get(name, [])))
        key = operator_key.load(runtime.settings.key_file)
        acl, admin = render_redis_acl(platform, services, key), render_admin_secret(platform, key)
        if acl is None or admin is None:
            return False
        if (name, platform.metadata.uid) not in _admin_created:
            try:
                await runtime.kube().create(admin)  # an existing one is left as it is: the value never changes
            except ApiError as error:
                raise ApplyError(admin, error) from error
            _admin_created.add((name, platform.metadata.uid))
        runtime.remember_child(("DeliveryPlatform", "", name), acl)
        applied = await apply_objects(runtime.kube(), [acl], known_hashes=runtime.live_hashes)
        return bool(applied.sent)


def forget(platform: str) -> None:
    _locks.pop(platform, None)
    for created in [c for c in _admin_created if c[0] == platform]:
        _admin_created.discard(created)
