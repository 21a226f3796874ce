"""Keeps the in-cluster Redis's ACL users current: the platform's bundled services and every team service using
Redis, each limited to its own keys (render/redis_acl.py). The file is one object for many owners' needs, so it
is rendered from the index of the platform's services, under one lock per platform: whoever applies last has read
the latest index, and no concurrent reconcile can put back a user a deleted service had."""

import asyncio
from typing import Any

from pydantic import ValidationError

from fabrikam.operator.apply.applier import ApplyError, apply_objects
from fabrikam.operator.apply.client import ApiError
from fabrikam.operator.handlers import operator_key
from fabrikam.operator.handlers.runtime import Runtime
from fabrikam.operator.render.redis_acl import render_admin_secret, render_redis_acl


async def sync(runtime: Runtime, platform_body: dict[str, Any] | None, services_by_platform: Any) -> bool:
    """Applies the platform's ACL ConfigMap if it changed (True when it was sent); nothing without in-cluster
    backing. The drift watcher keeps it as the platform's child."""
    if platform_body is None or not ((platform_body.get("spec") or {}).get("backing") or {}).get("inCluster"):
        return False
    name = platform_body["metadata"]["name"]
    async with runtime.acl_locks.setdefault(name, asyncio.Lock()):
        try:
            platform = runtime.models.platform(platform_body)
        except ValidationError:
            return False  # the platform's own reconcile reports it
        services = runtime.models.peers(list(services_by_platform.get(name, [])))
        key = operator_key.load(runtime.settings.key_file)
        acl, admin = render_redis_acl(platform, services, key), render_admin_secret(platform, key)
        if acl is None or admin is None:
            return False
        if (name, platform.metadata.uid) not in runtime.acl_admins:
            try:
                await runtime.kube().create(admin)  # an existing one is left as it is: the value never changes
            except ApiError as error:
                raise ApplyError(admin, error) from error
            runtime.acl_admins.add((name, platform.metadata.uid))
        runtime.remember_child(("DeliveryPlatform", "", name), acl)
        applied = await apply_objects(runtime.kube(), [acl], known_hashes=runtime.live_hashes)
        return bool(applied.sent)
