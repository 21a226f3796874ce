"""Every outbound call the workloads make has a timeout (seed known issue: external calls without timeouts).

(a) Statically: every module of workloads/ is parsed; every call that constructs a network client is listed and
must pass its timeouts (or get them from an object whose construction does, which is checked too), and importing
a network library the inventory does not know fails, so no client slips in untimed.
(b) On the real objects, built from `ServiceSettings` as the services build them: the effective timeouts are the
settings', and against a server that accepts connections but never answers each client gives up within its bound.
"""

import ast
import importlib
import inspect
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from pymongo import AsyncMongoClient
from redis.asyncio import BlockingConnectionPool
from sqlalchemy import event, text

import fabrikam.workloads
from fabrikam.workloads.account import service as account_service
from fabrikam.workloads.account.db import engine_for
from fabrikam.workloads.contracts import NOTIFICATION_EVENTS, SCHEDULER_COMMANDS
from fabrikam.workloads.kit.auth import InvalidToken, TokenVerifier
from fabrikam.workloads.kit.messaging import factory
from fabrikam.workloads.kit.resilience import TransientError, redis_client
from fabrikam.workloads.kit.service import Runtime
from fabrikam.workloads.kit.settings import ServiceSettings
from fabrikam.workloads.notification import service as notification_service
from fabrikam.workloads.notification.channels import Resilient, SendGridEmail, SmtpEmail, TwilioSms, channels_from
from fabrikam.workloads.package import service as package_service
from fabrikam.workloads.scheduler import service as scheduler_service

WORKLOADS = Path(fabrikam.workloads.__file__).parent


# --- (a) the call sites ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """The keywords a constructor must be given, each not None. `instead`: a keyword that hands the client an
    object built elsewhere (a pool), whose construction in the same function must itself satisfy its rule.
    `through`: the keyword's value must be built by this helper, whose effect part (b) checks."""

    timeouts: tuple[str, ...]
    instead: str | None = None
    through: str | None = None


REDIS_SOCKET = ("socket_timeout", "socket_connect_timeout")
MONGO = ("serverSelectionTimeoutMS", "connectTimeoutMS", "socketTimeoutMS", "waitQueueTimeoutMS")
TIMED: dict[str, Rule] = {
    "httpx.AsyncClient": Rule(("timeout",)),
    "httpx.Client": Rule(("timeout",)),
    "smtplib.SMTP": Rule(("timeout",)),
    "smtplib.SMTP_SSL": Rule(("timeout",)),
    "jwt.PyJWKClient": Rule(("timeout",)),
    "redis.asyncio.BlockingConnectionPool.from_url": Rule((*REDIS_SOCKET, "timeout")),  # timeout: the pool wait
    "redis.asyncio.BlockingConnectionPool": Rule((*REDIS_SOCKET, "timeout")),
    "redis.asyncio.ConnectionPool.from_url": Rule(REDIS_SOCKET),
    "redis.asyncio.ConnectionPool": Rule(REDIS_SOCKET),
    "redis.asyncio.Redis": Rule(REDIS_SOCKET, instead="connection_pool"),
    "redis.asyncio.Redis.from_url": Rule(REDIS_SOCKET),
    "redis.asyncio.from_url": Rule(REDIS_SOCKET),
    "redis.Redis": Rule(REDIS_SOCKET, instead="connection_pool"),
    "redis.Redis.from_url": Rule(REDIS_SOCKET),
    "redis.from_url": Rule(REDIS_SOCKET),
    "pymongo.AsyncMongoClient": Rule(MONGO),
    "pymongo.MongoClient": Rule(MONGO),
    "sqlalchemy.ext.asyncio.create_async_engine": Rule(("connect_args",), through="driver_timeouts"),
    "sqlalchemy.create_engine": Rule(("connect_args",), through="driver_timeouts"),
    "azure.servicebus.aio.ServiceBusClient": Rule(("try_timeout",)),
    "azure.servicebus.ServiceBusClient": Rule(("try_timeout",)),
    "opentelemetry.exporter.otlp.proto.http.trace_exporter.OTLPSpanExporter": Rule(("timeout",)),
    "opentelemetry.exporter.otlp.proto.http.metric_exporter.OTLPMetricExporter": Rule(("timeout",)),
    "azure.monitor.opentelemetry.exporter.AzureMonitorTraceExporter": Rule(("timeout", "read_timeout")),
    "azure.monitor.opentelemetry.exporter.AzureMonitorMetricExporter": Rule(("timeout", "read_timeout")),
}
# Clients whose library bounds every call when given nothing; part (b) checks the bound on the objects it can build.
LIBRARY_BOUNDED: dict[str, str] = {
    "azure.identity.DefaultAzureCredential": "azure-core transports: connect 300 s (IMDS 2 s), read 300 s",
    "azure.identity.aio.DefaultAzureCredential": "azure-core transports: connect 300 s (IMDS 2 s), read 300 s",
    "redis_entraid.identity_provider.DefaultAzureCredentialProvider": "the azure-identity credential it wraps",
    "redis_entraid.cred_provider.EntraIdCredentialsProvider": "the azure-identity credential it wraps",
}
# Every network client the workloads construct, where: a new one fails here until it is looked at and listed.
INVENTORY = sorted(
    [
        ("account/db.py", "sqlalchemy.ext.asyncio.create_async_engine"),
        ("account/service.py", "azure.identity.aio.DefaultAzureCredential"),
        ("kit/auth.py", "httpx.AsyncClient"),
        ("kit/messaging/servicebus.py", "azure.identity.aio.DefaultAzureCredential"),
        ("kit/messaging/servicebus.py", "azure.servicebus.aio.ServiceBusClient"),
        ("kit/redis_auth.py", "azure.identity.DefaultAzureCredential"),
        ("kit/redis_auth.py", "redis_entraid.cred_provider.EntraIdCredentialsProvider"),
        ("kit/redis_auth.py", "redis_entraid.identity_provider.DefaultAzureCredentialProvider"),
        ("kit/resilience.py", "redis.asyncio.BlockingConnectionPool.from_url"),
        ("kit/resilience.py", "redis.asyncio.Redis"),
        ("kit/telemetry.py", "azure.monitor.opentelemetry.exporter.AzureMonitorMetricExporter"),
        ("kit/telemetry.py", "azure.monitor.opentelemetry.exporter.AzureMonitorTraceExporter"),
        ("kit/telemetry.py", "opentelemetry.exporter.otlp.proto.http.metric_exporter.OTLPMetricExporter"),
        ("kit/telemetry.py", "opentelemetry.exporter.otlp.proto.http.trace_exporter.OTLPSpanExporter"),
        ("notification/channels.py", "httpx.AsyncClient"),  # SendGrid
        ("notification/channels.py", "httpx.AsyncClient"),  # Twilio
        ("notification/channels.py", "smtplib.SMTP"),
        ("package/service.py", "pymongo.AsyncMongoClient"),
        ("scheduler/weather.py", "httpx.AsyncClient"),
        ("simulator/engine.py", "httpx.AsyncClient"),
    ]
)
# A call whose resolved name ends so builds a connection or a client of one: it must be in TIMED or LIBRARY_BOUNDED.
CLIENT_SUFFIXES = ("Client", "Pool", "Redis", "SMTP", "SMTP_SSL", "Credential", "CredentialProvider",
                   "CredentialsProvider", "Exporter", "Connection", "from_url", "create_engine", "create_async_engine",
                   "connect", "urlopen")  # fmt: skip
HTTPX_CALLS = ("request", "get", "post", "put", "patch", "delete", "head", "options", "stream")

# Every library the workloads import is classified: its clients are ruled above, or it opens no connection.
CLIENT_LIBRARIES = ("httpx", "redis", "redis_entraid", "pymongo", "sqlalchemy", "azure.servicebus", "azure.identity",
                    "azure.monitor.opentelemetry.exporter", "opentelemetry.exporter", "jwt", "smtplib",
                    "socket")  # fmt: skip
OFFLINE_LIBRARIES = ("pydantic", "pydantic_core", "pydantic_settings", "fastapi", "starlette", "sse_starlette",
                     "uvicorn", "prometheus_client", "cryptography", "tenacity", "purgatory", "opentelemetry",
                     "azure.core")  # fmt: skip
UNTIMED_NETWORK = ("aiohttp", "requests", "urllib3", "urllib.request", "http.client", "http.server", "ftplib",
                   "poplib", "imaplib", "nntplib", "telnetlib", "xmlrpc", "socketserver", "ssl", "aiosmtplib",
                   "websockets", "grpc", "motor", "psycopg", "psycopg2", "asyncpg", "aioredis", "boto3", "botocore",
                   "azure.keyvault", "azure.storage", "pycurl", "httplib2", "paramiko", "aioodbc", "pyodbc",
                   "aiomysql", "pymysql")  # fmt: skip
# Raw connections without a client (asyncio streams, loop.create_connection, socket.create_connection).
RAW_CONNECTIONS = ("open_connection", "open_unix_connection", "create_connection", "create_unix_connection",
                   "sock_connect", "create_datagram_endpoint")  # fmt: skip
SOCKET_ALLOWED = ("gethostname",)


@dataclass(frozen=True)
class CallSite:
    module: str
    line: int
    callee: str
    call: ast.Call
    function: ast.AST | None  # the enclosing function, where its arguments' values are traced


def parse(source: str, filename: str = "<unknown>") -> ast.Module:
    """ast.parse, retried once on CPython 3.11's spurious "AST constructor recursion depth mismatch" (python/cpython
    gh-106905; seen once in a full unit run here); any other error, or that one twice, is raised."""
    try:
        return ast.parse(source, filename)
    except SystemError as error:
        if "recursion depth mismatch" not in str(error):
            raise
        return ast.parse(source, filename)


def modules() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(WORKLOADS.rglob("*.py")):
        yield path.relative_to(WORKLOADS).as_posix(), parse(path.read_text(), str(path))


def imported_names(tree: ast.Module) -> dict[str, str]:
    """Local name → the dotted name it stands for, from every import of the module (function-level ones too)."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                names[alias.asname or top] = alias.name if alias.asname else top
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def resolved(node: ast.expr, names: dict[str, str]) -> str | None:
    if isinstance(node, ast.Name):
        return names.get(node.id)
    if isinstance(node, ast.Attribute) and (base := resolved(node.value, names)):
        return f"{base}.{node.attr}"
    return None


def imports(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """Every absolute module imported, `from a import b` as `a.b` too (b may be a module: `from urllib import
    request`)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
            yield from ((node.lineno, f"{node.module}.{alias.name}") for alias in node.names)


def within(name: str, libraries: tuple[str, ...]) -> bool:
    return any(name == library or name.startswith(library + ".") for library in libraries)


def enclosing_functions(tree: ast.Module) -> dict[ast.AST, ast.AST]:
    """Each node → the innermost function containing it."""
    owner: dict[ast.AST, ast.AST] = {}

    def visit(node: ast.AST, function: ast.AST | None) -> None:
        for child in ast.iter_child_nodes(node):
            if function is not None:
                owner[child] = function
            visit(child, child if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else function)

    visit(tree, None)
    return owner


def call_sites() -> list[CallSite]:
    sites = []
    for module, tree in modules():
        names, owner = imported_names(tree), enclosing_functions(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and (callee := resolved(node.func, names)) is not None:
                sites.append(CallSite(module, node.lineno, callee, node, owner.get(node)))
    return sites


def is_client(callee: str) -> bool:
    if callee.startswith("fabrikam."):
        return False
    if callee in TIMED or callee in LIBRARY_BOUNDED:
        return True
    last = callee.rsplit(".", 1)[-1]
    return last.endswith(CLIENT_SUFFIXES) or (callee.startswith("httpx.") and last in HTTPX_CALLS)


def parameter_default(function: ast.AST | None, name: str) -> ast.expr | None:
    """The default of `function`'s parameter `name`; None when it has none (callers must pass it) or is no
    parameter."""
    if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
        return None
    arguments = function.args
    positional = [*arguments.posonlyargs, *arguments.args]
    with_defaults = positional[len(positional) - len(arguments.defaults) :]
    defaults = {parameter.arg: default for parameter, default in zip(with_defaults, arguments.defaults, strict=True)}
    defaults |= {
        parameter.arg: default
        for parameter, default in zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True)
        if default is not None
    }
    return defaults.get(name)


def may_be_none(value: ast.expr, function: ast.AST | None) -> bool:
    """A literal None, or a parameter of the enclosing function that defaults to None."""
    if isinstance(value, ast.Constant):
        return value.value is None
    if isinstance(value, ast.Name):
        default = parameter_default(function, value.id)
        return isinstance(default, ast.Constant) and default.value is None
    return False


def assignments_of(function: ast.AST | None, name: str) -> list[ast.expr]:
    """The values assigned (or |= merged) to `name` in `function`."""
    if function is None:
        return []
    values: list[ast.expr] = []
    for node in ast.walk(function):
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        else:
            continue
        if node.value is not None and any(isinstance(target, ast.Name) and target.id == name for target in targets):
            values.append(node.value)
    return values


def calls_in(values: list[ast.expr]) -> Iterator[ast.Call]:
    for value in values:
        yield from (node for node in ast.walk(value) if isinstance(node, ast.Call))


def missing_timeouts(site: CallSite, sites_by_call: dict[ast.Call, CallSite]) -> list[str]:
    """What the call lacks: the rule's keywords, each given and not possibly None (or its `instead`, traced)."""
    rule = TIMED[site.callee]
    given = {keyword.arg: keyword.value for keyword in site.call.keywords if keyword.arg is not None}
    if rule.instead is not None and rule.instead in given:
        source = given[rule.instead]
        built_by = [sites_by_call[call] for call in calls_in(assignments_of(site.function, getattr(source, "id", "")))]
        timed = [by for by in built_by if by.callee in TIMED and not missing_timeouts(by, sites_by_call)]
        return [] if timed else [f"{rule.instead}= is not built by a timed constructor in the same function"]
    missing = [f"{keyword}=" for keyword in rule.timeouts if keyword not in given]
    missing += [f"{keyword}= may be None" for keyword in rule.timeouts if keyword in given and
                may_be_none(given[keyword], site.function)]  # fmt: skip
    if rule.through is not None and not missing:
        assigned = assignments_of(site.function, getattr(given[rule.timeouts[0]], "id", ""))
        if rule.through not in {getattr(call.func, "id", None) for call in calls_in(assigned)}:
            missing.append(f"{rule.timeouts[0]}= is not built by {rule.through}()")
    return missing


def test_every_network_client_the_workloads_construct_is_in_the_inventory() -> None:
    found = sorted((site.module, site.callee) for site in call_sites() if is_client(site.callee))
    assert found == INVENTORY


def test_every_network_client_is_given_its_timeouts_or_its_library_bounds_it() -> None:
    sites = call_sites()
    by_call = {site.call: site for site in sites}
    clients = [site for site in sites if is_client(site.callee)]
    unruled = [f"{s.module}:{s.line} {s.callee}" for s in clients if s.callee not in TIMED | LIBRARY_BOUNDED]
    assert unruled == []
    untimed = {
        f"{site.module}:{site.line} {site.callee}": missing
        for site in clients
        if site.callee in TIMED and (missing := missing_timeouts(site, by_call))
    }
    assert untimed == {}
    assert len([site for site in clients if site.callee in TIMED]) == 15


def import_problems(module: str, tree: ast.Module) -> tuple[set[str], set[str]]:
    """(imports of network libraries or raw connections nothing here times, third-party libraries not classified)."""
    untimed, unclassified = set(), set()
    for line, name in imports(tree):
        top, last = name.split(".")[0], name.rsplit(".", 1)[-1]
        raw = last in RAW_CONNECTIONS or (top == "socket" and name != "socket" and last not in SOCKET_ALLOWED)
        third_party = top != "fabrikam" and top not in sys.stdlib_module_names
        if within(name, UNTIMED_NETWORK) or raw:
            untimed.add(f"{module}:{line} {name}")
        elif third_party and not within(name, CLIENT_LIBRARIES + OFFLINE_LIBRARIES):
            unclassified.add(f"{module}:{line} {name}")
    return untimed, unclassified


def raw_connections(module: str, tree: ast.Module) -> list[str]:
    """Connections opened without a client (asyncio streams, loop or socket connects), and any socket use but
    naming the host."""
    names, found = imported_names(tree), []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        if node.attr in RAW_CONNECTIONS:
            found.append(f"{module}:{node.lineno} .{node.attr}")
        elif resolved(node.value, names) == "socket" and node.attr not in SOCKET_ALLOWED:
            found.append(f"{module}:{node.lineno} socket.{node.attr}")
    return found


def test_no_module_imports_a_network_library_the_inventory_does_not_time() -> None:
    problems = [import_problems(module, tree) for module, tree in modules()]
    assert set().union(*(untimed for untimed, _ in problems)) == set()
    assert set().union(*(unclassified for _, unclassified in problems)) == set()  # classify a new library above


def test_no_module_opens_a_raw_connection_and_socket_is_used_only_to_name_the_host() -> None:
    assert [found for module, tree in modules() for found in raw_connections(module, tree)] == []


def test_the_inventory_check_catches_an_untimed_client() -> None:
    """The checker itself: a client without its timeout, or with one that may be None, is reported."""
    source = """
import httpx
from redis.asyncio import BlockingConnectionPool, Redis

def untimed(url, timeout=None):
    a = httpx.AsyncClient(base_url=url)
    b = httpx.AsyncClient(timeout=timeout)
    pool = BlockingConnectionPool.from_url(url, socket_timeout=1)
    c = Redis(connection_pool=pool)
"""
    tree = parse(source)
    names, owner = imported_names(tree), enclosing_functions(tree)
    sites = [CallSite("m.py", n.lineno, c, n, owner.get(n)) for n in ast.walk(tree)
             if isinstance(n, ast.Call) and (c := resolved(n.func, names))]  # fmt: skip
    by_call = {site.call: site for site in sites}
    reported = {site.line: missing_timeouts(site, by_call) for site in sites if site.callee in TIMED}
    assert reported == {
        6: ["timeout="],
        7: ["timeout= may be None"],
        8: ["socket_connect_timeout=", "timeout="],
        9: ["connection_pool= is not built by a timed constructor in the same function"],
    }


def test_the_import_checks_catch_untimed_libraries_and_raw_connections() -> None:
    source = """
import aiohttp, requests, smtplib, socket
import http.client
from urllib.request import urlopen
from socket import create_connection
from somewhere_new import Thing

async def talk(host, loop):
    await asyncio.open_connection(host, 80)
    socket.create_connection((host, 80))
    socket.gethostname()
"""
    tree = parse(source)
    untimed, unclassified = import_problems("m.py", tree)
    assert untimed == {
        "m.py:2 aiohttp",
        "m.py:2 requests",
        "m.py:3 http.client",
        "m.py:4 urllib.request",
        "m.py:4 urllib.request.urlopen",
        "m.py:5 socket.create_connection",
    }
    assert unclassified == {"m.py:6 somewhere_new", "m.py:6 somewhere_new.Thing"}
    assert set(raw_connections("m.py", tree)) == {"m.py:9 .open_connection", "m.py:10 .create_connection"}


# --- (b) the real objects ----------------------------------------------------------------------------------------

TIMEOUT = 0.3  # seconds: small, so that giving up within it cannot be confused with the 5 s default
SLACK = 1.0  # a loaded 2-core machine's scheduling delays; still far below any library's own default


def owner(bound_method: object) -> Any:
    """The object a service built behind one of its handlers or checks."""
    return bound_method.__self__  # type: ignore[attr-defined]


def settings(**overrides: Any) -> ServiceSettings:
    values: dict[str, Any] = {
        "redis_url": "redis://127.0.0.1:1/0",
        "outbound_timeout_seconds": TIMEOUT,
        "pool_wait_seconds": 0.7,
    }
    return ServiceSettings(**(values | overrides))


async def seconds_to_fail(call: Callable[[], Awaitable[object]]) -> tuple[float, BaseException]:
    started = time.perf_counter()
    try:
        await call()
    except Exception as error:
        return time.perf_counter() - started, error
    raise AssertionError("the call to a silent server succeeded")


async def test_redis_sockets_time_out_and_a_full_pool_waits_the_settings_seconds(silent_port: int) -> None:
    client = redis_client(settings(redis_url=f"redis://127.0.0.1:{silent_port}/0"))
    pool = client.connection_pool
    assert isinstance(pool, BlockingConnectionPool)
    options = pool.connection_kwargs
    assert (pool.timeout, options["socket_timeout"], options["socket_connect_timeout"]) == (0.7, TIMEOUT, TIMEOUT)
    seconds, error = await seconds_to_fail(client.ping)
    await client.aclose()
    assert "Timeout" in type(error).__name__
    assert TIMEOUT * 0.9 <= seconds < TIMEOUT + SLACK  # a timeout is not retried: the server is busy, not gone


async def test_the_weather_client_of_the_scheduler_times_out_on_every_phase() -> None:
    runtime = Runtime.from_settings(settings(weather_url="http://127.0.0.1:1"))
    parts = scheduler_service.build(runtime)
    weather = owner(parts.consumers[SCHEDULER_COMMANDS]["AssignDrone"])._weather
    assert weather._http.timeout == httpx.Timeout(TIMEOUT)  # connect, read, write and pool
    for stop in parts.on_stop:
        await stop()
    await runtime.close()


async def test_the_jwks_fetch_times_out_and_the_token_is_refused_within_three_attempts(silent_port: int) -> None:
    url = f"http://127.0.0.1:{silent_port}"
    verifier = TokenVerifier.from_settings(settings(auth_issuer=url, auth_jwks_url=f"{url}/jwks"))
    assert verifier is not None
    assert verifier._http.timeout == httpx.Timeout(TIMEOUT)
    token = jwt.encode({"sub": "someone"}, "a-key-nobody-will-ever-check-32b", algorithm="HS256", headers={"kid": "k1"})
    seconds, error = await seconds_to_fail(lambda: verifier.verify(token))
    await verifier.close()
    assert isinstance(error, InvalidToken)
    assert str(error) == "signing keys unavailable: ReadTimeout"
    assert 3 * TIMEOUT * 0.9 <= seconds < 3 * TIMEOUT + 0.15 + SLACK  # 3 attempts, backoff at most 0.05 + 0.1 s


async def test_the_notification_providers_time_out_each_attempt(tmp_path: Path, silent_port: int) -> None:
    configured = settings(
        email_provider="sendgrid",
        sendgrid_api_key="key",
        twilio_account_sid="AC1",
        twilio_auth_token="token",
        twilio_from="+15550100",
        pii_key_file=str(tmp_path / "pii.key"),
    )
    providers = channels_from(configured)
    email, sms = providers["email"], providers["sms"]
    assert isinstance(email, SendGridEmail)
    assert isinstance(sms, TwilioSms)
    assert email._http.timeout == sms._http.timeout == httpx.Timeout(TIMEOUT)
    for provider in (email, sms):
        await provider.close()

    runtime = Runtime.from_settings(configured)
    parts = notification_service.build(runtime)
    wrapped = owner(parts.consumers[NOTIFICATION_EVENTS]["DeliveryStageChanged"])._channels
    assert {name: (type(channel), channel._timeout) for name, channel in wrapped.items()} == {
        "email": (Resilient, TIMEOUT),
        "sms": (Resilient, TIMEOUT),
    }
    for stop in parts.on_stop:
        await stop()
    await runtime.close()

    smtp = channels_from(settings(smtp_host="127.0.0.1", smtp_port=silent_port))["email"]
    assert isinstance(smtp, SmtpEmail)
    seconds, error = await seconds_to_fail(lambda: smtp.send("someone@example.com", "subject", "text"))
    assert isinstance(error, TransientError)
    assert "timed out" in str(error)
    assert TIMEOUT * 0.9 <= seconds < TIMEOUT + SLACK


async def test_the_package_stores_mongo_client_times_out_selecting_connecting_reading_and_waiting(
    silent_port: int,
) -> None:
    runtime = Runtime.from_settings(settings(mongo_url=f"mongodb://127.0.0.1:{silent_port}/?directConnection=true"))
    parts = package_service.build(runtime)
    ping = parts.readiness["mongo"]
    client: AsyncMongoClient[dict[str, Any]] = owner(ping)._database.client
    pool = client.options.pool_options
    assert (client.options.server_selection_timeout, pool.connect_timeout, pool.socket_timeout) == (
        TIMEOUT,
        TIMEOUT,
        TIMEOUT,
    )
    assert pool.wait_queue_timeout == 0.7
    seconds, error = await seconds_to_fail(ping)
    assert type(error).__name__ == "ServerSelectionTimeoutError"
    assert TIMEOUT * 0.9 <= seconds < TIMEOUT + SLACK
    for stop in parts.on_stop:
        await stop()
    await runtime.close()


async def test_the_account_database_connects_and_runs_each_statement_within_the_timeout(
    tmp_path: Path, silent_port: int
) -> None:
    configured = settings(
        database_url=f"postgresql+asyncpg://account:secret@127.0.0.1:{silent_port}/accounts",
        pii_key_file=str(tmp_path / "pii.key"),
        account_key_dir=str(tmp_path / "keys"),
    )
    runtime = Runtime.from_settings(configured)
    parts = account_service.build(runtime)
    database_ready = parts.readiness["database"]
    engine = inspect.getclosurevars(database_ready).nonlocals["engine"]
    handed_to_asyncpg: list[dict[str, Any]] = []
    event.listen(engine.sync_engine, "do_connect", lambda _d, _r, _a, parameters: handed_to_asyncpg.append(parameters))
    seconds, _ = await seconds_to_fail(database_ready)
    assert [(p["timeout"], p["command_timeout"]) for p in handed_to_asyncpg] == [(TIMEOUT, TIMEOUT)]
    assert TIMEOUT * 0.9 <= seconds < TIMEOUT + SLACK
    for stop in parts.on_stop:
        await stop()
    await runtime.close()


async def test_sqlite_gets_no_asyncpg_arguments_and_still_works(tmp_path: Path) -> None:
    engine = engine_for(f"sqlite+aiosqlite:///{tmp_path / 'accounts.db'}", timeout_seconds=TIMEOUT)
    async with engine.connect() as connection:
        assert (await connection.execute(text("SELECT 1"))).scalar() == 1
    await engine.dispose()


async def test_service_bus_bounds_every_attempt_with_the_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AZURE_FEDERATED_TOKEN_FILE", raising=False)
    configured = settings(broker="servicebus", servicebus_namespace="fabrikam.servicebus.windows.net")
    unused_redis = redis_client(configured)
    broker: Any = factory.broker(configured, unused_redis)
    assert broker._client._config.try_timeout == TIMEOUT
    await broker.close()
    await unused_redis.aclose()


def transports(root: object) -> list[Any]:
    """Every azure-core transport reachable from `root`'s attributes."""
    found, seen, pending = [], set(), [root]
    while pending:
        current = pending.pop()
        if id(current) in seen or isinstance(current, str | bytes | int | float | type(None)):
            continue
        seen.add(id(current))
        if hasattr(current, "connection_config"):
            found.append(current)
        children = current if isinstance(current, list | tuple) else getattr(current, "__dict__", {}).values()
        pending.extend(children)
    return found


@pytest.mark.parametrize("module", ["azure.identity", "azure.identity.aio"])
async def test_azure_identity_token_requests_are_bounded_by_the_libraries_timeouts(
    module: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pod's workload identity as AKS sets it up: the token requests go through azure-core transports."""
    (tmp_path / "token").write_text("federated-token")
    monkeypatch.setenv("AZURE_CLIENT_ID", "00000000-0000-0000-0000-000000000001")
    monkeypatch.setenv("AZURE_TENANT_ID", "00000000-0000-0000-0000-000000000002")
    monkeypatch.setenv("AZURE_FEDERATED_TOKEN_FILE", str(tmp_path / "token"))
    monkeypatch.setenv("AZURE_AUTHORITY_HOST", "https://login.microsoftonline.com/")
    credential = importlib.import_module(module).DefaultAzureCredential()
    found = transports(credential)
    kinds = {type(credential).__name__ for credential in credential.credentials}
    assert {"WorkloadIdentityCredential", "ManagedIdentityCredential"} <= kinds
    assert found
    assert all(0 < t.connection_config.timeout <= 300 and 0 < t.connection_config.read_timeout <= 300 for t in found)
    closing = credential.close()
    if inspect.isawaitable(closing):
        await closing
