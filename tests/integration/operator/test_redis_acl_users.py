"""The in-cluster Redis's ACL users on a real redis-server (Debian's, the one the backing image is built from):
the file the operator renders, applied by the sidecar's own script, enforced by Redis itself (issue #19).

The services connect as they do in their pods: `FABRIKAM_REDIS_URL` with the user, the password from
`FABRIKAM_REDIS_PASSWORD_FILE`, through the workloads' own client."""

from __future__ import annotations

import asyncio
import copy
import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import yaml
from redis.asyncio import Redis
from redis.exceptions import AuthenticationError, NoPermissionError, ResponseError

from fabrikam.devcluster.localstack import free_port
from fabrikam.operator.api import DeliveryPlatform, DroneService
from fabrikam.operator.render.backing import ACL_FILE, acl_sync_script
from fabrikam.operator.render.redis_acl import admin_password, password, render_redis_acl
from fabrikam.workloads.kit.messaging.message import Message
from fabrikam.workloads.kit.messaging.redis_streams import RedisStreamsBroker
from fabrikam.workloads.kit.resilience import redis_client
from fabrikam.workloads.kit.settings import ServiceSettings

SAMPLES = Path(__file__).resolve().parents[3] / "config" / "samples"
KEY = os.urandom(32)
UID = "7e1f0d52-4f0a-4b8e-9a51-3c2d1e0f9a88"
PREFIX = "team/fabrikam-shipping/delivery-analytics:"


def _platform() -> DeliveryPlatform:
    doc = yaml.safe_load((SAMPLES / "platform-dev.yaml").read_text())
    doc["metadata"]["uid"] = UID
    shipping = next(t for t in doc["spec"]["teams"] if t["namespace"] == "fabrikam-shipping")
    shipping["queues"] = [{"name": "returns", "access": ["receive"]}]
    return DeliveryPlatform.model_validate(doc)


def _team_service() -> DroneService:
    doc = yaml.safe_load((SAMPLES / "team-service.yaml").read_text())
    doc["metadata"]["uid"] = "5f0c1e2d-0000-4000-8000-000000000002"
    doc["spec"]["platformRef"]["name"] = "fabrikam-dev"
    doc["spec"]["uses"] = [{"kind": "redis", "name": "analytics"}, {"kind": "queue", "name": "returns"}]
    return DroneService.model_validate(copy.deepcopy(doc))


def _write(path: Path, text: str) -> None:
    """As the kubelet updates a ConfigMap volume: a new file swapped in at once."""
    staged = path.with_suffix(".new")
    staged.write_text(text)
    staged.replace(path)


class AclRedis:
    """redis-server with the rendered ACL file, and the sidecar's script beside it."""

    def __init__(self, directory: Path, platform: DeliveryPlatform, services: list[DroneService]) -> None:
        self.directory, self.platform, self.port = directory, platform, free_port()
        self.acl = directory / ACL_FILE
        self.set_services(services)
        redis_server = shutil.which("redis-server") or "redis-server"
        self.server = subprocess.Popen(
            [
                *(redis_server, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""),
                *("--dir", str(directory), "--aclfile", str(self.acl)),
            ],
            stdout=subprocess.DEVNULL,
        )
        admin = directory / "admin-password"
        admin.write_text(admin_password(KEY, "fabrikam-dev") + "\n")
        self.sidecar_log = directory / "sidecar.log"
        with self.sidecar_log.open("w") as log:
            script = acl_sync_script(self.port, str(self.acl), str(admin))
            self.sidecar = subprocess.Popen(["/bin/sh", "-c", script], stdout=log, stderr=log)

    def set_services(self, services: list[DroneService]) -> None:
        acl = render_redis_acl(self.platform, services, KEY)
        assert acl is not None
        _write(self.acl, acl["data"][ACL_FILE])

    def client_of(self, namespace: str, name: str) -> Redis:
        secret = self.directory / f"{namespace}.{name}.password"
        secret.write_text(password(KEY, "fabrikam-dev", namespace, name) + "\n")  # the Secret's file, as mounted
        url = f"redis://{namespace}.{name}@127.0.0.1:{self.port}/0"
        return redis_client(ServiceSettings(redis_url=url, redis_password_file=str(secret)))

    def stop(self) -> None:
        self.sidecar.terminate()
        self.sidecar.wait(timeout=10)
        self.server.terminate()
        self.server.wait(timeout=10)


@pytest.fixture
def acl_redis(tmp_path: Path) -> Iterator[AclRedis]:
    redis = AclRedis(tmp_path, _platform(), [])
    yield redis
    redis.stop()


@pytest.fixture
async def anonymous(acl_redis: AclRedis) -> AsyncIterator[Redis]:
    client = Redis(port=acl_redis.port, decode_responses=True)
    deadline = time.monotonic() + 10
    while True:
        try:
            await client.ping()
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)
    yield client
    await client.aclose()


async def _until_signed_in(client: Redis, limit: float = 15) -> float:
    """Seconds until the user can sign in (the sidecar looks at the file every 2 s)."""
    started = time.monotonic()
    while True:
        try:
            await client.ping()
            return time.monotonic() - started
        except AuthenticationError:
            if time.monotonic() - started > limit:
                raise
            await asyncio.sleep(0.2)


async def test_unauthenticated_clients_may_only_ping(anonymous: Redis) -> None:
    assert await anonymous.ping() is True
    for command in (
        ("GET", "delivery:1"),
        ("SET", "x", "1"),
        ("KEYS", "*"),
        ("FLUSHALL",),
        ("ACL", "LIST"),
        ("ACL", "LOAD"),
        ("ACL", "SETUSER", "me", "on", "nopass", "~*", "+@all"),
    ):
        with pytest.raises(NoPermissionError):
            await anonymous.execute_command(*command)


async def test_a_bundled_service_runs_the_pipeline_with_its_own_user(acl_redis: AclRedis, anonymous: Redis) -> None:
    redis = acl_redis.client_of("fabrikam-shipping", "ingestion")
    try:
        assert await redis.set("delivery:1", "state") is True
        broker = RedisStreamsBroker(
            redis, "ingestion-0", lock_seconds=1, max_delivery_count=3, duplicate_window_seconds=60
        )
        assert await broker.publish("delivery-requests", Message("m1", "DeliveryRequested", {"deliveryId": "d1"}))
        (received,) = await broker.receive("delivery-requests", max_messages=1, wait_seconds=1)
        assert received.message.body == {"deliveryId": "d1"}
        await broker.complete(received)
    finally:
        await redis.aclose()
    wrong = Redis(port=acl_redis.port, username="fabrikam-shipping.ingestion", password="guessed")
    with pytest.raises(AuthenticationError):
        await wrong.ping()
    await wrong.aclose()


async def test_a_team_service_reaches_its_prefix_and_granted_queue_once_added_and_nothing_once_removed(
    acl_redis: AclRedis, anonymous: Redis
) -> None:
    platform_own = acl_redis.client_of("fabrikam-shipping", "delivery")
    await platform_own.set("delivery:42", "in flight")
    own_connection = await platform_own.client_id()
    team = acl_redis.client_of("fabrikam-shipping", "delivery-analytics")
    with pytest.raises(AuthenticationError):
        await team.ping()  # no such user before its DroneService exists

    acl_redis.set_services([_team_service()])
    waited = await _until_signed_in(team)
    print(f"team user usable {waited:.1f}s after the ACL file changed")
    # The platform's own connections were not cut off by the change (ACL LOAD would have closed them all).
    assert await platform_own.client_id() == own_connection
    assert await team.set(f"{PREFIX}report", "ok") is True
    assert await team.get(f"{PREFIX}report") == "ok"
    await team.xadd("queue:returns", {"body": "{}"})
    for command in (
        ("GET", "delivery:42"),
        ("SET", "delivery:42", "stolen"),
        ("XADD", "queue:delivery-requests", "*", "body", "{}"),
        ("KEYS", "*"),
        ("SCAN", "0"),
        ("FLUSHALL",),
        ("CONFIG", "GET", "*"),
        ("SUBSCRIBE", "delivery-updates"),
    ):
        with pytest.raises((NoPermissionError, ResponseError)):
            await team.execute_command(*command)
    assert await platform_own.get("delivery:42") == "in flight"

    acl_redis.set_services([])
    fresh = acl_redis.client_of("fabrikam-shipping", "delivery-analytics")
    deadline = time.monotonic() + 15
    while True:
        try:
            await fresh.ping()
        except AuthenticationError:
            break
        assert time.monotonic() < deadline, "the removed user can still sign in"
        await fresh.connection_pool.disconnect()
        await asyncio.sleep(0.2)
    await fresh.aclose()
    await team.aclose()
    await platform_own.aclose()


async def test_a_line_redis_refuses_is_reported_and_the_others_applied(acl_redis: AclRedis, anonymous: Redis) -> None:
    redis = acl_redis.client_of("fabrikam-customer", "account")
    assert await redis.set("account:1", "kept") is True
    acl_redis.set_services([_team_service()])
    _write(acl_redis.acl, acl_redis.acl.read_text() + "user broken on +nosuchcommand\n")
    await _until_signed_in(acl_redis.client_of("fabrikam-shipping", "delivery-analytics"))
    deadline = time.monotonic() + 15
    while "ACL SETUSER broken:" not in acl_redis.sidecar_log.read_text():
        assert time.monotonic() < deadline, "the sidecar did not report the refused file"
        await asyncio.sleep(0.2)
    assert await redis.get("account:1") == "kept"
    await redis.aclose()
