"""Local processes for `fabrikam services up`, the integration tests and the benchmarks.

Real servers only: redis-server with an fsync-always append-only file (an accepted message survives a
restart), FerretDB on SQLite as the MongoDB-wire server, and each workload as its own process.
"""

import contextlib
import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

SERVICE_ORDER = ("package", "scheduler", "delivery", "workflow", "ingestion")
ALL_SERVICES = ("account", *SERVICE_ORDER, "drone-telemetry", "notification")
DEMO_SECRET = "demo-secret"
FERRETDB_VERSION = "v1.24.2"
FERRETDB_MODULE = "github.com/FerretDB/FerretDB"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `check` until it holds; raise naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if check():
                return
        time.sleep(0.05)
    raise TimeoutError(f"{what} not ready after {timeout:.0f}s")


def _port_open(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True


@dataclass
class Process:
    """A child process with its log file; `stop` is graceful first (SIGTERM), forceful after a grace."""

    name: str
    command: list[str]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                self.command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env},
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def kill(self) -> None:
        """SIGKILL: the crash the tests inflict."""
        if self.popen and self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(10)

    def stop(self, grace: float = 15.0) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(grace)
        except subprocess.TimeoutExpired:
            self.kill()


class RedisServer:
    """redis-server on a free port, persisting every write before answering it."""

    def __init__(self, directory: Path, port: int | None = None) -> None:
        self.directory = directory
        self.port = port or free_port()
        directory.mkdir(parents=True, exist_ok=True)
        self.process = Process(
            "redis",
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(directory),
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
                "--protected-mode",
                "no",
            ],
            directory / "redis.log",
        )

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 30.0) -> None:
        self.process.start()
        wait_for(lambda: _port_open(self.port), timeout, "redis-server")

    def stop(self) -> None:
        self.process.stop()


def ferretdb_binary() -> Path:
    configured = os.environ.get("FABRIKAM_FERRETDB")
    return Path(configured) if configured else Path.home() / ".cache/fabrikam/ferretdb/ferretdb"


def build_ferretdb() -> Path:
    """Build FerretDB from the Go module proxy once per machine (its module lacks the version file)."""
    binary = ferretdb_binary()
    if binary.exists():
        return binary
    go = shutil.which("go") or "/usr/local/go/bin/go"
    module = f"{FERRETDB_MODULE}@{FERRETDB_VERSION}"
    subprocess.run([go, "mod", "download", module], check=True, capture_output=True)
    listed = subprocess.run([go, "mod", "download", "-json", module], check=True, capture_output=True, text=True).stdout
    source = Path(json.loads(listed)["Dir"])
    work = binary.parent / "src"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(source, work)
    for path in work.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    (work / "build/version/version.txt").write_text(FERRETDB_VERSION + "\n")
    subprocess.run([go, "build", "-buildvcs=false", "-o", str(binary), "./cmd/ferretdb"], cwd=work, check=True)
    shutil.rmtree(work, ignore_errors=True)
    return binary


class FerretDB:
    """FerretDB v1 on SQLite: a real MongoDB-wire server with no database server to install."""

    def __init__(self, directory: Path, port: int | None = None) -> None:
        self.directory = directory
        self.port = port or free_port()
        (directory / "data").mkdir(parents=True, exist_ok=True)
        self.process = Process(
            "ferretdb",
            [
                str(ferretdb_binary()),
                "--handler=sqlite",
                f"--sqlite-url=file:{directory / 'data'}/",
                f"--listen-addr=127.0.0.1:{self.port}",
                f"--state-dir={directory}",
                "--telemetry=disable",
                "--log-level=WARN",
                f"--debug-addr=127.0.0.1:{free_port()}",
            ],
            directory / "ferretdb.log",
        )

    @property
    def url(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    def start(self, timeout: float = 30.0) -> None:
        build_ferretdb()
        self.process.start()
        wait_for(lambda: _port_open(self.port), timeout, "FerretDB")

    def stop(self) -> None:
        self.process.stop()


class MailSink:
    """aiosmtpd as the local SMTP server: every email the notification service sends lands in a Maildir.

    aiosmtpd is a development dependency; without it the stack runs with no SMTP server and notifications
    are retried, then dead-lettered, while deliveries go on."""

    def __init__(self, directory: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.maildir = directory / "maildir"
        self.process = Process(
            "mail",
            [
                sys.executable,
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                f"127.0.0.1:{self.port}",
                "-c",
                "aiosmtpd.handlers.Mailbox",
                str(self.maildir),
            ],
            directory / "mail.log",
        )

    @staticmethod
    def available() -> bool:
        return importlib.util.find_spec("aiosmtpd") is not None

    def start(self, timeout: float = 30.0) -> None:
        self.maildir.parent.mkdir(parents=True, exist_ok=True)
        self.process.start()
        wait_for(lambda: _port_open(self.port), timeout, "aiosmtpd")

    def stop(self) -> None:
        self.process.stop()


class Service:
    """One workload as `python -m fabrikam.workloads.entrypoint <name>` on a free port."""

    def __init__(self, name: str, directory: Path, env: dict[str, str], port: int | None = None) -> None:
        self.name = name
        self.port = port or free_port()
        self.process = Process(
            name,
            [sys.executable, "-m", "fabrikam.workloads.entrypoint", name],
            directory / f"{name}.log",
            {**env, "FABRIKAM_PORT": str(self.port), "PYTHONSAFEPATH": "1"},
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process.start()

    def wait_ready(self, timeout: float = 60.0) -> None:
        def ready() -> bool:
            if self.process.popen and self.process.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited; see {self.process.log_path}")
            return httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if ready():
                    return
            except RuntimeError:
                raise
            except Exception:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{self.name} not ready after {timeout:.0f}s; see {self.process.log_path}")

    def restart(self) -> None:
        self.process.stop()
        self.start()
        self.wait_ready()


class Stack:
    """Redis, FerretDB, an SMTP sink and the services, wired together through env.

    `auth` turns bearer-token checks on everywhere, with the account service as the issuer (it must be among
    `services`); `fabrikam services up` runs all eight that way.
    """

    def __init__(
        self,
        directory: Path,
        extra_env: dict[str, str] | None = None,
        services: Sequence[str] = SERVICE_ORDER,
        auth: bool = False,
    ) -> None:
        self.directory = directory
        self.redis = RedisServer(directory / "redis")
        self.mongo = FerretDB(directory / "ferretdb")
        self.mail = MailSink(directory / "mail") if "notification" in services and MailSink.available() else None
        ports = {name: free_port() for name in services}
        keys = directory / "keys"
        self.webhook_secret = secrets.token_hex(16)
        self.env = {
            "FABRIKAM_REDIS_URL": self.redis.url,
            "FABRIKAM_MONGO_URL": self.mongo.url,
            "FABRIKAM_LOG_LEVEL": "WARNING",
            "FABRIKAM_DATABASE_URL": f"sqlite+aiosqlite:///{directory / 'account' / 'account.db'}",
            "FABRIKAM_ACCOUNT_KEY_DIR": str(keys),
            "FABRIKAM_PII_KEY_FILE": str(keys / "pii.key"),
            "FABRIKAM_DEMO_CLIENT_SECRET": DEMO_SECRET,
            "FABRIKAM_PAYMENTS_WEBHOOK_SECRET": self.webhook_secret,
            # The fleet simulator's speed-up flies drones faster than any real one.
            "FABRIKAM_TELEMETRY_MAX_SPEED_MPS": "5000",
            **({"FABRIKAM_SMTP_PORT": str(self.mail.port)} if self.mail else {}),
            **({"FABRIKAM_AUTH_ISSUER": f"http://127.0.0.1:{ports['account']}"} if auth else {}),
            **(extra_env or {}),
        }
        self.services = {name: Service(name, directory / "logs", self.env, port=ports[name]) for name in services}

    def start(self) -> None:
        self.redis.start()
        self.mongo.start()
        if self.mail:
            self.mail.start()
        for service in self.services.values():
            service.start()
        for service in self.services.values():
            service.wait_ready()

    def stop(self) -> None:
        for service in reversed(self.services.values()):
            service.process.stop()
        if self.mail:
            self.mail.stop()
        self.mongo.stop()
        self.redis.stop()

    def urls(self) -> dict[str, str]:
        return {name: service.url for name, service in self.services.items()}

    def pids(self) -> dict[str, int]:
        processes = [self.redis.process, self.mongo.process, *(s.process for s in self.services.values())]
        if self.mail:
            processes.append(self.mail.process)
        return {process.name: process.pid for process in processes}


def token(account_url: str, client_id: str = "demo-business", secret: str = DEMO_SECRET) -> str:
    """A bearer token from the account service's local issuer (client credentials)."""
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    response = httpx.post(f"{account_url}/oauth2/token", data=form, timeout=10)
    response.raise_for_status()
    return str(response.json()["access_token"])


def seed_fleet(
    scheduler_url: str,
    count: int,
    latitude: float = 47.6062,
    longitude: float = -122.3321,
    bearer: str | None = None,
) -> None:
    """Register `count` drones spread over a few kilometres around a centre, all sizes, full batteries."""
    sizes = ("small", "medium", "large")
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    with httpx.Client(base_url=scheduler_url, timeout=10, headers=headers) as client:
        for index in range(count):
            body = {
                "latitude": latitude + (index % 20) * 0.002,
                "longitude": longitude + (index // 20) * 0.002,
                "battery": 100,
                "payloadClass": sizes[index % 3] if index % 2 else "large",
                "speedMps": 15,
            }
            client.put(f"/v1/drones/drone-{index:04d}", json=body).raise_for_status()
