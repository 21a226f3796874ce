"""Faults put into a pod of the real nodes from the host, as a network partition would hit it: their containers are
processes of this machine, so the host enters a pod's network namespace and refuses its connections to a port.
Nothing in the cluster sees the fault but the pod's own calls (the kubelet's probes still reach it), and it ends when
the rule is removed or the pod goes with its namespace.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path

_PROC = Path("/proc")


class PodNotFound(RuntimeError):
    pass


def pod_process(pod_uid: str) -> int:
    """A process of the pod: the kubelet puts each pod's containers in a cgroup named after the pod's UID (with
    underscores under the systemd cgroup driver, dashes under cgroupfs)."""
    marks = (f"pod{pod_uid}", f"pod{pod_uid.replace('-', '_')}")
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cgroup = (entry / "cgroup").read_text()
        except OSError:  # gone meanwhile, or a kernel thread
            continue
        if any(mark in cgroup for mark in marks):
            return int(entry.name)
    raise PodNotFound(f"no process of pod {pod_uid} on this machine (is it on a real node, and running?)")


def _refusal(port: int) -> list[str]:
    # An RST at once, on new and established connections alike: the pod's clients fail fast, as against a store
    # that is gone, rather than hanging until their timeouts.
    return ["OUTPUT", "-p", "tcp", "--dport", str(port), "-j", "REJECT", "--reject-with", "tcp-reset"]


def _iptables(pid: int, action: str, port: int) -> None:
    command = ["nsenter", f"--net=/proc/{pid}/ns/net", "iptables", action, *_refusal(port)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {result.stderr.strip()}")


@contextlib.contextmanager
def refused(pod_uids: Iterable[str], port: int) -> Iterator[None]:
    """The pods' TCP connections to `port` (any address) refused while inside the block."""
    pids = [pod_process(uid) for uid in pod_uids]
    cut: list[int] = []
    try:
        for pid in pids:
            _iptables(pid, "-I", port)
            cut.append(pid)
        yield
    finally:
        for pid in cut:
            with contextlib.suppress(RuntimeError):  # the pod may have gone, and its rule with it
                _iptables(pid, "-D", port)
