"""A watch of one of the Prometheus Operator's kinds that gets a 404 (its CRD removed before kopf's own CRD watch
showed it) ends and is opened again later, instead of stopping the operator. Driven through kopf's own reconnect loop
(`watching.infinite_watch`), with each connection's answer scripted."""

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any, cast

import kopf
import pytest
from kopf._cogs.clients import errors, watching

from fabrikam.operator.apply.client import KubeApi
from fabrikam.operator.handlers.discovery import Discovery, outlive_removed_crds

PODMONITORS = kopf.Resource("monitoring.coreos.com", "v1", "podmonitors", kind="PodMonitor")
DEPLOYMENTS = kopf.Resource("apps", "v1", "deployments", kind="Deployment")
ADDED = {"type": "ADDED", "object": {"metadata": {"name": "tracker", "uid": "1"}}}
Answer = BaseException | list[Any]


def _not_found() -> errors.APINotFoundError:
    return errors.APINotFoundError("404 page not found", status=404, headers={})


class FakeDiscovery:
    """An API server that serves nothing optional; counts the discovery reads."""

    def __init__(self) -> None:
        self.reads = 0

    async def served_kinds(self, api_version: str) -> frozenset[str]:
        self.reads += 1
        return frozenset()


@pytest.fixture
def answers(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Answer]]:
    """kopf's watch of one connection replaced by the next scripted answer: raised, or its events yielded."""
    script: list[Answer] = []

    async def continuous_watch(**_: Any) -> AsyncIterator[Any]:
        answer = script.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        for event in answer:
            yield event

    monkeypatch.setattr(watching, "continuous_watch", continuous_watch)
    yield script
    assert script == [], "every scripted connection was made"


@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The delays asked of asyncio.sleep, which returns at once."""
    delays: list[float] = []
    real_sleep = asyncio.sleep

    async def sleep(delay: float) -> None:
        delays.append(delay)
        await real_sleep(0)

    monkeypatch.setattr(asyncio, "sleep", sleep)
    return delays


async def _watch(resource: kopf.Resource, connections: int) -> list[Any]:
    settings = kopf.OperatorSettings()
    settings.watching.reconnect_backoff = 0
    stream = watching.infinite_watch(settings=settings, resource=resource, namespace=None, _iterations=connections)
    return [event async for event in stream]


async def test_a_404_ends_the_watch_of_a_removed_kind_which_is_opened_again_after_the_discovery_period(
    answers: list[Answer], slept: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    api, discovery = FakeDiscovery(), Discovery(60)
    await discovery.served(cast(KubeApi, api))
    outlive_removed_crds(discovery)
    answers += [_not_found(), _not_found(), [watching.Bookmark.LISTED, ADDED]]
    caplog.set_level(logging.INFO)

    assert await _watch(PODMONITORS, 3) == [watching.Bookmark.LISTED, ADDED]
    assert slept.count(60) == 2  # once after each 404 (kopf's own reconnect backoff is 0 here)
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert said == ["PodMonitor no longer served (its CRD was removed): watched again once it is"]
    before = api.reads
    await discovery.served(cast(KubeApi, api))
    assert api.reads > before, "the 404 made discovery read again at the next need"


async def test_a_404_of_a_kind_the_operator_needs_still_stops_it(answers: list[Answer], slept: list[float]) -> None:
    outlive_removed_crds(Discovery(60))
    answers.append(_not_found())
    with pytest.raises(errors.APINotFoundError):
        await _watch(DEPLOYMENTS, 2)
    assert 60 not in slept


async def test_kopfs_watch_is_wrapped_once(answers: list[Answer]) -> None:
    """kopf runs the start-up handler again each time a replica regains the leadership."""
    unwrapped = watching.continuous_watch
    outlive_removed_crds(Discovery(60))
    wrapped = watching.continuous_watch
    outlive_removed_crds(Discovery(60))
    assert wrapped is not unwrapped
    assert watching.continuous_watch is wrapped
