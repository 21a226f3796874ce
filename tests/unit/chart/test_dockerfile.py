"""The Dockerfile, read with BuildKit's own parser (the `dockerfile` package), against the rules the images keep."""

import re
import tomllib
from pathlib import Path

import dockerfile
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from fabrikam.operator.render.workload import RUN_AS

ROOT = Path(__file__).resolve().parents[3]
COMMANDS = dockerfile.parse_file(str(ROOT / "Dockerfile"))
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
TARGETS = {"operator": ["fabrikam", "operator", "run"], "workloads": ["fabrikam-svc"]}
FINAL_STAGES = ("runtime", "operator", "workloads")
COMPILERS = re.compile(r"\b(gcc|g\+\+|cc|clang|make|build-essential|rustc|cargo|go)\b")
REQUIRED_LABELS = {
    "org.opencontainers.image.version",
    "org.opencontainers.image.revision",
    "org.opencontainers.image.created",
    "org.opencontainers.image.source",
    "org.opencontainers.image.licenses",
    "org.opencontainers.image.base.name",
    "org.opencontainers.image.base.digest",
}


def _global_args() -> dict[str, str]:
    args = {}
    for command in COMMANDS:
        if command.cmd == "FROM":
            break
        name, _, default = command.value[0].partition("=")
        args[name] = default
    return args


def _stages() -> dict[str, list[dockerfile.Command]]:
    stages: dict[str, list[dockerfile.Command]] = {}
    current: list[dockerfile.Command] | None = None
    for command in COMMANDS:
        if command.cmd == "FROM":
            assert [word.upper() for word in command.value[1:2]] == ["AS"], f"unnamed stage: {command.original}"
            current = stages.setdefault(command.value[2], [command])
        elif current is not None:
            current.append(command)
    return stages


STAGES = _stages()


def _parent(stage: str) -> str | None:
    base = STAGES[stage][0].value[0]
    return base if base in STAGES else None


def _lineage(stage: str) -> list[str]:
    chain = [stage]
    while (parent := _parent(chain[-1])) is not None:
        chain.append(parent)
    return chain


def _pairs(command: dockerfile.Command) -> dict[str, str]:
    values = command.value
    return {values[i]: values[i + 1].strip('"') for i in range(0, len(values), 2)}


def _instructions(stage: str, cmd: str) -> list[dockerfile.Command]:
    return [c for stage_ in _lineage(stage) for c in STAGES[stage_] if c.cmd == cmd]


def test_the_targets_exist_and_the_operator_is_the_default_build() -> None:
    assert set(STAGES) == {"build", *FINAL_STAGES}
    assert list(STAGES)[-1] == "operator"
    assert _lineage("operator") == ["operator", "runtime"]
    assert _lineage("workloads") == ["workloads", "runtime"]


def test_every_base_image_is_pinned_by_exact_tag_and_digest_build_arguments() -> None:
    args = _global_args()
    assert re.fullmatch(r"docker\.io/library/python:3\.11\.\d+-slim-bookworm", args["PYTHON_IMAGE"])
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", args["PYTHON_DIGEST"])
    external = [stage[0].value[0] for name, stage in STAGES.items() if _parent(name) is None]
    assert external
    assert set(external) == {"${PYTHON_IMAGE}@${PYTHON_DIGEST}"}


def test_the_python_of_the_image_is_one_the_project_supports() -> None:
    minor = re.search(r"python:(3\.\d+)", _global_args()["PYTHON_IMAGE"]).group(1)  # type: ignore[union-attr]
    assert PYPROJECT["project"]["requires-python"] == ">=3.11,<3.14"
    assert minor in {"3.11", "3.12", "3.13"}


def test_dependencies_are_installed_from_the_constraints_as_wheels_only() -> None:
    installs = [c for c in STAGES["build"] if c.cmd == "RUN" and "pip install" in c.value[0]]
    assert len(installs) == 1
    assert "--constraint constraints.txt" in installs[0].value[0]
    assert "--only-binary=:all:" in installs[0].value[0]
    copied = {source for c in STAGES["build"] if c.cmd == "COPY" for source in c.value[:-1]}
    assert {"constraints.txt", "pyproject.toml", "setup.py", "README.md"} <= copied
    # setup.py maps these folders under the `fabrikam` import root; each must reach the build.
    assert {"operator", "workloads", "cli", "devcluster"} <= copied


def test_the_constraints_pin_every_declared_dependency_within_its_range() -> None:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = version
    declared = [*PYPROJECT["project"]["dependencies"], *PYPROJECT["project"]["optional-dependencies"]["dev"]]
    for line in declared:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is not in constraints.txt: run .venv/bin/python hack/constraints.py"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"constraints.txt pins {name}=={pins[name]} outside {requirement}: run hack/constraints.py"
        )


@pytest.mark.parametrize("stage", FINAL_STAGES)
def test_the_final_stages_run_nothing_so_no_compiler_or_package_can_enter(stage: str) -> None:
    assert [c.original for c in STAGES[stage] if c.cmd in {"RUN", "ADD", "ONBUILD"}] == []
    for copy in (c for c in STAGES[stage] if c.cmd == "COPY"):
        assert (copy.flags, copy.value) == (("--from=build",), ("/opt/fabrikam", "/opt/fabrikam")), copy.original
    assert not any(COMPILERS.search(c.original) for c in STAGES[stage] if c.cmd != "LABEL")


@pytest.mark.parametrize("target", TARGETS)
def test_the_images_run_as_the_numeric_non_root_user_the_operator_renders(target: str) -> None:
    users = _instructions(target, "USER")
    assert len(users) == 1
    assert users[0].value[0] == f"{RUN_AS}:{RUN_AS}"
    assert RUN_AS > 0


@pytest.mark.parametrize("target", TARGETS)
def test_the_images_are_read_only_root_filesystem_friendly(target: str) -> None:
    env = {k: v for c in _instructions(target, "ENV") for k, v in _pairs(c).items()}
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["PYTHONSAFEPATH"] == "1"  # the `operator` package folder must never shadow the standard library
    assert env["HOME"] == "/tmp"
    assert env["TMPDIR"] == "/tmp"
    assert env["PATH"].startswith("/opt/fabrikam/bin:")
    assert [c.value[0] for c in _instructions(target, "WORKDIR")] == ["/tmp"]
    assert not _instructions(target, "VOLUME")  # the chart mounts an emptyDir at /tmp; nothing else is written


@pytest.mark.parametrize("target", TARGETS)
def test_the_images_carry_oci_labels(target: str) -> None:
    labels = {k: v for c in _instructions(target, "LABEL") for k, v in _pairs(c).items()}
    assert labels.keys() >= REQUIRED_LABELS
    own = {k for c in STAGES[target] if c.cmd == "LABEL" for k in _pairs(c)}
    assert {"org.opencontainers.image.title", "org.opencontainers.image.description"} <= own


@pytest.mark.parametrize(("target", "entrypoint"), TARGETS.items())
def test_the_entrypoints_are_exec_form_and_name_installed_scripts(target: str, entrypoint: list[str]) -> None:
    [command] = [c for c in STAGES[target] if c.cmd == "ENTRYPOINT"]
    assert command.json, "shell-form ENTRYPOINT would run under /bin/sh and swallow SIGTERM"
    assert list(command.value) == entrypoint
    assert entrypoint[0] in PYPROJECT["project"]["scripts"]
    assert not [c for s in _lineage(target) for c in STAGES[s] if c.cmd == "CMD"]


@pytest.mark.parametrize("stage", list(STAGES))
def test_every_variable_a_stage_uses_is_declared_in_it(stage: str) -> None:
    """BuildKit's UndefinedVar rule: ARGs before the first FROM are visible to FROM lines only."""
    declared: set[str] = set()
    for s in reversed(_lineage(stage)):
        for command in STAGES[s][1:]:
            used = set(re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", " ".join(command.value)))
            if command.cmd not in {"RUN"}:
                assert used - declared - {"PATH"} == set(), f"{stage}: {command.original} uses undeclared {used}"
            if command.cmd == "ARG":
                declared.add(command.value[0].partition("=")[0])
            if command.cmd == "ENV":
                declared |= set(_pairs(command))


def test_the_build_context_holds_only_what_the_dockerfile_copies() -> None:
    ignore = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line and line[0] != "#"]
    assert ignore[0] == "*", "the context must start from nothing and allow what is copied"
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    copied = {source.rstrip("/") for c in COMMANDS if c.cmd == "COPY" and not c.flags for source in c.value[:-1]}
    assert allowed == copied
    for source in copied:
        assert (ROOT / source).exists(), source
