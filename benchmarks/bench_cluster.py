"""Local cluster benchmark: how fast real nodes come up, and what the whole idle cluster costs in CPU.

On a private cluster (FABRIKAM_CLUSTER_DIR in a temporary folder, beside any other), each run:
- `up` with N real nodes, timed to the control plane ready, to every node Ready, and to the add-ons rolled out
  (CoreDNS, metrics-server, kube-network-policies); images come from the local registry's cache (warm);
- idle CPU of the whole cluster over a window: every process of the cluster (control plane, kwok, containerd,
  shims, kubelets, kube-proxies, forwarders) from /proc, plus every container from the nodes' cpuacct cgroups,
  as a percentage of one core;
- `down`, timed, and what it left behind.
Usage: bench_cluster.py [RUNS] [IDLE_SECONDS]   (default 2 runs, 60 s)
"""

import os
import sys
import tempfile
import time
from pathlib import Path

from fabrikam.devcluster import cluster, processes, realnodes
from fabrikam.devcluster.realnode_config import NodeFiles

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _process_cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent not idle (all cores): the cross-check on an otherwise idle machine."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / CLOCK_TICKS


def cluster_cpu_seconds(state: cluster.ClusterState) -> float:
    pids = set(processes.processes_using(state.directory)) | {p.pid for p in state.processes}
    for node in state.nodes():  # containerd's shims name the node's folder only
        pids |= set(processes.processes_using(NodeFiles.of(node).root))
    total = sum(_process_cpu_seconds(pid) for pid in pids)
    for node in state.nodes():
        usage = Path("/sys/fs/cgroup/cpuacct") / node.cgroup_root.lstrip("/") / "cpuacct.usage"
        if usage.exists():
            total += int(usage.read_text()) / 1e9
    return total


def one_run(idle_seconds: float, real_nodes: int) -> dict[str, float]:
    marks: dict[str, float] = {}
    started = time.monotonic()

    def progress(message: str) -> None:
        elapsed = time.monotonic() - started
        if message.startswith("registering") and "control plane" not in marks:
            marks["control plane"] = elapsed
        if "real nodes Ready" in message:
            marks["real nodes Ready"] = elapsed

    state = cluster.up(progress, real_nodes=real_nodes)
    marks["add-ons rolled out"] = time.monotonic() - started
    try:
        time.sleep(10)  # let start-up work settle (first metrics scrape, image GC scan)
        before, machine_before, t0 = cluster_cpu_seconds(state), machine_busy_seconds(), time.monotonic()
        time.sleep(idle_seconds)
        elapsed = time.monotonic() - t0
        marks["idle CPU %"] = 100 * (cluster_cpu_seconds(state) - before) / elapsed
        marks["machine busy %"] = 100 * (machine_busy_seconds() - machine_before) / elapsed
    finally:
        t0 = time.monotonic()
        left = cluster.down(lambda message: None)
        marks["down"] = time.monotonic() - t0
    network = state.network
    if network:
        left += realnodes.leftovers(network, state.nodes(), state.directory)
    marks["left behind"] = len(left)
    return marks


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    idle_seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 60.0
    real_nodes = cluster.default_real_nodes()
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as scratch:
        os.environ["FABRIKAM_CLUSTER_DIR"] = str(Path(scratch) / "cluster")
        results = [one_run(idle_seconds, real_nodes) for _ in range(runs)]
    print(f"\nlocal cluster with {real_nodes} real nodes + 4 simulated, {runs} runs, idle window {idle_seconds:.0f} s")
    print(f"{'':<22}" + "".join(f"{f'run {i + 1}':>10}" for i in range(runs)))
    keys = ("control plane", "real nodes Ready", "add-ons rolled out", "idle CPU %", "machine busy %", "down")
    for key in (*keys, "left behind"):
        print(f"{key:<22}" + "".join(f"{r.get(key, float('nan')):>10.1f}" for r in results))
    print(
        "(seconds from `up`; idle CPU: percent of one core for the whole cluster; machine busy: the same for every"
        " process of the machine, the cross-check; left behind: items)"
    )


if __name__ == "__main__":
    main()
