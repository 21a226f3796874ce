"""Instructions per ingestion request: the figure that survives a change of machine (issue #20).

CPU time per request moved 3x between two machines of the same kind, and by half on this one from day to day, so it
cannot tell a regression from a slower host. The work itself can: valgrind's callgrind counts the user-space
instructions a process runs, which do not depend on the machine's speed (they move by a few percent with how many
requests one turn of the event loop serves; two checkouts counted in one run compare within a percent). This
benchmark counts them for a bare uvicorn endpoint (the floor) and for the ingestion service, then measures natively
the user and system CPU time per request, alone and beside a busy neighbour process, so that the time splits into
the work (instructions) and the machine's speed at it (ns of user CPU per instruction).

Optional: FABRIKAM_BENCH_SOURCE=<a checkout of this repository> counts that checkout's ingestion too (the same
interpreter and libraries), to price a change exactly, e.g. `git worktree add /tmp/before <commit>`.
`hack/bench.sh workloads_instructions`; about 3 minutes (the services run about 50x slower under callgrind).
"""

import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from fabrikam.devcluster.http_load import closed_loop
from fabrikam.devcluster.localstack import RedisServer, free_port
from fabrikam.devcluster.machine_reference import BARE_APP, cpu_model, process_cpu_split, python_loop_ms, syscall_us

COUNTED_REQUESTS = 500
NATIVE_REQUESTS = 20_000
CONNECTIONS = 16
# Natively, each server is measured alone and then beside a neighbour process on the other core: one that only
# spins (it competes for nothing but the core's sibling resources), one that streams memory through the caches (as a
# busy neighbour VM on the same host does). The work is the same; how fast it runs is the machine's.
NEIGHBOURS: dict[str, list[str] | None] = {
    "alone": None,
    "+ spinning": [sys.executable, "-c", "while True: pass"],
    "+ streaming": [sys.executable, "-c", "block = bytearray(64 << 20)\nwhile True: bytes(block)"],
}
FAST_ENV = {"FABRIKAM_RATE_LIMIT_PER_SECOND": "1000000", "FABRIKAM_RATE_LIMIT_BURST": "1000000"}


@dataclass(frozen=True)
class Server:
    """How to start one HTTP server under test: its command and environment."""

    label: str
    command: list[str]
    env: dict[str, str]


def ingestion(redis_url: str, port: int, source: Path | None = None) -> Server:
    """The ingestion service; from `source` when given (a directory holding `fabrikam/workloads`)."""
    env = {**FAST_ENV, "FABRIKAM_REDIS_URL": redis_url, "FABRIKAM_PORT": str(port), "PYTHONSAFEPATH": "1"}
    if source is not None:
        env["PYTHONPATH"] = str(source)
    label = "ingestion" if source is None else f"ingestion from {source}"
    return Server(label, [sys.executable, "-m", "fabrikam.workloads.entrypoint", "ingestion"], env)


def bare(directory: Path, port: int) -> Server:
    (directory / "bare_app.py").write_text(BARE_APP)
    command = [sys.executable, "-m", "uvicorn", "bare_app:app", "--app-dir", str(directory), "--port", str(port),
               "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"]  # fmt: skip
    return Server("bare endpoint", command, {})


def wait_ready(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited: {log.read_text()[-2000:]}")
        try:
            httpx.post(f"http://127.0.0.1:{port}/v1/deliveryrequests", content=b"{}", timeout=10)
            return
        except httpx.TransportError:
            time.sleep(0.5)
    raise TimeoutError(f"not listening on {port}")


def instructions_per_request(server: Server, port: int, directory: Path) -> float:
    """Warm the server up under callgrind, zero its counters, serve COUNTED_REQUESTS, dump: Ir / request."""
    out = directory / f"callgrind-{port}.out"
    log = directory / f"callgrind-{port}.log"
    command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *server.command]
    with log.open("wb") as sink:
        process = subprocess.Popen(command, env={**os.environ, **server.env}, stdout=sink, stderr=subprocess.STDOUT)
    try:
        wait_ready(process, port, log)
        asyncio.run(closed_loop(port, 300, CONNECTIONS))
        subprocess.run(["callgrind_control", "--zero", str(process.pid)], check=True, capture_output=True)
        _, _, statuses = asyncio.run(closed_loop(port, COUNTED_REQUESTS, CONNECTIONS))
        subprocess.run(["callgrind_control", "--dump", str(process.pid)], check=True, capture_output=True)
        if set(statuses) != {202}:
            raise RuntimeError(f"{server.label} answered {set(statuses)}")
    finally:
        process.terminate()
        process.wait(60)
    dumps = sorted(directory.glob(f"callgrind-{port}.out.*"))
    summary = next(line for line in dumps[0].read_text().splitlines() if line.startswith("summary:"))
    return int(summary.split()[1]) / COUNTED_REQUESTS


def native_cpu_per_request(server: Server, port: int, directory: Path) -> tuple[float, float, float]:
    """(req/s, user ms, system ms) per request, natively, at full load."""
    log = directory / f"native-{port}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            server.command, env={**os.environ, **server.env}, stdout=sink, stderr=subprocess.STDOUT
        )
    try:
        wait_ready(process, port, log)
        asyncio.run(closed_loop(port, 2_000, CONNECTIONS))
        user, system = process_cpu_split(process.pid)
        seconds, _, _ = asyncio.run(closed_loop(port, NATIVE_REQUESTS, CONNECTIONS))
        user_after, system_after = process_cpu_split(process.pid)
    finally:
        process.terminate()
        process.wait(60)
    per = 1000 / NATIVE_REQUESTS
    return NATIVE_REQUESTS / seconds, (user_after - user) * per, (system_after - system) * per


@contextlib.contextmanager
def running(command: list[str] | None) -> Iterator[None]:
    """A neighbour process for the duration of a measurement (None: none)."""
    process = subprocess.Popen(command) if command else None
    try:
        yield
    finally:
        if process is not None:
            process.kill()
            process.wait()


def main() -> None:
    print(f"{cpu_model()}, {os.cpu_count()} cores; load average before: {os.getloadavg()[0]:.2f}")
    print(
        f"core speed: {python_loop_ms():.1f} ms CPU for the fixed pure-Python loop, {syscall_us():.2f} µs per syscall"
    )
    source = os.environ.get("FABRIKAM_BENCH_SOURCE")
    with tempfile.TemporaryDirectory(prefix="bench-instructions-") as scratch:
        directory = Path(scratch)
        redis_server = RedisServer(directory / "redis")
        redis_server.start()
        try:
            servers = [lambda port: bare(directory, port), lambda port: ingestion(redis_server.url, port)]
            if source:
                checkout = Path(source).resolve()
                shim = directory / "source" / "fabrikam"
                shim.mkdir(parents=True)
                (shim / "__init__.py").write_text("")
                (shim / "workloads").symlink_to(checkout / "workloads")
                servers.append(lambda port: ingestion(redis_server.url, port, shim.parent))
            floor: float | None = None
            for make in servers:
                port = free_port()
                server = make(port)
                counted = instructions_per_request(server, port, directory)
                floor = floor or counted
                print(f"{server.label}:")
                print(
                    f"  instructions    {counted / 1e6:.3f} M per request (user space), "
                    f"{counted / floor:.1f}x the bare endpoint"
                )
                for neighbour, command in NEIGHBOURS.items():
                    native_port = free_port()
                    with running(command):
                        rps, user_ms, system_ms = native_cpu_per_request(make(native_port), native_port, directory)
                    print(
                        f"  {neighbour:<15} {rps:6,.0f} req/s, {user_ms:.3f} ms user + {system_ms:.3f} ms system "
                        f"CPU per request = {user_ms * 1e6 / counted:.3f} ns of user CPU per instruction"
                    )
        finally:
            redis_server.stop()
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
