"""Image references as a container runtime reads them, and what a registry answered about their digest."""

from __future__ import annotations

import re
from dataclasses import dataclass

DOCKER_HUB = "docker.io"
# Docker Hub's registry API lives on another host than its name in image references.
DOCKER_HUB_API = "registry-1.docker.io"
DIGEST_PATTERN = re.compile(r"^sha256:[a-f0-9]{64}$")
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")


class InvalidImage(ValueError):
    """Not an image reference a container runtime would pull."""


@dataclass(frozen=True)
class ImageName:
    """`registry/path[:tag][@digest]`, with Docker Hub's implicit registry and `library/` spelled out, so
    `nginx:1.25` and `docker.io/library/nginx:1.25` are the same image."""

    registry: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def repository(self) -> str:
        """What a DroneService's spec.image.repository holds: the image without tag or digest."""
        return f"{self.registry}/{self.path}"

    @property
    def reference(self) -> str:
        """What the manifest is asked for by: the digest when pinned, else the tag (`latest` when none)."""
        return self.digest or self.tag or "latest"

    @property
    def api_host(self) -> str:
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    @property
    def plain_http(self) -> bool:
        """A registry on loopback speaks plain HTTP (the project's own does), as containerd and Docker allow."""
        host = self.registry.partition("]")[0] + "]" if self.registry.startswith("[") else self.registry.split(":")[0]
        return host in LOOPBACK_HOSTS or host.startswith("127.")

    def __str__(self) -> str:
        tag = f":{self.tag}" if self.tag else ""
        digest = f"@{self.digest}" if self.digest else ""
        return f"{self.repository}{tag}{digest}"


def _is_registry(component: str) -> bool:
    return "." in component or ":" in component or component == "localhost"


def parse_image(image: str) -> ImageName:
    """Splits an image reference the way containerd does; raises InvalidImage for anything else."""
    rest, _, digest = image.strip().partition("@")
    if not rest:
        raise InvalidImage(f"{image!r} is not an image reference")
    if digest and not DIGEST_PATTERN.match(digest):
        raise InvalidImage(f"{image!r}: {digest!r} is not a sha256 digest")
    name, tag = rest, None
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        name, tag = rest[:colon], rest[colon + 1 :]
    first, _, remainder = name.partition("/")
    if remainder and _is_registry(first):
        registry, path = first, remainder
    else:
        registry, path = DOCKER_HUB, name
    if registry == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    if not path or tag == "":
        raise InvalidImage(f"{image!r} is not an image reference")
    return ImageName(registry.lower(), path, tag or None, digest or None)


@dataclass(frozen=True)
class Resolution:
    """What the registry answered for one image: its digest, or why there is none."""

    digest: str | None
    reason: str = ""
