"""Local processes for `fabrikam services up`, the integration tests and the benchmarks: a development harness,
kept out of the workloads package (the image's services never start servers), beside the control plane's.

Real servers only: redis-server with an fsync-always append-only file (an accepted message survives a
restart), FerretDB on SQLite as the MongoDB-wire server, and each workload as its own process.
"""

import abc
import contextlib
import importlib.util
import json
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from fabrikam.devcluster.processes import free_port as free_port

SERVICE_ORDER = ("package", "scheduler", "delivery", "workflow", "ingestion")
ALL_SERVICES = ("account", *SERVICE_ORDER, "drone-telemetry", "notification")
DEMO_SECRET = "demo-secret"
FERRETDB_VERSION = "v1.24.2"
FERRETDB_MODULE = "github.com/FerretDB/FerretDB"


# A port from free_port() may be taken by another process before ours binds it; a process that exits on that
# is started again on a fresh port, this many times in all.
BIND_ATTEMPTS = 5


def listens(pid: int, port: int) -> bool:
    """Whether process `pid` itself holds the socket listening on `port`: a connection that succeeds may reach
    another process that took the port first (Linux: /proc/net/tcp lists listeners by socket inode)."""
    sockets = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                    sockets.add(f"socket:[{fields[9]}]")
    with contextlib.suppress(OSError):
        for descriptor in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                if os.readlink(descriptor) in sockets:
                    return True
    return False


def as_user(user: str | None) -> dict[str, Any]:
    """subprocess arguments that run a child as `user` with its primary group (nothing for None)."""
    if user is None:
        return {}
    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


@dataclass
class Process:
    """A child process with its log file; `stop` is graceful first (SIGTERM), forceful after a grace."""

    name: str
    command: list[str]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    popen: subprocess.Popen[bytes] | None = None
    log_offset: int = 0
    # Run as this system user (postgres refuses root); None: as the caller.
    user: str | None = None
    stop_signal: signal.Signals = signal.SIGTERM

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.log_offset = log.tell()
            self.popen = subprocess.Popen(
                self.command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env},
                start_new_session=True,
                **as_user(self.user),
            )

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def exited(self) -> bool:
        return self.popen is not None and self.popen.poll() is not None

    def lost_its_port(self) -> bool:
        """Exited because its port was already bound: redis-server, FerretDB, aiosmtpd and uvicorn all say so."""
        if not self.exited():
            return False
        with self.log_path.open("rb") as log:
            log.seek(self.log_offset)
            return b"address already in use" in log.read().lower()

    def kill(self) -> None:
        """SIGKILL: the crash the tests inflict."""
        if self.popen and self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(10)

    def stop(self, grace: float = 15.0) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.send_signal(self.stop_signal)
        try:
            self.popen.wait(grace)
        except subprocess.TimeoutExpired:
            self.kill()


class Server(abc.ABC):
    """A server process on a free port, started again on a fresh port when another process took it first."""

    name: str
    process: Process

    def __init__(self, port: int | None) -> None:
        self.port = port or free_port()

    @abc.abstractmethod
    def command(self) -> Process:
        """The process serving on `self.port`."""

    def start(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        for _ in range(BIND_ATTEMPTS):
            self.process = self.command()
            self.process.start()
            while not self.process.exited():
                if listens(self.process.pid, self.port):
                    return
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{self.name} not listening after {timeout:.0f}s; see {self.process.log_path}")
                time.sleep(0.05)
            if not self.process.lost_its_port():
                raise RuntimeError(f"{self.name} exited; see {self.process.log_path}")
            self.port = free_port()
        raise RuntimeError(f"{self.name} found its port taken {BIND_ATTEMPTS} times; see {self.process.log_path}")

    def stop(self) -> None:
        self.process.stop()


class RedisServer(Server):
    """redis-server on a free port, persisting every write before answering it."""

    name = "redis-server"

    def __init__(self, directory: Path, port: int | None = None) -> None:
        super().__init__(port)
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.process = self.command()

    def command(self) -> Process:
        return Process(
            "redis",
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.directory),
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
                "--protected-mode",
                "no",
            ],
            self.directory / "redis.log",
        )

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


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


class FerretDB(Server):
    """FerretDB v1 on SQLite: a real MongoDB-wire server with no database server to install."""

    name = "FerretDB"

    def __init__(self, directory: Path, port: int | None = None) -> None:
        super().__init__(port)
        self.directory = directory
        (directory / "data").mkdir(parents=True, exist_ok=True)
        self.process = self.command()

    def command(self) -> Process:
        return Process(
            "ferretdb",
            [
                str(ferretdb_binary()),
                "--handler=sqlite",
                f"--sqlite-url=file:{self.directory / 'data'}/",
                f"--listen-addr=127.0.0.1:{self.port}",
                f"--state-dir={self.directory}",
                "--telemetry=disable",
                "--log-level=WARN",
                f"--debug-addr=127.0.0.1:{free_port()}",
            ],
            self.directory / "ferretdb.log",
        )

    @property
    def url(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    def start(self, timeout: float = 30.0) -> None:
        build_ferretdb()
        super().start(timeout)


def postgres_bin() -> Path:
    """Debian's PostgreSQL server binaries, of the newest major version installed."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda path: int(path.parts[-3]))
    if not found:
        raise FileNotFoundError("no /usr/lib/postgresql/*/bin/postgres: install the Debian package postgresql")
    return found[-1].parent


class PostgreSQL(Server):
    """PostgreSQL from Debian's binaries on a free port, with one user who signs in without a password.

    postgres refuses to run as root: then the cluster runs as the `postgres` system user, in a directory of its
    own under the system's temp dir (a pytest temp dir is closed to other users); `discard` removes it."""

    name = "PostgreSQL"
    user = "fabrikam"

    def __init__(self, directory: Path, port: int | None = None) -> None:
        super().__init__(port)
        self.directory = directory
        self.owner = "postgres" if os.geteuid() == 0 else None
        home = Path(tempfile.mkdtemp(prefix="fabrikam-postgres-")) if self.owner else directory
        self.data = home / "data"
        self.process = self.command()

    def command(self) -> Process:
        settings = ("listen_addresses=127.0.0.1", "unix_socket_directories=")
        return Process(
            "postgres",
            [str(postgres_bin() / "postgres"), "-D", str(self.data), "-p", str(self.port)]
            + [argument for setting in settings for argument in ("-c", setting)],
            self.directory / "postgres.log",
            user=self.owner,
            # Fast shutdown: SIGTERM would wait for the services' pooled connections to close.
            stop_signal=signal.SIGINT,
        )

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://{self.user}@127.0.0.1:{self.port}/{database}"

    def start(self, timeout: float = 60.0) -> None:
        if not self.data.exists():
            if self.owner:
                shutil.chown(self.data.parent, self.owner, self.owner)
            initdb = [str(postgres_bin() / "initdb"), "-D", str(self.data), "-U", self.user, "--auth=trust"]
            subprocess.run(
                [*initdb, "--encoding=UTF8", "--no-sync"], check=True, capture_output=True, **as_user(self.owner)
            )
        super().start(timeout)

    def create_database(self, name: str, timeout: float = 30.0) -> str:
        """A new database (waiting until the server takes connections: it listens before it does); its URL."""
        command = [str(postgres_bin() / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, name]
        deadline = time.monotonic() + timeout
        while (created := subprocess.run(command, capture_output=True, text=True)).returncode != 0:
            if time.monotonic() > deadline:
                raise TimeoutError(f"createdb {name} failed: {created.stderr.strip()}")
            time.sleep(0.1)
        return self.url(name)

    def discard(self) -> None:
        """Stop the server and remove its data."""
        self.stop()
        shutil.rmtree(self.data.parent if self.owner else self.data, ignore_errors=True)


class MailSink(Server):
    """aiosmtpd as the local SMTP server: every email the notification service sends lands in a Maildir.

    aiosmtpd is a development dependency; without it the stack runs with no SMTP server and notifications
    are retried, then dead-lettered, while deliveries go on."""

    name = "aiosmtpd"

    def __init__(self, directory: Path, port: int | None = None) -> None:
        super().__init__(port)
        self.directory = directory
        self.maildir = directory / "maildir"
        self.process = self.command()

    def command(self) -> Process:
        return Process(
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
            self.directory / "mail.log",
        )

    @staticmethod
    def available() -> bool:
        return importlib.util.find_spec("aiosmtpd") is not None

    def start(self, timeout: float = 30.0) -> None:
        self.maildir.parent.mkdir(parents=True, exist_ok=True)
        super().start(timeout)


class Service:
    """One workload as `python -m fabrikam.workloads.entrypoint <name>` on a free port.

    `start` only launches it, so several services import at once; `wait_ready` launches it again on a fresh
    port if another process took its port first."""

    def __init__(self, name: str, directory: Path, env: dict[str, str], port: int | None = None) -> None:
        self.name = name
        self.env = env
        self.port = port or free_port()
        self.log_path = directory / f"{name}.log"
        self.process = self._command()
        self.attempts = 0

    def _command(self) -> Process:
        return Process(
            self.name,
            [sys.executable, "-m", "fabrikam.workloads.entrypoint", self.name],
            self.log_path,
            {**self.env, "FABRIKAM_PORT": str(self.port), "PYTHONSAFEPATH": "1"},
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = self._command()
        self.process.start()
        self.attempts = 1

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.exited():
                if not self.process.lost_its_port() or self.attempts >= BIND_ATTEMPTS:
                    raise RuntimeError(f"{self.name} exited; see {self.process.log_path}")
                self.port = free_port()
                self.process = self._command()
                self.process.start()
                self.attempts += 1
            with contextlib.suppress(httpx.HTTPError):
                if listens(self.process.pid, self.port) and httpx.get(f"{self.url}/readyz", timeout=2).is_success:
                    return
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
        self.webhook_secret = secrets.token_hex(16)
        self.extra_env = extra_env or {}
        self.auth = auth
        self.env: dict[str, str] = {}
        self.services = {name: Service(name, directory / "logs", self.env) for name in services}

    def _env(self) -> dict[str, str]:
        """Every connection the services use, explicitly: they have no defaults (the servers' final ports)."""
        keys = self.directory / "keys"
        return {
            "FABRIKAM_REDIS_URL": self.redis.url,
            "FABRIKAM_MONGO_URL": self.mongo.url,
            "FABRIKAM_LOG_LEVEL": "WARNING",
            "FABRIKAM_DATABASE_URL": f"sqlite+aiosqlite:///{self.directory / 'account' / 'account.db'}",
            "FABRIKAM_ACCOUNT_KEY_DIR": str(keys),
            "FABRIKAM_PII_KEY_FILE": str(keys / "pii.key"),
            "FABRIKAM_DEMO_CLIENT_SECRET": DEMO_SECRET,
            "FABRIKAM_PAYMENTS_WEBHOOK_SECRET": self.webhook_secret,
            # The fleet simulator's speed-up flies drones faster than any real one.
            "FABRIKAM_TELEMETRY_MAX_SPEED_MPS": "5000",
            "FABRIKAM_SMTP_HOST": "127.0.0.1",
            **({"FABRIKAM_SMTP_PORT": str(self.mail.port)} if self.mail else {}),
            **self.extra_env,
        }

    def start(self) -> None:
        self.redis.start()
        self.mongo.start()
        if self.mail:
            self.mail.start()
        self.env.update(self._env())
        others = list(self.services.values())
        if self.auth:
            # The issuer's URL is the account service's, known for sure once it listens.
            account = self.services["account"]
            others.remove(account)
            account.start()
            account.wait_ready()
            self.env["FABRIKAM_AUTH_ISSUER"] = account.url
        for service in others:
            service.start()
        for service in others:
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
    first: int = 0,
) -> None:
    """Register `count` drones spread over a few kilometres around a centre, all sizes, full batteries; numbered
    from `first`, so a second fleet adds drones instead of re-registering busy ones."""
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
            client.put(f"/v1/drones/drone-{first + index:04d}", json=body).raise_for_status()
