"""A container's environment as a DroneService holds it: plain values in `config`; secrets (and what looks like one
in a ConfigMap or a plain value) as Key Vault objects, never copied; addresses of other adopted services rewritten
to where those now run, as `calls`; the stores and hosts outside the cluster it reaches, as `uses`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from fabrikam.cli.adopt.notes import Note
from fabrikam.operator.api import DependencyKind
from fabrikam.operator.render.service import cluster_url
from fabrikam.operator.render.workload import SECRETS_DIR

Obj = dict[str, Any]
RESERVED_PREFIXES = ("FABRIKAM_", "OTEL_")
CONFIG_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_CONFIG_VALUE = 4096
MAX_SECRET_NAME = 127

# A name ending in a word that says "secret" (TOKEN_LIFETIME_MINUTES is a setting), or a value holding a credential:
# moved to Key Vault rather than risk a credential in a Git repository.
_SECRET_NAME = re.compile(
    r"(^|_)(PASSWORD|PASSWD|PWD|SECRET|TOKEN|KEY|API_?KEY|ACCESS_?KEY|ACCOUNT_?KEY|PRIVATE_?KEY|SAS|SAS_?TOKEN"
    r"|CONNECTION_?STRING|CONN_?STR|CREDENTIALS?)$",
    re.IGNORECASE,
)
# Not secrets by their owner's word: Application Insights' connection string identifies where telemetry goes and its
# SDK reads it from the environment (learn.microsoft.com: "The connection string isn't considered a security token").
NOT_SECRETS = frozenset({"APPLICATIONINSIGHTS_CONNECTION_STRING"})
_SECRET_VALUE = re.compile(
    r"(AccountKey|SharedAccessKey|SharedAccessSignature|Password|Pwd|AccessKey)=|://[^/\s:@]*:[^/\s@]+@|-----BEGIN ",
    re.IGNORECASE,
)
# What a variable's name or value tells of the store behind it, checked in this order (MONGO_DATABASE is MongoDB).
_STORE_NAMES: tuple[tuple[DependencyKind, re.Pattern[str]], ...] = (
    (DependencyKind.QUEUE, re.compile(r"(^|_)(SERVICE_?BUS\w*|AMQP\w*)(_|$)", re.IGNORECASE)),
    (DependencyKind.REDIS, re.compile(r"(^|_)REDIS\w*", re.IGNORECASE)),
    (DependencyKind.MONGO, re.compile(r"(^|_)(MONGO\w*|COSMOS\w*)", re.IGNORECASE)),
    (DependencyKind.SQL, re.compile(r"(^|_)(SQL\w*|POSTGRES\w*|MYSQL\w*|PG|DATABASE)(_|$)", re.IGNORECASE)),
)
_STORE_VALUES: tuple[tuple[DependencyKind, re.Pattern[str]], ...] = (
    (DependencyKind.QUEUE, re.compile(r"sb://|\.servicebus\.windows\.net", re.IGNORECASE)),
    (DependencyKind.REDIS, re.compile(r"^rediss?://|\.redis\.cache\.windows\.net", re.IGNORECASE)),
    (DependencyKind.MONGO, re.compile(r"^mongodb(\+srv)?://|\.mongo\.cosmos\.azure\.com|\.documents\.azure\.com")),
    (DependencyKind.SQL, re.compile(r"^postgres(ql)?://|\.database\.windows\.net|\.postgres\.database\.azure\.com")),
)
_STORE_WORDS = {
    DependencyKind.QUEUE: "Service Bus",
    DependencyKind.REDIS: "a Redis cache",
    DependencyKind.MONGO: "a MongoDB (Cosmos DB) database",
    DependencyKind.SQL: "a SQL database",
}
_QUEUE_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9._]*[A-Za-z0-9])?$")
_ADDRESS = re.compile(
    r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)?(?P<host>[A-Za-z0-9][A-Za-z0-9.-]*)(:(?P<port>[0-9]+))?(?P<rest>[/?#].*)?$"
)
_CLUSTER_SUFFIXES = (("svc",), ("svc", "cluster", "local"))
# An HTTP(S) URL inside a longer value, e.g. Application Insights' `IngestionEndpoint=https://...`.
_EMBEDDED_URL = re.compile(r"https?://([A-Za-z0-9][A-Za-z0-9.-]*\.[A-Za-z]{2,})")


@dataclass(frozen=True, order=True)
class Peer:
    """An adopted service where it runs now: its team namespace and DroneService name."""

    namespace: str
    name: str

    @property
    def host(self) -> str:
        return cluster_url(self.namespace, self.name).removeprefix("http://")


@dataclass(frozen=True)
class Scope:
    """What one container's environment is read against: where it ran, what it becomes, the objects its values
    may come from (ConfigMaps, redacted Secrets), the Services read (namespace, name) and, of those that lead to an
    adopted Deployment, where that Deployment runs now."""

    workload: str
    namespace: str
    deployment: str
    container: str
    service: str
    key_vault: str
    config_maps: Mapping[tuple[str, str], Obj]
    secrets: Mapping[tuple[str, str], Obj]
    services: frozenset[tuple[str, str]]
    routes: Mapping[tuple[str, str], Peer]


@dataclass(frozen=True)
class Origin:
    """Where one variable came from; `value` only for plain values (never a Secret's)."""

    kind: Literal["value", "configMap", "secret", "field"]
    source: str = ""
    key: str = ""
    value: str = ""


@dataclass
class Environment:
    """The DroneService's share of a container's environment, and what changed on the way."""

    config: dict[str, str] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)
    calls: set[Peer] = field(default_factory=set)
    uses: dict[tuple[DependencyKind, str], str] = field(default_factory=dict)
    notes: list[Note] = field(default_factory=list)


def key_vault_name(service: str, variable: str) -> str:
    """A Key Vault object name of the service's own (a vault is shared by every service of the platform)."""
    name = re.sub(r"[^0-9a-zA-Z]+", "-", f"{service}-{variable}".lower()).strip("-")
    return name[:MAX_SECRET_NAME].rstrip("-")


def looks_secret(name: str, value: str) -> bool:
    return name.upper() not in NOT_SECRETS and bool(_SECRET_NAME.search(name) or _SECRET_VALUE.search(value))


def _jsonpath(key: str) -> str:
    return key.replace(".", "\\.")


def _origins(container: Obj, scope: Scope, notes: list[Note]) -> dict[str, Origin]:
    """Every variable the container saw, as Kubernetes resolves them: envFrom in order, then env over them."""
    origins: dict[str, Origin] = {}
    for source in container.get("envFrom") or []:
        prefix = str(source.get("prefix") or "")
        if (ref := source.get("configMapRef")) is not None:
            config_map = scope.config_maps.get((scope.namespace, ref.get("name", "")))
            if config_map is None:
                notes.append(_missing(scope, f"envFrom ConfigMap {ref.get('name')}", "its variables"))
                continue
            for key, value in (config_map.get("data") or {}).items():
                origins[prefix + key] = Origin("configMap", ref["name"], key, str(value))
        elif (ref := source.get("secretRef")) is not None:
            secret = scope.secrets.get((scope.namespace, ref.get("name", "")))
            if secret is None:
                notes.append(_missing(scope, f"envFrom Secret {ref.get('name')}", "its keys, so none"))
                continue
            for key in secret.get("data") or {}:
                origins[prefix + key] = Origin("secret", ref["name"], key)
    for variable in container.get("env") or []:
        name = str(variable.get("name", ""))
        value_from = variable.get("valueFrom")
        if value_from is None:
            origins[name] = Origin("value", value=str(variable.get("value") or ""))
        elif (ref := value_from.get("secretKeyRef")) is not None:
            origins[name] = Origin("secret", ref.get("name", ""), ref.get("key", ""))
        elif (ref := value_from.get("configMapKeyRef")) is not None:
            data = (scope.config_maps.get((scope.namespace, ref.get("name", ""))) or {}).get("data") or {}
            if ref.get("key") not in data:
                notes.append(_missing(scope, f"env {name}", f"ConfigMap {ref.get('name')} key {ref.get('key')}: it"))
                continue
            origins[name] = Origin("configMap", ref["name"], ref["key"], str(data[ref["key"]]))
        else:
            field_ref = value_from.get("fieldRef") or {}
            resource_ref = value_from.get("resourceFieldRef") or {}
            origins[name] = Origin("field", key=str(field_ref.get("fieldPath") or resource_ref.get("resource") or "?"))
    return origins


def _missing(scope: Scope, field: str, what: str) -> Note:
    return Note(
        scope.workload,
        field,
        f"not found among the objects read: {what} is not carried over (give its manifest too, or read the live "
        "namespace)",
    )


def convert_environment(container: Obj, scope: Scope) -> Environment:
    """The container's environment as `config`, Key Vault `secrets`, `calls` and `uses`, with a note for every
    variable that did not survive as it was."""
    env = Environment()
    origins = _origins(container, scope, env.notes)
    for name, origin in sorted(origins.items()):
        field = f"env {name}"
        if origin.kind == "field":
            env.notes.append(
                Note(scope.workload, field, f"came from {origin.key}, which a DroneService cannot set: dropped")
            )
        elif name.startswith(RESERVED_PREFIXES):
            env.notes.append(
                Note(scope.workload, field, "dropped: the operator sets the FABRIKAM_* and OTEL_* variables itself")
            )
        elif not CONFIG_NAME.match(name):
            env.notes.append(Note(scope.workload, field, "dropped: not a valid environment variable name"))
        elif origin.kind == "secret" or looks_secret(name, origin.value):
            _to_key_vault(env, name, origin, origins, scope)
        else:
            _plain(env, name, origin.value, scope)
    _store_uses(env, origins, scope)
    return env


def _to_key_vault(env: Environment, name: str, origin: Origin, origins: Mapping[str, Origin], scope: Scope) -> None:
    secret = key_vault_name(scope.service, name)
    env.secrets.append(secret)
    file_variable = f"{name}_FILE"
    path = f"{SECRETS_DIR}/{secret}"
    if file_variable not in origins:
        env.config[file_variable] = path
    store = f"az keyvault secret set --vault-name {scope.key_vault} --name {secret} --file /dev/stdin"
    if origin.kind == "secret":
        how = f"came from Secret {origin.source} key {origin.key}"
        fetch = (
            f"kubectl get secret {origin.source} -n {scope.namespace} "
            f"-o jsonpath='{{.data.{_jsonpath(origin.key)}}}' | base64 -d"
        )
    elif origin.kind == "configMap":
        how = f"ConfigMap {origin.source} key {origin.key} holds what looks like a secret; not copied, rotate it"
        fetch = (
            f"kubectl get configmap {origin.source} -n {scope.namespace} "
            f"-o jsonpath='{{.data.{_jsonpath(origin.key)}}}'"
        )
    else:
        how = "a plain value of the Deployment looks like a secret; not copied, rotate it"
        fetch = (
            f"kubectl get deployment {scope.deployment} -n {scope.namespace} -o jsonpath='{{.spec.template.spec"
            f'.containers[?(@.name=="{scope.container}")].env[?(@.name=="{name}")].value}}\''
        )
    env.notes.append(
        Note(
            scope.workload,
            f"env {name}",
            f"{how}: now Key Vault reference {secret}, mounted as the file {path} ({file_variable} names it; {name} "
            f"is no longer set, the service must read the file). Copy the value into Key Vault: {fetch} | {store}",
        )
    )


def _plain(env: Environment, name: str, value: str, scope: Scope) -> None:
    field = f"env {name}"
    if len(value) > MAX_CONFIG_VALUE:
        env.notes.append(Note(scope.workload, field, f"dropped: longer than {MAX_CONFIG_VALUE} characters"))
        return
    if "$(" in value:
        env.notes.append(
            Note(
                scope.workload,
                field,
                "uses $(VAR) expansion, which a ConfigMap does not do: kept as written; spell the value out",
            )
        )
    env.config[name] = _address(env, name, value, scope)
    for host in _EMBEDDED_URL.findall(value):
        in_cluster = _named_service(host, "http://", None, scope) is not None or host.lower().endswith(
            ".svc.cluster.local"
        )
        a_store = any(pattern.search(host) for _, pattern in _STORE_VALUES)
        if not in_cluster and not a_store:
            env.uses.setdefault((DependencyKind.EXTERNAL, host.lower()), name)


def _named_service(host: str, scheme: str | None, port: str | None, scope: Scope) -> tuple[str, str] | None:
    """(namespace, name) of the in-cluster Service an address names: `name.ns.svc[.cluster.local]` always, a bare
    `name` or `name.ns` only when such a Service was read (`example.com` is a public host)."""
    parts = host.lower().split(".")
    if len(parts) in (3, 5) and tuple(parts[2:]) in _CLUSTER_SUFFIXES:
        return parts[1], parts[0]
    if len(parts) == 1 and (scheme or port) and (scope.namespace, parts[0]) in scope.services:
        return scope.namespace, parts[0]
    if len(parts) == 2 and (parts[1], parts[0]) in scope.services:
        return parts[1], parts[0]
    return None


def _address(env: Environment, name: str, value: str, scope: Scope) -> str:
    """The value, with an address of an adopted service's old Service rewritten to where that service runs now (on
    port 80, the port every DroneService's Service has)."""
    match = _ADDRESS.match(value.strip())
    if match is None:
        return value
    scheme, host, port, rest = match["scheme"], match["host"], match["port"], match["rest"] or ""
    target = _named_service(host, scheme, port, scope)
    if target is None:
        return value
    peer = scope.routes.get(target)
    if peer is None:
        env.notes.append(
            Note(
                scope.workload,
                f"env {name}",
                f"points at Service {target[0]}/{target[1]}, which is not adopted: the service's NetworkPolicy will "
                "not let the call through; adopt that service too, or call it through its public address",
            )
        )
        return value
    env.calls.add(peer)
    rewritten = f"{scheme or ''}{peer.host}{'' if scheme in ('http://', 'https://') else ':80'}{rest}"
    env.notes.append(
        Note(
            scope.workload,
            f"env {name}",
            f"pointed at Service {target[0]}/{target[1]}: now {rewritten}, where {peer.namespace}/{peer.name} "
            "answers (declared in spec.calls, which opens the way)",
        )
    )
    return rewritten


def _store_uses(env: Environment, origins: Mapping[str, Origin], scope: Scope) -> None:
    """The stores outside the cluster the container reaches, told by the names of its variables (and plain values),
    declared as `uses` so the service's NetworkPolicy opens egress to them through the platform's rules."""
    kinds: dict[DependencyKind, str] = {}
    for name, origin in sorted(origins.items()):
        for kind, pattern in _STORE_NAMES:
            if pattern.search(name):
                kinds.setdefault(kind, name)
                break
        else:
            for kind, pattern in _STORE_VALUES:
                if pattern.search(origin.value):
                    kinds.setdefault(kind, name)
                    break
    for kind, variable in kinds.items():
        if kind is DependencyKind.QUEUE:
            queues = sorted(
                value
                for name, value in env.config.items()
                if "QUEUE" in name.upper() and _QUEUE_NAME.match(value) and not looks_secret(name, value)
            )
            if not queues:
                env.notes.append(
                    Note(
                        scope.workload,
                        f"env {variable}",
                        "reaches Service Bus but no plain variable names its queue: add spec.uses "
                        "[{kind: queue, name: <queue>}] (and the team's spec.teams[].queues grant), or its "
                        "NetworkPolicy keeps Service Bus closed",
                    )
                )
            for queue in queues:
                env.uses.setdefault((kind, queue), variable)
        else:
            env.uses.setdefault((kind, scope.service), variable)
        env.notes.append(
            Note(
                scope.workload,
                f"env {variable}",
                f"reaches {_STORE_WORDS[kind]} outside the cluster: declared in spec.uses, so its NetworkPolicy opens "
                f"the platform's spec.network.egress rules of kind {kind.value}; check they cover the store it uses "
                "today",
            )
        )
