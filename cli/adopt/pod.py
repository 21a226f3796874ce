"""The pod template of a Deployment, read for what a DroneService can hold: one container, one HTTP port, its
resources (filled where missing), its probe timings, and whether it prefers spot nodes. What the operator decides
instead (hardening, probe paths, volumes, node placement) is said in a note when the Deployment did otherwise."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from fabrikam.cli.adopt.environment import Scope, key_vault_name
from fabrikam.cli.adopt.notes import Note
from fabrikam.operator.api import Resources, parse_quantity
from fabrikam.operator.api.base import QUANTITY_PATTERN
from fabrikam.operator.render.workload import PROBES, SECRETS_DIR, SPOT_KEY

Obj = dict[str, Any]
DEFAULT_PORT = 8080
MIN_PORT = 1024
RESOURCE_NAMES = ("cpu", "memory")
# The probe timings a DroneService keeps, with the bounds its CRD accepts.
PROBE_TIMINGS = {
    "initialDelaySeconds": (0, 600),
    "periodSeconds": (1, 300),
    "timeoutSeconds": (1, 60),
    "failureThreshold": (1, 120),
}
# Each probe of a DroneService: the Deployment's field, the spec's, and the path the operator always probes.
PROBE_KINDS = (
    ("startupProbe", "startup", PROBES["startupProbe"]["path"]),
    ("readinessProbe", "readiness", PROBES["readinessProbe"]["path"]),
    ("livenessProbe", "liveness", PROBES["livenessProbe"]["path"]),
)
# Words of a probe that checks more than the process: a database, a cache, a queue, another service.
_DEPENDENCY_WORDS = re.compile(
    r"(^|[^a-z])(db|database|redis\w*|mongo\w*|sql\w*|psql|pg_isready|postgres\w*|cosmos\w*|servicebus|queue\w*"
    r"|dependenc\w*|deps|deep|downstream|upstream|ready|readiness|nc|curl|wget)([^a-z]|$)",
    re.IGNORECASE,
)
_QUANTITY = re.compile(QUANTITY_PATTERN)


def main_container(deployment: Obj, workload: str) -> tuple[Obj | None, list[Note]]:
    """The container a DroneService reproduces: the one named like the Deployment, else the first."""
    name = str((deployment.get("metadata") or {}).get("name", ""))
    pod = pod_spec(deployment)
    containers = list(pod.get("containers") or [])
    if not containers:
        return None, [Note(workload, "spec.template.spec.containers", "no container: not adopted")]
    chosen = next((c for c in containers if c.get("name") == name), containers[0])
    notes = [
        Note(
            workload,
            f"container {c.get('name')}",
            "dropped: a DroneService runs one container (this one is a "
            "sidecar; the platform provides telemetry and secrets itself)",
        )
        for c in containers
        if c is not chosen
    ]
    notes += [
        Note(
            workload,
            f"initContainer {c.get('name')}",
            "dropped: a DroneService has no init containers; move its work into the service's start or a Job",
        )
        for c in pod.get("initContainers") or []
    ]
    return chosen, notes


def pod_spec(deployment: Obj) -> Obj:
    spec: Obj = ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}
    return spec


def http_port(container: Obj, workload: str) -> tuple[int, list[Note]]:
    """The port the DroneService serves HTTP on: the container port named http, else the first TCP one."""
    ports = [p for p in container.get("ports") or [] if str(p.get("protocol", "TCP")) == "TCP"]
    if not ports:
        return DEFAULT_PORT, [
            Note(workload, "ports", f"no container port declared: spec.port {DEFAULT_PORT}; set it to where it listens")
        ]
    chosen = next((p for p in ports if p.get("name") == "http"), ports[0])
    notes = [
        Note(workload, f"port {p.get('containerPort')}", "dropped: a DroneService serves one HTTP port")
        for p in ports
        if p is not chosen
    ]
    port = int(chosen.get("containerPort", DEFAULT_PORT))
    if port < MIN_PORT:
        notes.append(
            Note(
                workload,
                f"port {port}",
                f"a privileged port, which the operator's non-root container cannot bind: spec.port {DEFAULT_PORT}; "
                "make the service listen there (its port setting) before the traffic switch",
            )
        )
        port = DEFAULT_PORT
    return port, notes


def _quantities(section: Any, workload: str, where: str, notes: list[Note]) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in (section or {}).items():
        if name not in RESOURCE_NAMES:
            continue
        if _QUANTITY.match(str(value)):
            found[name] = str(value)
        else:
            notes.append(Note(workload, f"resources.{where}.{name}", f"{value!r} is not a quantity: ignored"))
    return found


def resources(container: Obj, defaults: Resources, workload: str) -> tuple[Obj, list[Note]]:
    """Requests and limits, both always set: a missing limit comes from the platform's defaults (never below the
    request), a missing request is the limit (as Kubernetes does), and nothing at all is the defaults."""
    notes: list[Note] = []
    given = container.get("resources") or {}
    requests = _quantities(given.get("requests"), workload, "requests", notes)
    limits = _quantities(given.get("limits"), workload, "limits", notes)
    default_requests = defaults.requests.model_dump()
    default_limits = defaults.limits.model_dump()
    if not requests and not limits:
        notes.append(
            Note(
                workload,
                "resources",
                f"none set: filled from the platform's defaults (requests {_pair(default_requests)}, limits "
                f"{_pair(default_limits)}); size them from what it uses",
            )
        )
        return defaults.model_dump(), notes
    filled = []
    for name in RESOURCE_NAMES:
        if name not in limits:
            filled.append(name)
            limits[name] = default_limits[name]
        if name not in requests:
            requests[name] = limits[name] if name not in filled else default_requests[name]
        if parse_quantity(limits[name]) < parse_quantity(requests[name]):
            limits[name] = requests[name]
    if filled:
        notes.append(
            Note(
                workload,
                "resources.limits",
                f"no {' and '.join(filled)} limit: filled from the platform's defaults, at least the request "
                f"({_pair({n: limits[n] for n in filled})}); watch for throttling and OOM kills",
            )
        )
    return {"requests": requests, "limits": limits}, notes


def _pair(values: dict[str, str]) -> str:
    return ", ".join(f"{name} {value}" for name, value in values.items())


def describe_probe(probe: Obj) -> str:
    if (get := probe.get("httpGet")) is not None:
        host = f"{get['host']}:" if get.get("host") else "port "
        return f"GET {get.get('path', '/')} on {host}{get.get('port')}"
    if (command := (probe.get("exec") or {}).get("command")) is not None:
        return f"exec `{' '.join(str(part) for part in command)}`"
    if (socket := probe.get("tcpSocket")) is not None:
        return f"a TCP connection to port {socket.get('port')}"
    if (grpc := probe.get("grpc")) is not None:
        return f"gRPC health on port {grpc.get('port')}"
    return "an unknown check"


def checks_dependency(probe: Obj) -> bool:
    """Whether a probe reaches past the process: another host, or a path or command naming a dependency."""
    get = probe.get("httpGet") or {}
    if get.get("host") or (probe.get("tcpSocket") or {}).get("host"):
        return True
    words = " ".join([str(get.get("path", "")), *(str(p) for p in (probe.get("exec") or {}).get("command") or [])])
    return bool(_DEPENDENCY_WORDS.search(words))


def _timings(probe: Obj, field: str, workload: str, notes: list[Note]) -> Obj:
    kept: Obj = {}
    for name, (low, high) in PROBE_TIMINGS.items():
        if name not in probe:
            continue
        value = int(probe[name])
        bounded = min(max(value, low), high)
        if bounded != value:
            notes.append(Note(workload, f"{field}.{name}", f"{value} is outside {low}..{high}: {bounded}"))
        kept[name] = bounded
    return kept


def probes(container: Obj, workload: str) -> tuple[Obj, list[Note]]:
    """The probes' timings; the paths are the operator's (liveness and startup /healthz, readiness /readyz)."""
    notes: list[Note] = []
    kept: Obj = {}
    for probe_field, spec_field, path in PROBE_KINDS:
        probe = container.get(probe_field)
        operator_probe = f"the operator probes GET {path} on the http port"
        if probe is None:
            if spec_field != "startup":
                notes.append(
                    Note(
                        workload,
                        probe_field,
                        f"none: {operator_probe}; the service must answer there before the switch",
                    )
                )
            continue
        was = describe_probe(probe)
        if spec_field == "liveness" and checks_dependency(probe):
            notes.append(
                Note(
                    workload,
                    probe_field,
                    f"checked a dependency ({was}): replaced by the service's own {path}, which checks the process "
                    "only (a dependency outage must not restart healthy pods); its timings are not kept",
                )
            )
            continue
        timings = _timings(probe, probe_field, workload, notes)
        if timings:
            kept[spec_field] = timings
        if (probe.get("httpGet") or {}).get("path") != path:
            notes.append(
                Note(
                    workload,
                    probe_field,
                    f"was {was}: {operator_probe}; the service must answer there before the switch",
                )
            )
    return kept, notes


@dataclass
class Volumes:
    """Secret volumes become Key Vault objects (mounted under /mnt/secrets instead); everything else is dropped."""

    secrets: list[str] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)


def volumes(container: Obj, deployment: Obj, scope: Scope) -> Volumes:
    found = Volumes()
    by_name = {v.get("name"): v for v in pod_spec(deployment).get("volumes") or []}
    for mount in container.get("volumeMounts") or []:
        volume = by_name.get(mount.get("name")) or {}
        where = f"volume {mount.get('name')}"
        path = mount.get("mountPath")
        if (source := volume.get("secret")) is not None:
            _secret_volume(found, str(source.get("secretName", "")), source, str(path), where, scope)
        elif "configMap" in volume:
            found.notes.append(
                Note(
                    scope.workload,
                    where,
                    f"ConfigMap {volume['configMap'].get('name')} as files at {path}: not carried over (a DroneService "
                    "is configured through its environment only); bake the files into the image or move them to config",
                )
            )
        elif "emptyDir" in volume and path == "/tmp":
            continue
        else:
            kind = next((k for k in volume if k != "name"), "unknown")
            found.notes.append(
                Note(
                    scope.workload,
                    where,
                    f"{kind} at {path}: dropped; the root filesystem is read-only and only /tmp (64Mi) is writable, so "
                    "keep state in an Azure store",
                )
            )
    return found


def _secret_volume(found: Volumes, secret: str, source: Obj, path: str, where: str, scope: Scope) -> None:
    keys = [str(item.get("key")) for item in source.get("items") or []]
    if not keys:
        known = scope.secrets.get((scope.namespace, secret))
        if known is None:
            found.notes.append(
                Note(
                    scope.workload,
                    where,
                    f"Secret {secret} at {path}: not found among the objects read, so its keys are unknown and not "
                    "carried over; list them in spec.secrets",
                )
            )
            return
        keys = list(known.get("data") or {})
    names = [key_vault_name(scope.service, f"{secret}-{key}") for key in keys]
    found.secrets += names
    commands = "; ".join(
        f"kubectl get secret {secret} -n {scope.namespace} -o jsonpath='{{.data.{key.replace('.', chr(92) + '.')}}}' "
        f"| base64 -d | az keyvault secret set --vault-name {scope.key_vault} --name {name} --file /dev/stdin"
        for key, name in zip(keys, names, strict=True)
    )
    found.notes.append(
        Note(
            scope.workload,
            where,
            f"Secret {secret} at {path}: now Key Vault references {', '.join(names)}, mounted as files under "
            f"{SECRETS_DIR}/ (not {path}: the service must read them there). Copy the values: {commands}",
        )
    )


def hardening(deployment: Obj, container: Obj, workload: str) -> list[Note]:
    """What the Deployment allowed that the operator's hardened pod does not."""
    pod = pod_spec(deployment)
    context = (pod.get("securityContext") or {}) | (container.get("securityContext") or {})
    differences = []
    if context.get("privileged"):
        differences.append("privileged")
    if context.get("runAsUser") == 0 or context.get("runAsNonRoot") is False:
        differences.append("as root")
    if added := (context.get("capabilities") or {}).get("add"):
        differences.append(f"with capabilities {', '.join(added)}")
    differences += [f"on the host's {word}" for key, word in _HOST_NAMESPACES if pod.get(key)]
    if not context.get("readOnlyRootFilesystem"):
        differences.append("with a writable root filesystem")
    if not differences:
        return []
    return [
        Note(
            workload,
            "securityContext",
            f"ran {', '.join(differences)}: the operator runs it as uid 10001, non-root, unprivileged, without "
            "capabilities, on a read-only root (only /tmp is writable); check the image runs so",
        )
    ]


_HOST_NAMESPACES = (("hostNetwork", "network"), ("hostPID", "process namespace"), ("hostIPC", "IPC namespace"))


def interruptible(deployment: Obj, workload: str) -> tuple[bool, list[Note]]:
    """Spot nodes asked for (by selector, toleration or affinity) make the service interruptible; any other node
    choice is the platform's (spec.nodePlacement)."""
    pod = pod_spec(deployment)
    spot = SPOT_KEY in str(pod.get("nodeSelector")) + str(pod.get("tolerations")) + str(pod.get("affinity"))
    notes = []
    others = {k: v for k, v in (pod.get("nodeSelector") or {}).items() if k != SPOT_KEY}
    if others or (pod.get("affinity") and not spot):
        notes.append(
            Note(workload, "nodeSelector/affinity", "dropped: the platform's spec.nodePlacement decides the nodes")
        )
    return spot, notes
