"""Background processes of the control plane: free ports, one session each, stop without leftovers."""

import contextlib
import os
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


def free_port() -> int:
    """A port the kernel just handed out on loopback; never a fixed one, so clusters and services coexist."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class ManagedProcess:
    name: str
    pid: int
    binary: str
    log: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "ManagedProcess":
        return cls(name=data["name"], pid=data["pid"], binary=data["binary"], log=data["log"])

    def alive(self) -> bool:
        """True only while the pid still runs our binary (a recycled pid is not ours)."""
        try:
            arguments = Path(f"/proc/{self.pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
            state = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError, IndexError):
            return False
        # A script runs as `python script ...`: the binary is then the second argument.
        return self.binary in arguments[:2] and state != "Z"


def start(
    name: str, command: list[str], log_dir: Path, env: dict[str, str] | None = None, binary: str | None = None
) -> ManagedProcess:
    """Starts a component in its own session and process group, detached from the caller's terminal.

    `binary`: what the process finally runs when the command execs through wrappers (nsenter, unshare)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{name}.log"
    with open(log, "ab") as output:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
    return ManagedProcess(name=name, pid=process.pid, binary=binary or command[0], log=str(log))


def stop(process: ManagedProcess, grace_seconds: float = 10.0) -> None:
    """SIGTERM to the process group, SIGKILL after the grace period; returns once nothing of it is left."""
    if not process.alive():
        _reap(process.pid)
        return
    for sig, wait in ((signal.SIGTERM, grace_seconds), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            _reap(process.pid)
            if not process.alive() and not _group_members(process.pid):
                return
            time.sleep(0.1)


def _reap(pid: int) -> None:
    """Collects the exit status when the process is our own child (started by this same Python process)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def processes_using(directory: Path) -> list[int]:
    """Pids whose command line mentions the directory: the check that `down` left nothing behind."""
    marker = str(directory).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return found
