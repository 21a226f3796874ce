"""Image references as containerd reads them, and what digest resolution answers when the registry does not:
the tag is kept (as the placeholder's annotation) with the reason, never an exception. The registry's own answers
are tested against the project's real registry in tests/integration/cli/test_adopt_registry.py."""

from __future__ import annotations

import socket
import time

import pytest

from fabrikam.cli.adopt.images import ImageName, InvalidImage, parse_image
from fabrikam.cli.adopt.registry import lookup_digest, lookup_digests, resolve_digest

DIGEST = "sha256:" + "0123456789abcdef" * 4


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("nginx", ImageName("docker.io", "library/nginx")),
        ("nginx:1.25", ImageName("docker.io", "library/nginx", "1.25")),
        ("bitnami/redis:7.2", ImageName("docker.io", "bitnami/redis", "7.2")),
        ("fabrikam.azurecr.io/shipping/delivery:1.2", ImageName("fabrikam.azurecr.io", "shipping/delivery", "1.2")),
        ("localhost:5000/fabrikam/pause", ImageName("localhost:5000", "fabrikam/pause")),
        (f"127.0.0.1:5000/fabrikam/pause:v1@{DIGEST}", ImageName("127.0.0.1:5000", "fabrikam/pause", "v1", DIGEST)),
    ],
)
def test_references_are_split_as_a_runtime_pulls_them(image: str, expected: ImageName) -> None:
    assert parse_image(image) == expected


def test_what_the_digest_is_asked_for_and_where() -> None:
    assert parse_image("nginx").reference == "latest"
    assert parse_image("nginx").api_host == "registry-1.docker.io"
    assert parse_image("nginx").repository == "docker.io/library/nginx"
    assert parse_image("localhost:5000/a:b").plain_http
    assert parse_image("127.0.0.1:5000/a:b").plain_http
    assert parse_image("[::1]:5000/a:b").plain_http
    assert not parse_image("fabrikam.azurecr.io/a:b").plain_http


@pytest.mark.parametrize("image", ["nginx:", "nginx@sha256:short", ""])
def test_malformed_references_are_refused(image: str) -> None:
    with pytest.raises(InvalidImage):
        parse_image(image)


def test_a_pinned_image_is_answered_without_asking_anyone() -> None:
    assert resolve_digest(f"unreachable.invalid/x@{DIGEST}") == DIGEST


def test_a_registry_nobody_listens_for_falls_back_with_the_reason() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    resolution = lookup_digest(f"127.0.0.1:{port}/fabrikam/delivery:1.0")
    assert resolution.digest is None
    assert resolution.reason.startswith(f"127.0.0.1:{port} did not answer")


def test_a_registry_that_does_not_answer_in_time_falls_back_within_the_timeout(silent_port: int) -> None:
    started = time.monotonic()
    resolution = lookup_digest(f"127.0.0.1:{silent_port}/fabrikam/delivery:1.0", timeout=0.5)
    assert time.monotonic() - started < 5
    assert resolution.digest is None
    assert resolution.reason == f"127.0.0.1:{silent_port} did not answer within 0.5 s"


def test_each_image_is_looked_up_once() -> None:
    answers = lookup_digests([f"a.invalid/x@{DIGEST}", f"a.invalid/x@{DIGEST}", "nginx:"])
    assert set(answers) == {f"a.invalid/x@{DIGEST}", "nginx:"}
    assert answers["nginx:"].digest is None
