"""The machine's own reference figures, measured in the same run as a benchmark, so that a figure of ours can be read
as a ratio to what this machine does at all: the same benchmark gave 3x different figures on two machines of the same
kind, and only a ratio tells a regression from a slower machine (issue #20).

- CPU model and load average: what the machine is, and how busy it was.
- redis-benchmark SET/s against a redis-server configured as the services' (fsync-always AOF): the store's floor.
- A bare ASGI endpoint under uvicorn (uvloop, httptools: the services' server), driven by the benchmark's own client:
  the HTTP floor, in requests/s and CPU per request.
"""

import asyncio
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path

import httpx
import redis

from fabrikam.devcluster.localstack import Process, RedisServer, free_port

BARE_APP = '''
async def app(scope, receive, send):
    """Answers every request 202 with a small JSON body, after reading it: the floor of one HTTP exchange."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    body = b'{"accepted":true}'
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 202, "headers": headers})
    await send({"type": "http.response.body", "body": body})
'''

Load = Callable[[int, int, int], Coroutine[None, None, tuple[float, list[float], list[int]]]]


@dataclass(frozen=True)
class Reference:
    cpu_model: str
    load_average: float
    redis_set_per_second: float
    bare_requests_per_second: float
    bare_cpu_ms_per_request: float
    python_loop_ms: float
    syscall_us: float

    def print(self) -> None:
        print("machine reference (same run):")
        print(f"  CPU             {self.cpu_model}, {os.cpu_count()} cores, load average {self.load_average:.2f}")
        print(
            f"  redis SET       {self.redis_set_per_second:,.0f} /s (redis-benchmark, 16 connections, AOF fsync always)"
        )
        print(
            f"  bare endpoint   {self.bare_requests_per_second:,.0f} req/s, "
            f"{self.bare_cpu_ms_per_request:.3f} ms CPU per request (uvicorn + uvloop + httptools, same client)"
        )
        print(
            f"  core speed      {self.python_loop_ms:.1f} ms CPU for a fixed pure-Python loop, "
            f"{self.syscall_us:.2f} µs CPU per system call (smaller is faster)"
        )


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def process_cpu_split(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of a process so far (/proc): the cost of its work, whatever the load."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / ticks, int(fields[12]) / ticks


def process_cpu_seconds(pid: int) -> float:
    return sum(process_cpu_split(pid))


def redis_command_counts(url: str) -> dict[str, int]:
    """Commands a Redis server has run, per command, scripts' inner commands included (INFO commandstats): the
    round trips and the work, whatever the load."""
    client = redis.Redis.from_url(url)
    stats = client.info("commandstats")
    client.close()
    return {name.removeprefix("cmdstat_"): int(fields["calls"]) for name, fields in stats.items()}


def redis_set_per_second(directory: Path, requests: int = 100_000) -> float:
    server = RedisServer(directory / "reference-redis")
    server.start()
    try:
        found = subprocess.run(
            ["redis-benchmark", "-h", "127.0.0.1", "-p", str(server.port), "-t", "set", "-n", str(requests),
             "-c", "16", "-q"],
            capture_output=True, text=True, check=True, timeout=300,
        )  # fmt: skip
    finally:
        server.stop()
    match = re.search(r"SET: ([\d.]+) requests per second", found.stdout.replace("\r", "\n"))
    if match is None:
        raise RuntimeError(f"redis-benchmark said: {found.stdout[-300:]}")
    return float(match.group(1))


def bare_endpoint(directory: Path, load: Load, requests: int, connections: int) -> tuple[float, float]:
    """(requests/s, CPU ms per request) of the bare endpoint with the benchmark's own client."""
    (directory / "bare_app.py").write_text(BARE_APP)
    port = free_port()
    server = Process(
        "bare-endpoint",
        [sys.executable, "-m", "uvicorn", "bare_app:app", "--app-dir", str(directory), "--port", str(port),
         "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"],
        directory / "bare-endpoint.log",
    )  # fmt: skip
    server.start()
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.post(f"http://127.0.0.1:{port}/", content=b"{}", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        asyncio.run(load(port, 1_000, connections))  # warm-up
        before = process_cpu_seconds(server.pid)
        seconds, _, statuses = asyncio.run(load(port, requests, connections))
        cpu_ms = (process_cpu_seconds(server.pid) - before) * 1000 / requests
        if set(statuses) != {202}:
            raise RuntimeError(f"the bare endpoint answered {set(statuses)}")
        return requests / seconds, cpu_ms
    finally:
        server.stop()


def python_loop_ms(rounds: int = 5) -> float:
    """CPU time of a fixed pure-Python workload (dicts, strings, ints: what a request handler does), best of
    `rounds`: the speed of one core for our kind of code, whatever else the machine is doing meanwhile."""

    def workload() -> int:
        total = 0
        for index in range(200_000):
            record: dict[str, str | int] = {"id": index, "name": f"drone-{index}", "battery": index % 100}
            total += len(str(record["name"])) + int(record["battery"])
        return total

    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        workload()
        best = min(best, time.process_time() - started)
    return best * 1000


def syscall_us(calls: int = 200_000, rounds: int = 5) -> float:
    """CPU time of one system call (os.getppid, a syscall with no work in it: the entry and exit alone), best of
    `rounds`. Serving a request takes a dozen (epoll, reads, writes to the client and to Redis), and their cost
    depends on the host: the hypervisor and the CPU's speculative-execution mitigations."""
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(calls):
            os.getppid()
        best = min(best, time.process_time() - started)
    return best * 1e6 / calls


def measure(directory: Path, load: Load, *, requests: int = 20_000, connections: int = 16) -> Reference:
    directory.mkdir(parents=True, exist_ok=True)
    load_average = os.getloadavg()[0]
    rps, cpu_ms = bare_endpoint(directory, load, requests, connections)
    return Reference(
        cpu_model(), load_average, redis_set_per_second(directory), rps, cpu_ms, python_loop_ms(), syscall_us()
    )
