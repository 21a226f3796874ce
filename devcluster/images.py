"""Builds the project's images with buildah from its one Dockerfile and pushes them to the local registry.

Pure helpers (input hashing, command lines, configuration text) come first, the functions that run mmdebstrap,
buildah, go and gcc after them. Every image is cached in the registry under `<repository>:inputs-<hash of its
inputs>`: when that tag exists nothing is built, and the digest the registry reports for it is the answer.
"""

import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from fabrikam.devcluster import locks, registry, versions
from fabrikam.devcluster.paths import cache_dir, repository_root

Progress = Callable[[str], None]

# Dockerfile target -> repository (the names the Dockerfile's header comment uses).
TARGETS: dict[str, str] = {"operator": "fabrikam/operator", "workloads": "fabrikam/drone-delivery"}
BASE_REPOSITORY = "fabrikam/python-base"
PAUSE_REPOSITORY = "fabrikam/pause"
# The host's CA bundle: PyPI is reached through a TLS-intercepting proxy only the host trusts. Mounted into the
# build's RUN steps, never copied into an image.
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
SUITE = "bookworm"
BASE_PACKAGES = ("python3", "python3-venv", "python-is-python3", "ca-certificates")
# What python:*-slim (debian:*-slim) leaves out: manuals, translations, documentation but the licences.
DPKG_OPTIONS = (
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/locale/*",
    "path-include=/usr/share/locale/locale.alias",
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
)
# usr-is-merged instead of the usrmerge package, which would drag in perl (about 45 MB).
MERGED_USR_HOOKS = "/usr/share/mmdebstrap/hooks/merged-usr"
# The host's own resolver, hostname and apt settings must not end up in the image.
BASE_CUSTOMIZE_HOOK = 'rm -f "$1/etc/apt/apt.conf.d/99mmdebstrap" && : > "$1/etc/resolv.conf" && : > "$1/etc/hostname"'
# Apt settings of the host that decide whether its Debian mirror is reachable; mmdebstrap gets the same.
MIRROR_APT_OPTIONS = (
    "Acquire::Check-Valid-Until",
    "Acquire::Check-Date",
    "Acquire::http::Proxy",
    "Acquire::https::Proxy",
)
BASE_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
BASE_CMD = ("python3",)
PAUSE_USER = "65535:65535"
# Part of every input hash: bump it when this module changes how an image is made from the same inputs.
RECIPE = "1"


class ImageError(RuntimeError):
    """An image could not be built or pushed; the message says which step and where its log is."""


@dataclass(frozen=True)
class InputFile:
    """One file that goes into an image: its path (relative, POSIX), content and executable bit."""

    path: str
    content: bytes
    executable: bool = False


@dataclass(frozen=True)
class DebianImage:
    """An image made of Debian packages with mmdebstrap (no Dockerfile, nothing from Docker Hub), with files and
    settings on top. `user` is a user the packages create, made numeric from the image's own /etc/passwd (so
    `runAsNonRoot` can check it), or `uid:gid`; empty means root. `customize`: shell hooks run on the finished root
    (`$1`) before it is packed."""

    repository: str
    packages: tuple[str, ...]
    files: tuple[InputFile, ...] = ()
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    user: str = ""
    workdir: str = ""
    env: tuple[tuple[str, str], ...] = tuple(BASE_ENV.items())
    customize: tuple[str, ...] = ()


PYTHON_BASE = DebianImage(BASE_REPOSITORY, BASE_PACKAGES, cmd=BASE_CMD)


@dataclass(frozen=True)
class BuiltImages:
    """The Dockerfile's two targets, by digest."""

    operator: str
    workloads: str


# --- pure ----------------------------------------------------------------------------------------------------------


def is_build_input(relative: PurePosixPath) -> bool:
    """Bytecode caches never reach the image (.dockerignore), so they must not change the hash either."""
    return "__pycache__" not in relative.parts and relative.suffix not in {".pyc", ".pyo"}


def copied_sources(dockerfile: str) -> list[str]:
    """The build-context paths the Dockerfile's COPY/ADD instructions read (not those copied from a stage)."""
    joined = re.sub(r"\\\n", " ", dockerfile)
    sources: list[str] = []
    for line in joined.splitlines():
        match = re.match(r"\s*(COPY|ADD)\s+(.*)", line, re.IGNORECASE)
        if not match:
            continue
        words = match.group(2).split()
        if any(word.startswith("--from") for word in words):
            continue
        arguments = [word for word in words if not word.startswith("--")]
        rest = " ".join(arguments)
        if rest.startswith("["):
            arguments = json.loads(rest)
        sources += [source.rstrip("/").removeprefix("./") for source in arguments[:-1]]
    return list(dict.fromkeys(sources))


def inputs_hash(files: Iterable[InputFile], parameters: Mapping[str, str]) -> str:
    """One hash of everything an image is made from; any changed byte, mode, path or parameter changes it."""
    digest = hashlib.sha256()
    digest.update(json.dumps({"recipe": RECIPE, **parameters}, sort_keys=True).encode())
    for item in sorted(files, key=lambda file: file.path):
        content = hashlib.sha256(item.content).hexdigest()
        digest.update(f"\0{item.path}\0{int(item.executable)}\0{content}".encode())
    return digest.hexdigest()[:32]


def inputs_tag(inputs: str) -> str:
    return f"inputs-{inputs}"


def split_reference(reference: str) -> tuple[str, str]:
    """`name@sha256:...` -> (name, digest): the Dockerfile takes them as two build arguments."""
    name, separator, digest = reference.partition("@")
    if not separator or not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
        raise ValueError(f"not a reference by digest: {reference!r}")
    return name, digest


def build_args(base: str) -> dict[str, str]:
    """The Dockerfile's existing base-image arguments, pointed at the locally built base (by digest)."""
    name, digest = split_reference(base)
    return {"PYTHON_IMAGE": name, "PYTHON_DIGEST": digest}


def bud_command(
    context: Path, target: str, tag: str, arguments: Mapping[str, str], ca_bundle: Path = CA_BUNDLE
) -> list[str]:
    """`buildah bud` of one Dockerfile target, with the host's CA bundle mounted into its RUN steps only."""
    return [
        "buildah",
        "bud",
        "--layers",  # the second target reuses the build stage of the first
        "--network=host",  # the host's own route to PyPI; the default would create a CNI bridge and NAT rules
        "--tls-verify=false",  # the base is pulled from the plain-HTTP registry on loopback
        f"--target={target}",
        f"--file={context / 'Dockerfile'}",
        *[f"--build-arg={name}={value}" for name, value in sorted(arguments.items())],
        f"--volume={ca_bundle}:{ca_bundle}:ro",
        f"--tag={tag}",
        str(context),
    ]


def push_command(image: str, destination: str, digestfile: Path) -> list[str]:
    return ["buildah", "push", "--tls-verify=false", f"--digestfile={digestfile}", image, f"docker://{destination}"]


def mirror_aptopts(apt_config_dump: str) -> list[str]:
    """The host's settings (from `apt-config dump`) that mmdebstrap needs to reach the same mirror."""
    options = []
    for line in apt_config_dump.splitlines():
        key, _, value = line.partition(" ")
        if key in MIRROR_APT_OPTIONS and value.strip('";'):
            options.append(f"{key} {value.rstrip(';')};")
    return options


def mmdebstrap_command(
    output: Path,
    packages: Sequence[str],
    sources: Path | None,
    aptopts: Sequence[str],
    customize: Sequence[str] = (),
) -> list[str]:
    """A minimal Debian (like debian:bookworm-slim) of Debian's own packages, e.g. Python 3.11 for the base."""
    return [
        "mmdebstrap",
        "--variant=minbase",
        f"--include={','.join(packages)}",
        f"--hook-dir={MERGED_USR_HOOKS}",
        *[f"--aptopt={option}" for option in aptopts],
        *[f"--dpkgopt={option}" for option in DPKG_OPTIONS],
        *[f"--customize-hook={hook}" for hook in (BASE_CUSTOMIZE_HOOK, *customize)],
        SUITE,
        str(output),
        *([str(sources)] if sources else []),
    ]


def numeric_user(user: str, passwd: str) -> str:
    """`redis` -> `uid:gid` from the image's /etc/passwd; `uid:gid` and the empty user (root) stay as they are."""
    if not user or re.fullmatch(r"\d+(:\d+)?", user):
        return user
    for line in passwd.splitlines():
        fields = line.split(":")
        if len(fields) >= 4 and fields[0] == user:
            return f"{fields[2]}:{fields[3]}"
    raise ImageError(f"user {user!r} does not exist in the image (its packages did not create it)")


def debian_config(image: DebianImage, user: str) -> list[str]:
    """`buildah config` arguments of a Debian image, its user already numeric."""
    settings = [f"--env={name}={value}" for name, value in image.env]
    if image.entrypoint:
        settings.append(f"--entrypoint={json.dumps(list(image.entrypoint))}")
    if image.cmd:
        settings.append(f"--cmd={json.dumps(list(image.cmd))}")
    if user:
        settings.append(f"--user={user}")
    if image.workdir:
        settings.append(f"--workingdir={image.workdir}")
    return settings


def storage_conf(driver: str, root: Path) -> str:
    """containers-storage.conf(5) keeping buildah's images under the per-machine cache."""
    return f'[storage]\ndriver = "{driver}"\ngraphroot = "{root / "storage"}"\nrunroot = "{root / "run"}"\n'


def containers_conf(root: Path) -> str:
    """containers.conf(5): the host's network for every buildah container (never a CNI bridge with NAT rules),
    and buildah's network configuration folder under the cache instead of /etc/cni."""
    return f'[containers]\nnetns = "host"\n\n[network]\nnetwork_config_dir = "{root / "cni"}"\n'


def _repository(name: str, address: str) -> str | None:
    """`127.0.0.1:5000/fabrikam/operator:tag` (or `@sha256:...`) -> `fabrikam/operator`, for this registry only."""
    if not name.startswith(f"{address}/"):
        return None
    return re.split(r"[:@]", name.removeprefix(f"{address}/"), maxsplit=1)[0]


def stale_images(listing: str, address: str, current_tag: str) -> list[str]:
    """IDs of local images (`buildah images --json`) of the Dockerfile's targets that are not the current build:
    every name they carry is one of the targets' repositories, and none is the current inputs tag."""
    stale = []
    for image in json.loads(listing or "[]"):
        names: list[str] = image.get("names") or []
        ours = bool(names) and all(_repository(name, address) in TARGETS.values() for name in names)
        if ours and not any(name.endswith(f":{current_tag}") for name in names):
            stale.append(str(image["id"]))
    return stale


def progress_line(output_line: str) -> str | None:
    """The buildah output lines worth showing while a build runs: its steps."""
    line = output_line.rstrip()
    return line[:140] if re.match(r"(\[\d+/\d+\] )?STEP \d+/\d+", line) else None


# --- I/O -----------------------------------------------------------------------------------------------------------


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


def containers_dir() -> Path:
    return cache_dir() / "containers"


def storage_env(progress: Progress = _stderr) -> dict[str, str]:
    """Environment for every buildah call: storage under the cache (overlay, else vfs) and host networking.

    The driver is chosen once, by trying overlay, and kept in the storage.conf: a storage cannot change driver.
    """
    root = containers_dir()
    root.mkdir(parents=True, exist_ok=True)
    network_conf = root / "containers.conf"
    if not network_conf.exists() or network_conf.read_text() != containers_conf(root):
        network_conf.write_text(containers_conf(root))
    conf = root / "storage.conf"
    if not conf.exists():
        driver = "overlay" if _overlay_works(root, network_conf) else "vfs"
        progress(f"buildah storage: {driver} driver in {root}")
        conf.write_text(storage_conf(driver, root))
    return {"CONTAINERS_STORAGE_CONF": str(conf), "CONTAINERS_CONF": str(network_conf)}


def _overlay_works(root: Path, network_conf: Path) -> bool:
    """Mounts a container on a throw-away overlay storage: the only reliable test of the kernel and filesystem."""
    probe = Path(tempfile.mkdtemp(prefix=".probe-", dir=root))
    try:
        conf = probe / "storage.conf"
        conf.write_text(storage_conf("overlay", probe))
        env = {**os.environ, "CONTAINERS_STORAGE_CONF": str(conf), "CONTAINERS_CONF": str(network_conf)}
        created = subprocess.run(["buildah", "from", "scratch"], capture_output=True, text=True, env=env)
        if created.returncode != 0:
            return False
        container = created.stdout.strip()
        mounted = subprocess.run(["buildah", "mount", container], capture_output=True, env=env)
        subprocess.run(["buildah", "rm", container], capture_output=True, env=env)
        return mounted.returncode == 0
    finally:
        # The overlay driver bind-mounts its own folder onto itself; release it before removing the probe.
        overlay = probe / "storage" / "overlay"
        if os.path.ismount(overlay):
            subprocess.run(["umount", str(overlay)], capture_output=True)
        shutil.rmtree(probe, ignore_errors=True)


def _lock() -> contextlib.AbstractContextManager[None]:
    """Concurrent builds on one machine wait for each other instead of building the same image twice."""
    return locks.exclusive(containers_dir() / ".build.lock")


def _run(
    command: list[str], env: Mapping[str, str] | None = None, log: Path | None = None, cwd: Path | None = None
) -> str:
    """Runs a command to completion; on failure the error carries the end of its output."""
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        cwd=cwd,
        env={**os.environ, **(env or {})},
    )
    if log is not None:
        with open(log, "a") as output:
            output.write(f"$ {' '.join(command)}\n{result.stdout}{result.stderr}")
    if result.returncode != 0:
        tail = "".join((result.stdout + result.stderr).splitlines(keepends=True)[-20:])
        raise ImageError(f"{' '.join(command[:3])} ... failed (exit {result.returncode}):\n{tail}")
    return result.stdout.strip()


def _run_streaming(command: list[str], env: Mapping[str, str], log: Path, progress: Progress) -> None:
    """Runs a long build, keeping its whole output in a log and showing its steps as progress."""
    with open(log, "a") as output:
        output.write(f"$ {' '.join(command)}\n")
        output.flush()
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            env={**os.environ, **env},
        )
        assert process.stdout is not None
        for line in process.stdout:
            output.write(line)
            shown = progress_line(line)
            if shown:
                progress(f"  {shown}")
        returncode = process.wait()
    if returncode != 0:
        tail = "".join(log.read_text().splitlines(keepends=True)[-25:])
        raise ImageError(f"{command[0]} {command[1]} failed (exit {returncode}); log {log}:\n{tail}")


def _log(name: str) -> Path:
    path = cache_dir() / "build-logs" / f"image-{name}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("")
    return path


def _push(image: str, address: str, repository: str, tag: str, env: Mapping[str, str], log: Path) -> str:
    """Pushes and returns `ref@digest`, the digest being what the registry reports for the tag."""
    with tempfile.TemporaryDirectory() as scratch:
        digestfile = Path(scratch) / "digest"
        _run(push_command(image, f"{address}/{repository}:{tag}", digestfile), env, log)
        pushed = digestfile.read_text().strip()
    reported = registry.manifest_digest(address, repository, tag)
    if reported != pushed:
        raise ImageError(f"{repository}:{tag}: pushed {pushed} but the registry reports {reported}")
    return registry.image_reference(address, repository, reported)


def _cached(address: str, repository: str, tag: str) -> str | None:
    digest = registry.manifest_digest(address, repository, tag)
    return registry.image_reference(address, repository, digest) if digest else None


def _read_inputs(root: Path, paths: Iterable[str]) -> list[InputFile]:
    files = []
    for name in paths:
        path = root / name
        candidates = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for candidate in candidates:
            relative = PurePosixPath(candidate.relative_to(root).as_posix())
            if is_build_input(relative):
                executable = bool(candidate.stat().st_mode & 0o111)
                files.append(InputFile(str(relative), candidate.read_bytes(), executable))
    return files


def context_paths(root: Path) -> list[str]:
    """The Dockerfile, .dockerignore and what the Dockerfile copies from the build context (relative paths)."""
    sources = copied_sources((root / "Dockerfile").read_text())
    return [name for name in ["Dockerfile", ".dockerignore", *sources] if (root / name).exists()]


def context_inputs(root: Path) -> list[InputFile]:
    """Every file of the build context that can change the image."""
    return _read_inputs(root, context_paths(root))


def _host_debian_sources() -> Path | None:
    """The host's own Debian sources (the mirror apt here reaches), when they serve the base's suite."""
    for candidate in (Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list")):
        if candidate.is_file() and re.search(rf"\b{SUITE}\b", candidate.read_text()):
            return candidate
    return None


def _root_filesystem(source: Path, target: Path, files: Iterable[InputFile]) -> str:
    """Copies mmdebstrap's tarball without /dev's device nodes (a runtime provides /dev), adds the image's files
    (root-owned), and returns the image's /etc/passwd."""
    passwd = b""
    with tarfile.open(source) as original, tarfile.open(target, "w", format=tarfile.PAX_FORMAT) as filtered:
        for member in original:
            if member.ischr() or member.isblk():
                continue
            content = original.extractfile(member) if member.isfile() else None
            if member.name.removeprefix("./") == "etc/passwd" and content is not None:
                passwd = content.read()
                content = io.BytesIO(passwd)
            filtered.addfile(member, content)
        for item in files:
            info = tarfile.TarInfo(f"./{item.path}")
            info.size, info.mode = len(item.content), 0o755 if item.executable else 0o644
            filtered.addfile(info, io.BytesIO(item.content))
    return passwd.decode()


def debian_image(image: DebianImage, progress: Progress = _stderr) -> str:
    """A Debian bookworm image of `image.packages` (mmdebstrap), pushed to the local registry: `ref@sha256:...`.

    Cached by the package list, the host's Debian sources, the image's files and settings: an unchanged image is
    not rebuilt (Debian's own updates do not count; a change of this recipe does, through RECIPE).
    """
    address = registry.up(progress).address
    sources = _host_debian_sources()
    apt_dump = subprocess.run(["apt-config", "dump"], capture_output=True, text=True).stdout
    aptopts = mirror_aptopts(apt_dump)
    command = mmdebstrap_command(Path("rootfs.tar"), image.packages, sources, aptopts, image.customize)
    inputs = [
        *([InputFile("sources", sources.read_bytes())] if sources else []),
        *(InputFile(f"rootfs/{item.path}", item.content, item.executable) for item in image.files),
    ]
    config = debian_config(image, image.user)
    tag = inputs_tag(inputs_hash(inputs, {"mmdebstrap": json.dumps(command), "config": json.dumps(config)}))
    repository = image.repository
    if cached := _cached(address, repository, tag):
        return cached
    with _lock():
        if cached := _cached(address, repository, tag):
            return cached
        env = storage_env(progress)
        log = _log(repository.replace("/", "-"))
        started = time.monotonic()
        progress(f"building {repository} with mmdebstrap ({SUITE}: {', '.join(image.packages)}; log {log})")
        scratch = Path(tempfile.mkdtemp(prefix="debian-", dir=containers_dir()))
        try:
            tarball = scratch / "debootstrapped.tar"
            _run(mmdebstrap_command(tarball, image.packages, sources, aptopts, image.customize), log=log)
            rootfs = scratch / "rootfs.tar"
            passwd = _root_filesystem(tarball, rootfs, image.files)
            tarball.unlink()
            built = f"{address}/{repository}:{tag}"
            container = _run(["buildah", "from", "scratch"], env, log)
            try:
                _run(["buildah", "add", container, str(rootfs), "/"], env, log)
                settings = debian_config(image, numeric_user(image.user, passwd))
                _run(["buildah", "config", *settings, container], env, log)
                _run(["buildah", "commit", "--quiet", container, built], env, log)
            finally:
                subprocess.run(["buildah", "rm", container], capture_output=True, env={**os.environ, **env})
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        reference = _push(built, address, repository, tag, env, log)
        progress(f"built {repository} in {time.monotonic() - started:.0f}s")
        return reference


def base_image(progress: Progress = _stderr) -> str:
    """The Python base (Debian bookworm's python3 from mmdebstrap), pushed to the local registry: `ref@sha256:...`."""
    return debian_image(PYTHON_BASE, progress)


def build_images(progress: Progress = _stderr, context: Path | None = None) -> BuiltImages:
    """Both Dockerfile targets, built with buildah only when their inputs changed; references by digest.

    `context`: the folder holding the Dockerfile and what it copies (default: this checkout). buildah builds from
    a copy of exactly the files that were hashed, so an edit made during the build cannot slip under the tag.
    """
    address = registry.up(progress).address
    base = base_image(progress)
    inputs = context_inputs(context or repository_root())
    arguments = build_args(base)
    tag = inputs_tag(inputs_hash(inputs, {"build-args": json.dumps(arguments, sort_keys=True)}))
    references: dict[str, str] = {}
    for target, repository in TARGETS.items():
        if cached := _cached(address, repository, tag):
            references[target] = cached
    if len(references) < len(TARGETS):
        with _lock(), tempfile.TemporaryDirectory(prefix="context-", dir=containers_dir()) as snapshot:
            env = storage_env(progress)
            write_inputs(inputs, Path(snapshot))
            for target, repository in TARGETS.items():
                if target not in references:
                    references[target] = _cached(address, repository, tag) or _build_target(
                        Path(snapshot), target, address, repository, tag, arguments, env, progress
                    )
            _prune(address, tag, env)
    return BuiltImages(operator=references["operator"], workloads=references["workloads"])


def _prune(address: str, current_tag: str, env: Mapping[str, str]) -> None:
    """Drops local builds of older inputs and their layer cache: every source edit would otherwise keep another
    venv layer (about 235 MB) in buildah's storage. The registry keeps every pushed image."""
    full_env = {**os.environ, **env}
    listing = subprocess.run(["buildah", "images", "--json"], capture_output=True, text=True, env=full_env).stdout
    for image in stale_images(listing, address, current_tag):
        # Best effort: an image a container still uses (a test's) stays.
        subprocess.run(["buildah", "rmi", image], capture_output=True, env=full_env)
    subprocess.run(["buildah", "rmi", "--prune"], capture_output=True, env=full_env)


def write_inputs(inputs: Iterable[InputFile], root: Path) -> None:
    """Lays hashed files out as a build context (modes as git keeps them: 0755 or 0644)."""
    for item in inputs:
        path = root / item.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(item.content)
        path.chmod(0o755 if item.executable else 0o644)


def _build_target(
    root: Path,
    target: str,
    address: str,
    repository: str,
    tag: str,
    arguments: Mapping[str, str],
    env: Mapping[str, str],
    progress: Progress,
) -> str:
    log = _log(target)
    image = f"{address}/{repository}:{tag}"
    progress(f"building target {target} with buildah (log {log})")
    started = time.monotonic()
    _run_streaming(bud_command(root, target, image, arguments), env, log, progress)
    reference = _push(image, address, repository, tag, env, log)
    progress(f"built and pushed {target} in {time.monotonic() - started:.0f}s")
    return reference


def static_image(
    repository: str,
    files: Mapping[str, Path],
    entrypoint: Sequence[str],
    user: str = PAUSE_USER,
    progress: Progress = _stderr,
) -> str:
    """A tiny image FROM scratch holding host files (image path -> host path), e.g. a static Go binary.

    Cached by the files' contents, the entrypoint and the user; returns `ref@sha256:...`.
    """
    address = registry.up(progress).address
    inputs = [
        InputFile(target.lstrip("/"), source.read_bytes(), bool(source.stat().st_mode & 0o111))
        for target, source in files.items()
    ]
    tag = inputs_tag(inputs_hash(inputs, {"entrypoint": json.dumps(list(entrypoint)), "user": user}))
    if cached := _cached(address, repository, tag):
        return cached
    with _lock():
        env = storage_env(progress)
        log = _log(repository.replace("/", "-"))
        image = f"{address}/{repository}:{tag}"
        container = _run(["buildah", "from", "scratch"], env, log)
        try:
            for target, source in files.items():
                mode = "0755" if source.stat().st_mode & 0o111 else "0644"
                _run(["buildah", "copy", "--chown=0:0", f"--chmod={mode}", container, str(source), target], env, log)
            config = [f"--entrypoint={json.dumps(list(entrypoint))}", f"--user={user}"]
            _run(["buildah", "config", *config, container], env, log)
            _run(["buildah", "commit", "--quiet", container, image], env, log)
        finally:
            subprocess.run(["buildah", "rm", container], capture_output=True, env={**os.environ, **env})
        reference = _push(image, address, repository, tag, env, log)
        progress(f"pushed {reference}")
        return reference


def pause_source() -> Path:
    """build/pause/linux/pause.c of the pinned k8s.io/kubernetes module (downloaded through the Go proxy)."""
    with tempfile.TemporaryDirectory() as outside_any_module:
        module = f"k8s.io/kubernetes@{versions.KUBERNETES}"
        described = _run(["go", "mod", "download", "-json", module], cwd=Path(outside_any_module))
    source = Path(json.loads(described)["Dir"]) / "build" / "pause" / "linux" / "pause.c"
    if not source.is_file():
        raise ImageError(f"{source} is missing from k8s.io/kubernetes@{versions.KUBERNETES}")
    return source


def pause_binary(progress: Progress = _stderr) -> Path:
    """The Kubernetes pause container's program, compiled once per machine with `gcc -static`."""
    binary = cache_dir() / "bin" / f"pause-{versions.KUBERNETES}" / "pause"
    if binary.exists():
        return binary
    source = pause_source()
    binary.parent.mkdir(parents=True, exist_ok=True)
    partial = binary.with_name(f".{binary.name}.partial")
    progress(f"compiling pause {versions.KUBERNETES} from {source}")
    _run(["gcc", "-static", "-O2", "-s", "-Wall", f"-DVERSION={versions.KUBERNETES}", "-o", str(partial), str(source)])
    partial.rename(binary)
    return binary


def pause_image(progress: Progress = _stderr) -> str:
    """The Kubernetes pause image (`/pause`, uid 65535), for containerd's sandbox_image: `ref@sha256:...`."""
    return static_image(PAUSE_REPOSITORY, {"/pause": pause_binary(progress)}, ["/pause"], PAUSE_USER, progress)
