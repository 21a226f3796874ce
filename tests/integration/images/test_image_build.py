"""`make image` for real: both Dockerfile targets and the pause image built with buildah (or taken from the cache),
pushed to the local registry, referenced by the digest it reports, and run under runc the way a kubelet would:
as uid 10001 on a read-only root with a tmpfs /tmp."""

import errno
import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fabrikam.devcluster import images, registry, versions

ROOT = Path(__file__).resolve().parents[3]

pytestmark = [
    pytest.mark.skipif(
        not all(shutil.which(tool) for tool in ("buildah", "mmdebstrap", "runc", "gcc", "go")),
        reason="needs buildah, mmdebstrap, runc, gcc and go (Debian packages; see docs/images.md)",
    ),
    # A cold build (Debian base, pip install, push) takes minutes on two cores; a warm one is instant.
    pytest.mark.timeout(1800),
]


@dataclass(frozen=True)
class Built:
    operator: str
    workloads: str
    pause: str
    seconds: float


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A snapshot of the build context, so edits made to the checkout while the tests run change nothing here.

    Same files, same hash: it shares its cache with `make image`."""
    snapshot = tmp_path_factory.mktemp("context")
    for name in images.context_paths(ROOT):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, snapshot / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, snapshot / name)
    return snapshot


@pytest.fixture(scope="module")
def built(context: Path) -> Built:
    started = time.monotonic()
    both = images.build_images(progress=lambda message: None, context=context)
    pause = images.pause_image(progress=lambda message: None)
    return Built(both.operator, both.workloads, pause, time.monotonic() - started)


@dataclass(frozen=True)
class Mounted:
    rootfs: Path
    config: dict[str, Any]


def _buildah(*args: str) -> str:
    env = {**os.environ, **images.storage_env()}
    result = subprocess.run(["buildah", *args], capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture(scope="module")
def mount() -> Iterator[Any]:
    """Pulls an image by its digest from the registry (as a node would) and mounts its root filesystem."""
    containers: list[str] = []

    def mount_image(reference: str) -> Mounted:
        container = _buildah("from", "--tls-verify=false", "--pull=always", reference)
        containers.append(container)
        rootfs = Path(_buildah("mount", container))
        config: dict[str, Any] = json.loads(_buildah("inspect", "--type=container", container))["OCIv1"]["config"]
        return Mounted(rootfs, config)

    yield mount_image
    for container in containers:
        _buildah("rm", container)


def _run(image: Mounted, args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """runc with the image's own config: its user, environment and working folder; read-only root, tmpfs /tmp,
    and a network namespace of its own with nothing in it but loopback."""
    bundle = tmp_path / f"bundle-{uuid.uuid4().hex[:8]}"
    bundle.mkdir()
    subprocess.run(["runc", "spec", "--bundle", str(bundle)], check=True)
    spec = json.loads((bundle / "config.json").read_text())
    uid, _, gid = image.config["User"].partition(":")
    spec["root"] = {"path": str(image.rootfs), "readonly": True}
    spec["process"].update(
        terminal=False,
        args=args,
        env=image.config.get("Env", []),
        cwd=image.config.get("WorkingDir") or "/",
        user={"uid": int(uid), "gid": int(gid or uid)},
    )
    spec["mounts"].append(
        {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=1777"]}
    )
    (bundle / "config.json").write_text(json.dumps(spec))
    state = tmp_path / "runc-state"
    name = f"fabrikam-test-{uuid.uuid4().hex[:8]}"
    command = ["runc", "--root", str(state), "run", "--bundle", str(bundle), name]
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    finally:
        subprocess.run(["runc", "--root", str(state), "delete", "--force", name], capture_output=True)


def test_the_registry_reports_the_digests_returned(built: Built) -> None:
    for reference, repository in (
        (built.operator, "fabrikam/operator"),
        (built.workloads, "fabrikam/drone-delivery"),
        (built.pause, "fabrikam/pause"),
    ):
        name, digest = images.split_reference(reference)
        address, _, found_repository = name.partition("/")
        assert found_repository == repository
        assert address == registry.up().address
        assert address.startswith("127.0.0.1:")
        assert registry.manifest_digest(address, repository, digest) == digest


def test_a_second_build_rebuilds_nothing(built: Built, context: Path) -> None:
    started = time.monotonic()
    again = images.build_images(progress=lambda message: None, context=context)
    pause = images.pause_image(progress=lambda message: None)
    seconds = time.monotonic() - started
    assert (again.operator, again.workloads, pause) == (built.operator, built.workloads, built.pause)
    assert seconds < 15, f"a cached build took {seconds:.1f}s (the first call took {built.seconds:.0f}s)"


def test_the_workloads_image_runs_as_uid_10001_on_a_read_only_root(built: Built, mount: Any, tmp_path: Path) -> None:
    image = mount(built.workloads)
    assert image.config["User"] == "10001:10001"
    assert image.config["Entrypoint"] == ["fabrikam-svc"]
    helped = _run(image, ["fabrikam-svc", "--help"], tmp_path)
    assert helped.returncode == 0, helped.stderr
    assert "usage: fabrikam-svc" in helped.stdout
    probe = (
        "import errno, os, tempfile\n"
        "print(os.getuid(), os.getgid())\n"
        "try:\n    open('/opt/fabrikam/probe', 'w')\nexcept OSError as error:\n    print(error.errno)\n"
        "tempfile.NamedTemporaryFile(dir='/tmp')\n"
    )
    checked = _run(image, ["python", "-c", probe], tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.split() == ["10001", "10001", str(errno.EROFS)]


def test_the_operator_image_starts_its_command_line(built: Built, mount: Any, tmp_path: Path) -> None:
    image = mount(built.operator)
    assert image.config["Entrypoint"] == ["fabrikam", "operator", "run"]
    helped = _run(image, ["fabrikam", "operator", "run", "--help"], tmp_path)
    assert helped.returncode == 0, helped.stderr
    assert "Usage:" in helped.stdout


def _certificates(pem: str) -> set[str]:
    blocks = pem.split("-----BEGIN CERTIFICATE-----")[1:]
    return {"".join(block.split("-----END CERTIFICATE-----")[0].split()) for block in blocks}


@pytest.mark.parametrize("target", ["operator", "workloads"])
def test_the_runtime_images_hold_no_pip_compiler_tests_or_sources(built: Built, mount: Any, target: str) -> None:
    rootfs = mount(getattr(built, target)).rootfs
    site_packages = next((rootfs / "opt" / "fabrikam" / "lib").glob("python3*/site-packages"))
    for folder in ("usr/bin", "usr/local/bin", "opt/fabrikam/bin"):
        names = {path.name for path in (rootfs / folder).glob("*")}
        assert not names & {"pip", "pip3", "gcc", "cc", "g++", "c++", "clang", "make", "ld"}, folder
    for module in ("pip", "setuptools", "pkg_resources"):
        assert not (site_packages / module).exists()
        assert not (rootfs / "usr" / "lib" / "python3" / "dist-packages" / module).exists()
    assert not (site_packages / "kubernetes" / "aio").exists()
    assert not [path for path in site_packages.rglob("tests") if path.is_dir()]
    assert not (rootfs / "src").exists()
    assert not any((rootfs / "var" / "lib" / "apt" / "lists").glob("*_Packages*"))
    assert not any((rootfs / "var" / "cache" / "apt").rglob("*.deb"))
    assert not any((rootfs / "usr" / "share" / "man").glob("*")), "manuals are excluded from the base"
    # The host's CA bundle was mounted into the build, never copied: the image's bundle is Debian's own, made of
    # the certificates the ca-certificates package ships (the host's intercepting proxy CA is not among them).
    bundle = _certificates((rootfs / "etc" / "ssl" / "certs" / "ca-certificates.crt").read_text())
    shipped = set().union(
        *(_certificates(path.read_text()) for path in (rootfs / "usr" / "share" / "ca-certificates").rglob("*.crt"))
    )
    assert bundle
    assert bundle <= shipped


def test_the_pause_image_is_the_static_pause_of_the_pinned_kubernetes(built: Built, mount: Any, tmp_path: Path) -> None:
    image = mount(built.pause)
    assert image.config["Entrypoint"] == ["/pause"]
    assert image.config["User"] == "65535:65535"
    assert sorted(path.name for path in image.rootfs.iterdir()) == ["pause"]
    version = _run(image, ["/pause", "-v"], tmp_path)
    assert version.returncode == 0, version.stderr
    assert versions.KUBERNETES in version.stdout
