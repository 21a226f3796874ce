"""The per-machine OCI registry on loopback (CNCF distribution) that local images are pushed to and pulled from.

Images are referenced by the digest this registry reports, as on AKS with ACR. Its port is chosen once and kept,
so `127.0.0.1:PORT/...@sha256:...` references stay valid across restarts; `down` stops it and keeps its storage.
"""

import contextlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from fabrikam.devcluster import locks, toolchain
from fabrikam.devcluster.processes import ManagedProcess, free_port, start, stop

Progress = Callable[[str], None]

STATE_FILE = "registry.json"
# Every manifest type a registry may hold; HEAD must accept them all to get the digest of what was pushed.
MANIFEST_MEDIA_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
API_VERSION_HEADER = "Docker-Distribution-Api-Version"


class RegistryError(RuntimeError):
    """The registry could not be started or answered unexpectedly; the message says why and where the log is."""


def registry_dir() -> Path:
    """Per machine, not per cluster: images outlive clusters (override: FABRIKAM_REGISTRY_DIR)."""
    default = Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state")) / "fabrikam" / "registry"
    return Path(os.environ.get("FABRIKAM_REGISTRY_DIR", default))


@dataclass(frozen=True)
class Registry:
    """A running registry: `address` is what image references start with (`127.0.0.1:PORT`)."""

    address: str
    directory: Path

    def reference(self, repository: str, digest: str) -> str:
        return image_reference(self.address, repository, digest)


@dataclass(frozen=True)
class RegistryStatus:
    address: str | None
    running: bool
    directory: Path
    log: Path


def image_reference(address: str, repository: str, digest: str) -> str:
    """`<registry>/<repository>@sha256:...`: the immutable form a pod spec should use."""
    if not digest.startswith("sha256:") or len(digest) != len("sha256:") + 64:
        raise ValueError(f"not a sha256 digest: {digest!r}")
    return f"{address}/{repository}@{digest}"


def config_yaml(storage: Path, port: int) -> str:
    """The registry's config.yml: filesystem storage, plain HTTP on loopback only."""
    config = {
        "version": "0.1",
        "log": {"level": "info", "formatter": "text", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(storage)}, "delete": {"enabled": True}},
        "http": {"addr": f"127.0.0.1:{port}"},
    }
    return yaml.safe_dump(config, sort_keys=False)


def _load_state() -> tuple[int | None, ManagedProcess | None]:
    path = registry_dir() / STATE_FILE
    if not path.exists():
        return None, None
    data: dict[str, Any] = json.loads(path.read_text())
    process = ManagedProcess.from_json(data["process"]) if data.get("process") else None
    return data.get("port"), process


def _save_state(port: int, process: ManagedProcess | None) -> None:
    path = registry_dir() / STATE_FILE
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps({"port": port, "process": process.to_json() if process else None}, indent=2))
    partial.rename(path)


def _lock() -> contextlib.AbstractContextManager[None]:
    """Concurrent `make image` runs and tests start one registry, not two."""
    return locks.exclusive(registry_dir() / ".lock")


def _client() -> httpx.Client:
    # Loopback only: never through a proxy from the environment.
    return httpx.Client(trust_env=False, timeout=5.0)


def healthy(address: str) -> bool:
    """GET /v2/ answers 200 with the distribution API header: a registry, not some other server on that port."""
    try:
        with _client() as client:
            response = client.get(f"http://{address}/v2/")
    except httpx.TransportError:
        return False
    return response.status_code == 200 and response.headers.get(API_VERSION_HEADER) == "registry/2.0"


def manifest_digest(address: str, repository: str, reference: str) -> str | None:
    """The digest the registry reports for a tag (HEAD .../manifests/<tag>), or None when it has no such tag."""
    headers = {"Accept": ", ".join(MANIFEST_MEDIA_TYPES)}
    with _client() as client:
        response = client.head(f"http://{address}/v2/{repository}/manifests/{reference}", headers=headers)
    if response.status_code == 404:
        return None
    if response.status_code != 200 or "Docker-Content-Digest" not in response.headers:
        raise RegistryError(f"HEAD {repository}:{reference} on {address} answered {response.status_code}")
    return response.headers["Docker-Content-Digest"]


def _log_path() -> Path:
    return registry_dir() / "logs" / "registry.log"


def status() -> RegistryStatus:
    port, process = _load_state()
    address = f"127.0.0.1:{port}" if port else None
    running = bool(process and process.alive() and address and healthy(address))
    return RegistryStatus(address=address, running=running, directory=registry_dir(), log=_log_path())


def up(progress: Progress = lambda message: None) -> Registry:
    """Returns the running registry, starting it (on its kept port) when it is not running."""
    with _lock():
        directory = registry_dir()
        port, process = _load_state()
        if port is None:
            port = free_port()
            _save_state(port, None)
        address = f"127.0.0.1:{port}"
        config = directory / "config.yml"
        config.write_text(config_yaml(directory / "storage", port))
        if process is not None and process.alive():
            if _wait_healthy(address, process, seconds=10):
                return Registry(address, directory)
            progress(f"registry pid {process.pid} does not answer on {address}: restarting it")
            stop(process)
        if healthy(address):
            raise RegistryError(
                f"another registry answers on {address} but is not the one recorded in {directory / STATE_FILE}"
            )
        binary = toolchain.expected_binaries().registry
        if not os.access(binary, os.X_OK):
            binary = toolchain.ensure_binaries(progress).registry
        progress(f"starting the image registry on {address} (storage {directory / 'storage'})")
        # Tracing spans would be exported to an OTLP collector on localhost:4318 that does not exist.
        process = start(
            "registry", [str(binary), "serve", str(config)], _log_path().parent, {"OTEL_TRACES_EXPORTER": "none"}
        )
        _save_state(port, process)
        if not _wait_healthy(address, process, seconds=30):
            stop(process)
            _save_state(port, None)
            tail = "".join(_log_path().read_text().splitlines(keepends=True)[-15:])
            raise RegistryError(
                f"the registry did not answer on {address} (is port {port} taken? delete {directory / STATE_FILE}"
                f" to choose another one, which changes every image reference); log {_log_path()}:\n{tail}"
            )
        return Registry(address, directory)


def _wait_healthy(address: str, process: ManagedProcess, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if healthy(address):
            return True
        if not process.alive():
            return False
        time.sleep(0.1)
    return False


def down(progress: Progress = lambda message: None) -> bool:
    """Stops the registry (True when one was running); its port and storage stay for the next `up`."""
    with _lock():
        port, process = _load_state()
        if port is None or process is None:
            return False
        was_running = process.alive()
        stop(process)
        _save_state(port, None)
        if was_running:
            progress(f"stopped the image registry on 127.0.0.1:{port}")
        return was_running
