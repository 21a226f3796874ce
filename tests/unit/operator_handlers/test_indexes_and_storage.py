"""The peer lookups a reconcile uses instead of scanning every service, and kopf's diff-base without the copy."""

import asyncio
from collections import defaultdict
from typing import Any

import kopf

from fabrikam.operator.api import GROUP
from fabrikam.operator.handlers import indexes
from fabrikam.operator.handlers.storage import LeanDiffBaseStorage


def _service(namespace: str, name: str, *, platform: str = "p", calls: Any = (), path: str | None = None) -> Any:
    spec: dict[str, Any] = {"platformRef": {"name": platform}, "calls": list(calls)}
    if path is not None:
        spec["expose"] = {"path": path}
    return {"metadata": {"namespace": namespace, "name": name}, "spec": spec}


def _indexes(bodies: list[Any]) -> tuple[dict[Any, list[Any]], dict[Any, list[Any]], dict[Any, list[Any]]]:
    """The three kopf indexes as kopf would fill them from these bodies (key → values of all objects)."""
    services: dict[Any, list[Any]] = defaultdict(list)
    callers: dict[Any, list[Any]] = defaultdict(list)
    exposers: dict[Any, list[Any]] = defaultdict(list)

    async def fill() -> None:
        for body in bodies:
            meta = body["metadata"]
            kwargs = {"body": body, "spec": body["spec"], "namespace": meta["namespace"], "name": meta["name"]}
            for index, function in ((services, indexes.services), (callers, indexes.callers)):
                for key, value in (await function(**kwargs)).items():
                    index[key].append(value)
            for key, value in (await indexes.exposers(**kwargs)).items():
                exposers[key].append(value)

    asyncio.run(fill())
    return services, callers, exposers


def _names(found: list[Any]) -> list[str]:
    return [f"{b['metadata']['namespace']}/{b['metadata']['name']}" for b in found]


def test_neighbourhood_is_callees_callers_and_same_path_exposers_only() -> None:
    me = _service("a", "delivery", calls=[{"name": "package"}, {"name": "missing"}], path="/api/delivery")
    bodies = [
        me,
        _service("a", "package"),  # called by me
        _service("b", "workflow", calls=[{"name": "delivery", "namespace": "a"}]),  # calls me
        _service("c", "rival", path="/api/delivery"),  # exposes my path
        _service("c", "other", path="/api/other"),
        _service("a", "unrelated"),
        _service("z", "foreign", platform="q", calls=[{"name": "delivery", "namespace": "a"}]),  # other platform
    ]
    services, callers, exposers = _indexes(bodies)

    found = indexes.neighbourhood(me, services, callers, exposers)

    assert _names(found) == ["a/package", "b/workflow", "c/rival"]


def test_a_service_calling_itself_is_not_its_own_neighbour() -> None:
    me = _service("a", "loop", calls=[{"name": "loop"}])
    services, callers, exposers = _indexes([me])
    assert indexes.neighbourhood(me, services, callers, exposers) == []


def test_a_change_of_calls_affects_old_and_new_callees_and_every_caller() -> None:
    me = _service("a", "delivery", calls=[{"name": "package"}, {"name": "scheduler", "namespace": "b"}])
    old_spec = {"platformRef": {"name": "p"}, "calls": [{"name": "account"}, {"name": "package"}]}
    caller = _service("b", "workflow", calls=[{"name": "delivery", "namespace": "a"}])
    _, callers, _ = _indexes([me, caller, _service("a", "unrelated")])

    assert indexes.graph_neighbours(me, old_spec, callers) == [
        ("a", "account"),
        ("a", "package"),
        ("b", "scheduler"),
        ("b", "workflow"),
    ]
    assert indexes.graph_neighbours(caller, None, callers) == [("a", "delivery")]


def test_lean_diff_base_is_the_essence_kopf_builds_from_the_whole_body() -> None:
    body = {
        "apiVersion": f"{GROUP}/v1alpha1",
        "kind": "DroneService",
        "metadata": {
            "name": "delivery",
            "namespace": "a",
            "uid": "1234",
            "resourceVersion": "99",
            "generation": 3,
            "labels": {"team": "a"},
            "annotations": {
                "note": "kept",
                "kubectl.kubernetes.io/last-applied-configuration": "{}",
                f"{GROUP}/last-handled-configuration": '{"spec":{}}\n',
                f"{GROUP}/kopf-managed": "yes",
            },
            "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}],
            "ownerReferences": [{"kind": "DeliveryPlatform", "name": "p", "uid": "9"}],
        },
        "spec": {"platformRef": {"name": "p"}, "replicas": {"min": 2}},
        "status": {"readyReplicas": 2, "conditions": [{"type": "Ready", "status": "True"}]},
    }
    settings = {"prefix": GROUP, "key": "last-handled-configuration"}
    kopf_body = kopf.Body(body)  # type: ignore[arg-type]

    lean = LeanDiffBaseStorage(**settings).build(body=kopf_body)
    full = kopf.AnnotationsDiffBaseStorage(**settings).build(body=kopf_body)

    assert lean == full
    assert lean["spec"] == body["spec"]
    assert lean["metadata"]["annotations"] == {"note": "kept"}
