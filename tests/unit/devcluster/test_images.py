"""The pure parts of image building: what goes into the cache key, and the exact commands buildah runs."""

import json
import re
import tomllib
from pathlib import Path, PurePosixPath

import pytest
import yaml

from fabrikam.devcluster import images, registry

ROOT = Path(__file__).resolve().parents[3]
DIGEST = "sha256:" + "ab" * 32
BASE = f"127.0.0.1:5000/fabrikam/python-base@{DIGEST}"


def _checkout(tmp_path: Path) -> Path:
    (tmp_path / "Dockerfile").write_text(
        "FROM x AS build\nCOPY constraints.txt pyproject.toml ./\nCOPY operator ./operator\n"
        "FROM x AS runtime\nCOPY --from=build /opt/fabrikam /opt/fabrikam\n"
    )
    (tmp_path / "constraints.txt").write_text("kopf==1.45.2\n")
    (tmp_path / "pyproject.toml").write_text("[project]\n")
    (tmp_path / "operator" / "__pycache__").mkdir(parents=True)
    (tmp_path / "operator" / "main.py").write_text("print('hi')\n")
    (tmp_path / "operator" / "__pycache__" / "main.cpython-311.pyc").write_bytes(b"\x00")
    (tmp_path / "notes.txt").write_text("not copied by the Dockerfile\n")
    return tmp_path


def _hash(root: Path) -> str:
    return images.inputs_hash(images.context_inputs(root), {"build-args": "x"})


def test_the_inputs_hash_changes_with_a_copied_source_file(tmp_path: Path) -> None:
    root = _checkout(tmp_path)
    before = _hash(root)
    assert _hash(root) == before
    (root / "operator" / "main.py").write_text("print('changed')\n")
    assert _hash(root) != before


def test_a_new_file_in_a_copied_folder_and_a_mode_change_count_too(tmp_path: Path) -> None:
    root = _checkout(tmp_path)
    before = _hash(root)
    (root / "operator" / "extra.py").write_text("")
    after_new_file = _hash(root)
    assert after_new_file != before
    (root / "operator" / "extra.py").chmod(0o755)
    assert _hash(root) != after_new_file


def test_bytecode_caches_and_files_the_dockerfile_does_not_copy_do_not_change_the_hash(tmp_path: Path) -> None:
    root = _checkout(tmp_path)
    before = _hash(root)
    (root / "operator" / "__pycache__" / "main.cpython-311.pyc").write_bytes(b"\x01\x02")
    (root / "operator" / "__pycache__" / "other.cpython-311.pyc").write_bytes(b"\x03")
    (root / "notes.txt").write_text("edited\n")
    assert _hash(root) == before


def test_the_dockerfile_and_the_build_arguments_are_inputs(tmp_path: Path) -> None:
    root = _checkout(tmp_path)
    files = images.context_inputs(root)
    assert images.inputs_hash(files, {"build-args": "a"}) != images.inputs_hash(files, {"build-args": "b"})
    before = _hash(root)
    (root / "Dockerfile").write_text((root / "Dockerfile").read_text() + "LABEL x=y\n")
    assert _hash(root) != before


def test_bytecode_is_never_a_build_input() -> None:
    assert images.is_build_input(PurePosixPath("operator/main.py"))
    assert not images.is_build_input(PurePosixPath("operator/__pycache__/main.cpython-311.pyc"))
    assert not images.is_build_input(PurePosixPath("cli/stale.pyc"))


def test_the_sources_are_read_from_the_projects_own_dockerfile() -> None:
    sources = images.copied_sources((ROOT / "Dockerfile").read_text())
    expected = ["constraints.txt", "pyproject.toml", "setup.py", "README.md", "operator", "workloads", "cli"]
    assert sources == [*expected, "devcluster"]


def test_copy_instructions_in_json_form_and_with_flags_are_understood() -> None:
    text = 'COPY --chown=1:1 ["a.txt", "b/", "/dst/"]\nADD c \\\n  d /x\nCOPY --from=build /opt /opt\n'
    assert images.copied_sources(text) == ["a.txt", "b", "c", "d"]


def test_the_build_mounts_the_host_ca_bundle_read_only_and_passes_the_base_by_digest() -> None:
    arguments = images.build_args(BASE)
    assert arguments == {"PYTHON_IMAGE": "127.0.0.1:5000/fabrikam/python-base", "PYTHON_DIGEST": DIGEST}
    command = images.bud_command(ROOT, "workloads", "127.0.0.1:5000/fabrikam/drone-delivery:inputs-1", arguments)
    assert command[:2] == ["buildah", "bud"]
    assert "--volume=/etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro" in command
    assert "--build-arg=PYTHON_IMAGE=127.0.0.1:5000/fabrikam/python-base" in command
    assert f"--build-arg=PYTHON_DIGEST={DIGEST}" in command
    assert "--target=workloads" in command
    assert f"--file={ROOT / 'Dockerfile'}" in command
    assert "--network=host" in command  # never buildah's default CNI bridge
    assert command[-1] == str(ROOT)


def test_a_base_that_is_not_referenced_by_digest_is_refused() -> None:
    with pytest.raises(ValueError, match="by digest"):
        images.build_args("127.0.0.1:5000/fabrikam/python-base:latest")


def test_references_are_registry_repository_and_digest() -> None:
    reference = registry.image_reference("127.0.0.1:5000", "fabrikam/operator", DIGEST)
    assert reference == f"127.0.0.1:5000/fabrikam/operator@{DIGEST}"
    assert images.split_reference(reference) == ("127.0.0.1:5000/fabrikam/operator", DIGEST)
    with pytest.raises(ValueError, match="digest"):
        registry.image_reference("127.0.0.1:5000", "fabrikam/operator", "sha256:short")


def test_the_repositories_match_the_dockerfile_header() -> None:
    header = (ROOT / "Dockerfile").read_text()
    for target, repository in images.TARGETS.items():
        assert re.search(rf"--target {target}\s+-t {re.escape(repository)}:", header)
    assert list(images.TARGETS) == ["operator", "workloads"]  # the order `make image` prints them in


def test_the_push_records_the_digest_and_talks_plain_http_to_loopback(tmp_path: Path) -> None:
    command = images.push_command("local:tag", "127.0.0.1:5000/fabrikam/pause:inputs-1", tmp_path / "d")
    assert command == [
        "buildah",
        "push",
        "--tls-verify=false",
        f"--digestfile={tmp_path / 'd'}",
        "local:tag",
        "docker://127.0.0.1:5000/fabrikam/pause:inputs-1",
    ]


def test_mmdebstrap_uses_the_hosts_mirror_and_apt_settings() -> None:
    dump = 'Acquire "";\nAcquire::Check-Valid-Until "false";\nAcquire::Languages "none";\nAPT::Sandbox::User "_apt";\n'
    aptopts = images.mirror_aptopts(dump)
    assert aptopts == ['Acquire::Check-Valid-Until "false";']
    sources = Path("/etc/apt/sources.list.d/debian.sources")
    command = images.mmdebstrap_command(Path("/tmp/base.tar"), images.BASE_PACKAGES, sources, aptopts)
    assert command[0] == "mmdebstrap"
    assert "--variant=minbase" in command
    assert "--include=python3,python3-venv,python-is-python3,ca-certificates" in command
    assert '--aptopt=Acquire::Check-Valid-Until "false";' in command
    assert command[-3:] == ["bookworm", "/tmp/base.tar", str(sources)]
    assert images.mmdebstrap_command(Path("/tmp/base.tar"), ["x"], None, [])[-2:] == ["bookworm", "/tmp/base.tar"]


def test_mmdebstrap_installs_an_images_packages_and_runs_its_hooks_after_the_hosts_traces_are_removed() -> None:
    command = images.mmdebstrap_command(Path("/r.tar"), ["postgresql-15"], None, [], ['rm -rf "$1/etc/postgresql"'])
    assert "--include=postgresql-15" in command
    hooks = [argument.removeprefix("--customize-hook=") for argument in command if "--customize-hook=" in argument]
    assert hooks == [images.BASE_CUSTOMIZE_HOOK, 'rm -rf "$1/etc/postgresql"']
    assert any(argument.startswith("--dpkgopt=path-exclude=/usr/share/doc") for argument in command)


def test_an_images_user_is_made_numeric_from_its_own_passwd() -> None:
    passwd = "root:x:0:0:root:/root:/bin/bash\nredis:x:100:101::/var/lib/redis:/usr/sbin/nologin\n"
    assert images.numeric_user("redis", passwd) == "100:101"
    assert images.numeric_user("65534:65534", passwd) == "65534:65534"
    assert images.numeric_user("", passwd) == ""
    with pytest.raises(images.ImageError, match="postgres"):
        images.numeric_user("postgres", passwd)


def test_a_debian_images_settings_become_its_buildah_configuration() -> None:
    assert images.debian_config(images.PYTHON_BASE, "") == [
        f"--env=PATH={images.BASE_ENV['PATH']}",
        "--env=LANG=C.UTF-8",
        '--cmd=["python3"]',
    ]
    redis = images.DebianImage("fabrikam/redis", ("redis-server",), entrypoint=("redis-server",), workdir="/data")
    assert images.debian_config(redis, "100:101")[-3:] == [
        '--entrypoint=["redis-server"]',
        "--user=100:101",
        "--workingdir=/data",
    ]


def test_buildah_storage_and_network_configuration_stay_under_the_cache(tmp_path: Path) -> None:
    storage = tomllib.loads(images.storage_conf("overlay", tmp_path))["storage"]
    assert storage == {"driver": "overlay", "graphroot": str(tmp_path / "storage"), "runroot": str(tmp_path / "run")}
    containers = tomllib.loads(images.containers_conf(tmp_path))
    assert containers["containers"]["netns"] == "host"
    assert containers["network"]["network_config_dir"] == str(tmp_path / "cni")


def test_the_registry_listens_on_loopback_only_with_its_storage_in_its_folder(tmp_path: Path) -> None:
    config = yaml.safe_load(registry.config_yaml(tmp_path / "storage", 41234))
    assert config["http"]["addr"] == "127.0.0.1:41234"
    assert config["storage"]["filesystem"]["rootdirectory"] == str(tmp_path / "storage")
    assert "tls" not in config["http"]


def test_the_registry_state_is_per_machine_and_can_be_moved(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("FABRIKAM_REGISTRY_DIR", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert registry.registry_dir() == tmp_path / "state" / "fabrikam" / "registry"
    monkeypatch.setenv("FABRIKAM_REGISTRY_DIR", str(tmp_path / "elsewhere"))
    assert registry.registry_dir() == tmp_path / "elsewhere"


def test_only_build_steps_are_shown_as_progress() -> None:
    assert images.progress_line("[2/3] STEP 7/9: RUN pip install .\n") == "[2/3] STEP 7/9: RUN pip install ."
    assert images.progress_line("STEP 1/4: FROM scratch") == "STEP 1/4: FROM scratch"
    assert images.progress_line("Collecting kopf==1.45.2") is None


def test_what_the_dockerfile_trims_from_the_venv_is_imported_nowhere_in_the_project() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "rm -rf kubernetes/aio" in dockerfile
    assert "pip uninstall --yes pip setuptools" in dockerfile
    trimmed = re.compile(r"^\s*(from|import)\s+(kubernetes\.aio|kubernetes import aio|pkg_resources|setuptools|pip)\b")
    for folder in ("operator", "workloads", "cli", "devcluster"):
        for source in (ROOT / folder).rglob("*.py"):
            for line in source.read_text().splitlines():
                assert not trimmed.match(line), f"{source}: {line} (the image no longer has it)"


def test_the_build_context_is_laid_out_from_exactly_the_hashed_files(tmp_path: Path) -> None:
    (tmp_path / "checkout").mkdir()
    root = _checkout(tmp_path / "checkout")
    (root / "operator" / "run.sh").write_text("#!/bin/sh\n")
    (root / "operator" / "run.sh").chmod(0o755)
    inputs = images.context_inputs(root)
    images.write_inputs(inputs, tmp_path / "snapshot")
    assert images.context_inputs(tmp_path / "snapshot") == inputs
    assert not (tmp_path / "snapshot" / "operator" / "__pycache__").exists()
    assert not (tmp_path / "snapshot" / "notes.txt").exists()


def test_only_older_local_builds_of_the_targets_are_pruned() -> None:
    address = "127.0.0.1:5000"
    listing = [
        {
            "id": "current",
            "names": [f"{address}/fabrikam/operator:inputs-new", f"{address}/fabrikam/operator@{DIGEST}"],
        },
        {"id": "old-operator", "names": [f"{address}/fabrikam/operator:inputs-old"]},
        {"id": "old-pushed", "names": [f"{address}/fabrikam/drone-delivery@{DIGEST}"]},
        {"id": "base", "names": [f"{address}/fabrikam/python-base:inputs-old"]},
        {"id": "pause", "names": [f"{address}/fabrikam/pause@{DIGEST}"]},
        {"id": "elsewhere", "names": ["127.0.0.1:6000/fabrikam/operator:inputs-old"]},
        {"id": "intermediate", "names": None},
    ]
    assert images.stale_images(json.dumps(listing), address, "inputs-new") == ["old-operator", "old-pushed"]
