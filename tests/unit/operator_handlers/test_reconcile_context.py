"""One reconcile context: what a pass works with comes in with it (the runtime, the indexes, the logger), a child has
one key wherever it is remembered, and the applier is told what the watches showed in those keys."""

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
import yaml

from fabrikam.operator.apply.comparison import HASH_ANNOTATION, desired_hash
from fabrikam.operator.apply.resources import ChildKey, describe
from fabrikam.operator.handlers.context import Context
from fabrikam.operator.handlers.drone_service import ServicePass
from fabrikam.operator.handlers.indexes import Indexes
from fabrikam.operator.handlers.platform import PlatformPass
from fabrikam.operator.handlers.runtime import Lookup, Runtime, deployment_key
from fabrikam.operator.handlers.settings import OperatorSettings

NO_INDEXES = Indexes(platforms={}, services={}, services_by_platform={}, callers={}, exposers={})


def _config_map(namespace: str, name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace}, "data": {}}


def _deployment(namespace: str, name: str, *, applied_hash: str | None = None) -> dict[str, Any]:
    annotations = {HASH_ANNOTATION: applied_hash} if applied_hash else {}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "generation": 3, "annotations": annotations},
        "spec": {"replicas": 2},
        "status": {"readyReplicas": 2},
    }


class RecordingApi:
    """Stands in for the API connection: counts what the applier reads and sends."""

    def __init__(self) -> None:
        self.gets: list[str] = []
        self.applied: list[str] = []

    async def get(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        self.gets.append(describe(obj))
        return None

    async def apply(self, obj: dict[str, Any], field_manager: str = "") -> dict[str, Any]:
        self.applied.append(describe(obj))
        return obj


def test_a_child_has_one_key_that_people_read_as_kind_namespace_name() -> None:
    key = ChildKey.of(_config_map("ship", "config"))
    assert key == ChildKey("v1", "ConfigMap", "ship", "config")
    assert str(key) == describe(_config_map("ship", "config")) == "ConfigMap ship/config"
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ship"}}
    assert ChildKey.of(namespace) == ChildKey("v1", "Namespace", "", "ship")
    assert str(ChildKey.of(namespace)) == "Namespace ship"


def test_what_the_watches_show_is_remembered_by_child_key_and_forgotten_on_deletion() -> None:
    runtime = Runtime(OperatorSettings())
    live = _deployment("ship", "ingestion", applied_hash="abc")
    key = ChildKey.of(live)

    runtime.observe(key, live)

    assert runtime.live_hashes == {key: "abc"}
    # The service's status follows its namesake Deployment, found under the same key.
    assert runtime.deployments[deployment_key(("DroneService", "ship", "ingestion"))]["status"] == {"readyReplicas": 2}
    runtime.observe(key, None)
    assert runtime.live_hashes == {}
    assert runtime.deployments == {}


@pytest.mark.parametrize(
    ("lookup", "expected"),
    [
        (Lookup.NEW, {"concurrency": 4, "assume_new": True}),
        (Lookup.FULL, {"concurrency": 4}),
        (Lookup.CACHED, {"concurrency": 4, "known_hashes": {ChildKey("v1", "ConfigMap", "a", "b"): "h"}}),
    ],
)
def test_each_lookup_tells_the_applier_what_it_may_assume(lookup: Lookup, expected: dict[str, Any]) -> None:
    known = {ChildKey("v1", "ConfigMap", "a", "b"): "h"}
    assert lookup.apply_options(concurrency=4, known_hashes=known) == expected


def test_a_pass_is_named_by_its_object_and_kind() -> None:
    context = Context(Runtime(OperatorSettings()), NO_INDEXES, logging.getLogger("test"))
    service = {"metadata": {"namespace": "ship", "name": "ingestion", "generation": 4}}
    platform = {"metadata": {"name": "fabrikam", "generation": 2}}

    one = ServicePass.of(context, service, azure=True, lookup=Lookup.CACHED)
    other = PlatformPass.of(context, platform, azure=False, lookup=Lookup.FULL)

    assert (one.owner, one.generation, one.runtime) == (("DroneService", "ship", "ingestion"), 4, context.runtime)
    assert (other.owner, other.generation, other.indexes) == (("DeliveryPlatform", "", "fabrikam"), 2, NO_INDEXES)


async def test_a_cached_pass_sends_only_what_the_watches_show_out_of_date() -> None:
    """Hashes seen on the watch streams spare the GET of children whose state is known; unknown ones are read."""
    runtime = Runtime(OperatorSettings(apply_concurrency=2))
    api = RecordingApi()
    runtime.api = api
    unchanged, changed, unknown = _config_map("ship", "a"), _config_map("ship", "b"), _config_map("ship", "c")
    runtime.live_hashes = {ChildKey.of(unchanged): desired_hash(unchanged), ChildKey.of(changed): "stale"}
    context = Context(runtime, NO_INDEXES, logging.getLogger("test"))
    service = {"metadata": {"namespace": "ship", "name": "ingestion"}}

    result = await ServicePass.of(context, service, azure=False, lookup=Lookup.CACHED).apply(
        [unchanged, changed, unknown]
    )

    assert api.gets == ["ConfigMap ship/c"]
    assert sorted(api.applied) == ["ConfigMap ship/b", "ConfigMap ship/c"]
    assert result.skipped == ["ConfigMap ship/a"]
    assert result.live_of(ChildKey.of(changed)) is not None
    assert result.live_of(ChildKey.of(unchanged)) is None


def _sample_platform() -> dict[str, Any]:
    """config/samples/platform.yaml as the API server would hand it over (a uid, a generation)."""
    body: dict[str, Any] = yaml.safe_load((Path(__file__).parents[3] / "config/samples/platform.yaml").read_text())
    body["metadata"] |= {"uid": "uid-1", "generation": 1, "resourceVersion": "10"}
    return body


def test_a_body_is_parsed_once_until_its_spec_or_labels_change_and_forgotten_with_its_object() -> None:
    runtime = Runtime(OperatorSettings())
    body = _sample_platform()
    first = runtime.models.platform(body)
    status_update = body | {"metadata": body["metadata"] | {"resourceVersion": "11"}, "status": {"x": 1}}
    assert runtime.models.platform(status_update) is first, "a status update keeps the parsed model"
    new_generation = body | {"metadata": body["metadata"] | {"generation": 2}}
    second = runtime.models.platform(new_generation)
    assert second is not first
    assert runtime.models.platform(new_generation) is second
    runtime.models.forget("uid-1")
    assert runtime.models.platform(new_generation) is not second


def test_forgetting_a_platform_drops_everything_the_process_kept_of_it() -> None:
    runtime = Runtime(OperatorSettings())
    body = _sample_platform()
    parsed = runtime.models.platform(body)
    name = body["metadata"]["name"]
    runtime.azure_rechecks[name] = 1.0
    runtime.service_environments[name] = {"FABRIKAM_BROKER": "redis"}
    runtime.acl_locks[name] = asyncio.Lock()
    runtime.acl_admins |= {(name, "uid-1"), ("other", "uid-2")}
    runtime.forget_platform(name, "uid-1")
    assert runtime.models.platform(body) is not parsed
    assert (runtime.azure_rechecks, runtime.service_environments, runtime.acl_locks) == ({}, {}, {})
    assert runtime.acl_admins == {("other", "uid-2")}
