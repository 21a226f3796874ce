"""The audit's rules as pure functions of Kubernetes objects: no file, no cluster, no clock.

`audit(objects)` indexes the objects once (HPA targets, PDB and NetworkPolicy selectors, quotas, ConfigMaps and
Secrets by namespace), then runs one small function per rule on each workload, each namespace that runs
workloads, and each other object. A function returns at most one finding for its object, whose detail names every
container or key concerned, so a report reads per object. Cross-object rules (no HPA, no PDB, no default deny, no
quota) see only what they are given: a folder of manifests or a whole cluster.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from cryptography import x509

from fabrikam.cli.audit.credentials import provider, secret_name, secret_value, secret_values, words
from fabrikam.cli.audit.deprecations import REMOVED_APIS, SEED_KUBERNETES
from fabrikam.cli.audit.findings import Finding, ObjectRef
from fabrikam.cli.audit.ignore import mark
from fabrikam.cli.audit.objects import (
    Cluster,
    Obj,
    Workload,
    mapping_at,
    mappings_at,
    ref,
    selects,
    value_at,
)
from fabrikam.cli.audit.rules import BY_ID, RULES

_SCALABLE = frozenset({"Deployment", "StatefulSet"})
SPOT_KEY = "kubernetes.azure.com/scalesetpriority"
WORKLOAD_IDENTITY_USE = "azure.workload.identity/use"
PSA_ENFORCE = "pod-security.kubernetes.io/enforce"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
# The operator's own development Secrets (no Key Vault there) are mounted as files by design: not the seed's problem.
_MANAGED_BY = "app.kubernetes.io/managed-by"
_OPERATOR = "fabrikam-operator"


def _join(items: Iterable[str]) -> str:
    return "; ".join(items)


# --- workload rules --------------------------------------------------------------------------------------------

WorkloadCheck = Callable[[Workload, Cluster], Finding | None]


def _security(container: Obj) -> Mapping[str, Any]:
    return mapping_at(container, "securityContext")


def default_namespace(w: Workload, c: Cluster) -> Finding | None:
    if w.ref.namespace != "default":
        return None
    return BY_ID["default-namespace"].finding(w.ref, "runs in the default namespace, beside every team's services")


def privileged(w: Workload, c: Cluster) -> Finding | None:
    names = [str(x.get("name")) for x in w.all_containers if _security(x).get("privileged") is True]
    if not names:
        return None
    return BY_ID["privileged"].finding(w.ref, f"privileged: true on container {', '.join(names)}")


def runs_as_root(w: Workload, c: Cluster) -> Finding | None:
    pod = mapping_at(w.spec, "securityContext")
    problems = []
    for container in w.all_containers:
        own = _security(container)
        user = own.get("runAsUser", pod.get("runAsUser"))
        non_root = own.get("runAsNonRoot", pod.get("runAsNonRoot"))
        if user == 0:
            problems.append(f"{container.get('name')}: runAsUser 0")
        elif not (isinstance(user, int) and user > 0) and non_root is not True:
            problems.append(f"{container.get('name')}: no runAsNonRoot nor non-zero runAsUser (the image's user, root)")
    if not problems:
        return None
    return BY_ID["runs-as-root"].finding(w.ref, _join(problems))


def added_capabilities(w: Workload, c: Cluster) -> Finding | None:
    added = []
    for container in w.all_containers:
        caps = [str(cap).upper() for cap in value_at(container, "securityContext", "capabilities", "add") or []]
        if caps:
            added.append(f"{container.get('name')}: adds {', '.join(caps)}")
    if not added:
        return None
    return BY_ID["added-capabilities"].finding(w.ref, _join(added))


def host_namespaces(w: Workload, c: Cluster) -> Finding | None:
    shared = [f"{key}: true" for key in ("hostNetwork", "hostPID", "hostIPC") if w.spec.get(key) is True]
    for container in w.all_containers:
        ports = [str(p["hostPort"]) for p in mappings_at(container, "ports") if p.get("hostPort")]
        if ports:
            shared.append(f"{container.get('name')}: hostPort {', '.join(ports)}")
    if not shared:
        return None
    return BY_ID["host-namespaces"].finding(w.ref, _join(shared))


def host_path(w: Workload, c: Cluster) -> Finding | None:
    volumes = [
        f"volume {v.get('name')} mounts {value_at(v, 'hostPath', 'path')} of the node"
        for v in mappings_at(w.spec, "volumes")
        if isinstance(v.get("hostPath"), Mapping)
    ]
    if not volumes:
        return None
    return BY_ID["host-path"].finding(w.ref, _join(volumes))


_CONFINED_SECCOMP = frozenset({"RuntimeDefault", "Localhost"})


def pod_security(w: Workload, c: Cluster) -> Finding | None:
    pod = mapping_at(w.spec, "securityContext")
    problems = []
    for container in w.all_containers:
        own = _security(container)
        missing = []
        if own.get("allowPrivilegeEscalation") is not False:
            missing.append("allowPrivilegeEscalation not false")
        if "ALL" not in [str(cap).upper() for cap in value_at(own, "capabilities", "drop") or []]:
            missing.append("capabilities not dropped (ALL)")
        seccomp = value_at(own, "seccompProfile", "type") or value_at(pod, "seccompProfile", "type")
        if seccomp not in _CONFINED_SECCOMP:
            missing.append("no RuntimeDefault seccomp profile")
        if own.get("readOnlyRootFilesystem") is not True:
            missing.append("writable root filesystem")
        if own.get("procMount") == "Unmasked":
            missing.append("procMount Unmasked")
        if missing:
            problems.append(f"{container.get('name')}: {', '.join(missing)}")
    if _token_mounted(w, c):
        problems.append("pod: service account token mounted (automountServiceAccountToken not false)")
    if not problems:
        return None
    return BY_ID["pod-security"].finding(w.ref, _join(problems))


def _token_mounted(w: Workload, c: Cluster) -> bool:
    if "automountServiceAccountToken" in w.spec:
        return w.spec["automountServiceAccountToken"] is not False
    account = c.service_accounts.get((w.ref.namespace, str(w.spec.get("serviceAccountName") or "default")))
    return account is None or account.get("automountServiceAccountToken") is not False


def _resources(w: Workload, section: str) -> list[str]:
    missing = []
    for container in w.containers:
        values = mapping_at(container, "resources", section)
        absent = [resource for resource in ("cpu", "memory") if values.get(resource) in (None, "")]
        if absent:
            missing.append(f"{container.get('name')}: no {' or '.join(absent)} {section}")
    return missing


def missing_requests(w: Workload, c: Cluster) -> Finding | None:
    missing = _resources(w, "requests")
    return BY_ID["missing-requests"].finding(w.ref, _join(missing)) if missing else None


def missing_limits(w: Workload, c: Cluster) -> Finding | None:
    missing = _resources(w, "limits")
    return BY_ID["missing-limits"].finding(w.ref, _join(missing)) if missing else None


def _missing_probe(w: Workload, probe: str, rule: str) -> Finding | None:
    if not w.long_running:
        return None
    names = [str(x.get("name")) for x in w.containers if not isinstance(x.get(probe), Mapping)]
    if not names:
        return None
    return BY_ID[rule].finding(w.ref, f"no {probe} on container {', '.join(names)}")


def missing_liveness_probe(w: Workload, c: Cluster) -> Finding | None:
    return _missing_probe(w, "livenessProbe", "missing-liveness-probe")


def missing_readiness_probe(w: Workload, c: Cluster) -> Finding | None:
    return _missing_probe(w, "readinessProbe", "missing-readiness-probe")


def missing_startup_probe(w: Workload, c: Cluster) -> Finding | None:
    return _missing_probe(w, "startupProbe", "missing-startup-probe")


_DEPENDENCY_WORDS = frozenset(
    [
        "db",
        "database",
        "databases",
        "sql",
        "mongo",
        "mongodb",
        "cosmos",
        "redis",
        "cache",
        "servicebus",
        "queue",
        "dependency",
        "dependencies",
        "deps",
        "deep",
        "upstream",
        "downstream",
        "external",
        "storage",
        "backend",
        "ready",
        "readyz",
        "readiness",
    ]
)

# Ports of the stores the seed's services use; a liveness probe on one the container does not serve checks a store.
_DEPENDENCY_PORTS = frozenset({1433, 3306, 5432, 5671, 5672, 6379, 6380, 9042, 10255, 27017})
_LOCAL_HOSTS = frozenset({"", "localhost", "127.0.0.1", "::1", "0.0.0.0"})
_DEPENDENCY_COMMAND = re.compile(
    r"(?i)(?:mongodb(?:\+srv)?|postgres(?:ql)?|rediss?|amqps?|sqlserver|mysql)://"
    r"|\.(?:database\.windows\.net|redis\.cache\.windows\.net|documents\.azure\.com|servicebus\.windows\.net)"
    r"|\b(?:sqlcmd|psql|pg_isready|mongo|mongosh|mysqladmin)\b"
)


def _probe_dependency(container: Obj) -> str | None:
    """Why a container's liveness probe checks something beyond its own process, or None."""
    probe = mapping_at(container, "livenessProbe")
    http = mapping_at(probe, "httpGet")
    if http:
        host = str(http.get("host") or "")
        if host not in _LOCAL_HOSTS:
            return f"httpGet to another host, {host}"
        path = str(http.get("path") or "")
        hits = sorted(set(words(path)) & _DEPENDENCY_WORDS)
        if hits:
            return f"httpGet {path} (checks {', '.join(hits)})"
    tcp = mapping_at(probe, "tcpSocket")
    if tcp:
        host = str(tcp.get("host") or "")
        own = {p.get("containerPort") for p in mappings_at(container, "ports")}
        if host not in _LOCAL_HOSTS:
            return f"tcpSocket to another host, {host}"
        if tcp.get("port") in _DEPENDENCY_PORTS and tcp.get("port") not in own:
            return f"tcpSocket port {tcp.get('port')}, a store's port the container does not serve"
    command = " ".join(str(part) for part in value_at(probe, "exec", "command") or [])
    if command and _DEPENDENCY_COMMAND.search(command):
        return f"exec `{command[:80]}` reaches a store"
    return None


def liveness_checks_dependencies(w: Workload, c: Cluster) -> Finding | None:
    reasons = [
        f"{container.get('name')}: {reason}"
        for container in w.containers
        if (reason := _probe_dependency(container)) is not None
    ]
    if not reasons:
        return None
    return BY_ID["liveness-checks-dependencies"].finding(w.ref, _join(reasons))


def no_hpa(w: Workload, c: Cluster) -> Finding | None:
    if w.kind not in _SCALABLE or (w.ref.namespace, w.kind, w.ref.name) in c.hpa_targets:
        return None
    replicas = value_at(w.obj, "spec", "replicas")
    count = f"replicas fixed at {replicas}" if replicas is not None else "replicas left at the default 1"
    return BY_ID["no-hpa"].finding(w.ref, f"{count}; no HorizontalPodAutoscaler targets it")


def no_pdb(w: Workload, c: Cluster) -> Finding | None:
    if w.kind not in _SCALABLE or any(selects(s, w.labels) for s in c.pdb_selectors.get(w.ref.namespace, [])):
        return None
    return BY_ID["no-pdb"].finding(w.ref, "no PodDisruptionBudget selects its pods: a drain may evict them all")


def _policy_types(policy: Obj) -> set[str]:
    declared = value_at(policy, "spec", "policyTypes")
    if isinstance(declared, list):
        return {str(t) for t in declared}
    return {"Ingress", "Egress"} if "egress" in mapping_at(policy, "spec") else {"Ingress"}


def no_network_policy(w: Workload, c: Cluster) -> Finding | None:
    covered: set[str] = set()
    for policy in c.policies.get(w.ref.namespace, []):
        if selects(value_at(policy, "spec", "podSelector") or {}, w.labels):
            covered |= _policy_types(policy)
    if {"Ingress", "Egress"} <= covered:
        return None
    if not covered:
        detail = "no NetworkPolicy selects its pods: any pod may reach them, they may reach anything"
    else:
        open_ = " and ".join(sorted({"Ingress", "Egress"} - covered)).lower()
        detail = f"NetworkPolicies restrict {' and '.join(sorted(covered)).lower()} only; {open_} is open"
    return BY_ID["no-network-policy"].finding(w.ref, detail)


def secret_in_env(w: Workload, c: Cluster) -> Finding | None:
    found = []
    for container in w.all_containers:
        for env in mappings_at(container, "env"):
            name, value = str(env.get("name", "")), env.get("value")
            if not isinstance(value, str) or not value or value.startswith("$("):
                continue
            if secret_name(name) or secret_value(value):
                who = provider(name)
                found.append(f"{container.get('name')}: {name}" + (f" ({who})" if who else ""))
    if not found:
        return None
    return BY_ID["secret-in-env"].finding(w.ref, _join(found) + " written in the manifest")


def secret_env_from_secret(w: Workload, c: Cluster) -> Finding | None:
    found = []
    for container in w.all_containers:
        for env in mappings_at(container, "env"):
            key = mapping_at(env, "valueFrom", "secretKeyRef")
            if key:
                found.append(f"{container.get('name')}: {env.get('name')} from Secret {key.get('name')}")
        for source in mappings_at(container, "envFrom"):
            secret = mapping_at(source, "secretRef")
            if secret:
                found.append(f"{container.get('name')}: every key of Secret {secret.get('name')}")
    if not found:
        return None
    return BY_ID["secret-env-from-secret"].finding(w.ref, _join(found))


def _image_tag(image: str) -> tuple[str | None, bool]:
    """The tag of an image reference (None when absent) and whether it is pinned by digest."""
    if "@" in image:
        return None, True
    last = image.rsplit("/", 1)[-1]
    return (last.split(":", 1)[1] if ":" in last else None), False


def image_latest(w: Workload, c: Cluster) -> Finding | None:
    found = []
    for container in w.all_containers:
        image = str(container.get("image") or "")
        tag, pinned = _image_tag(image)
        if image and not pinned and tag in (None, "latest"):
            found.append(f"{container.get('name')}: {image}" + ("" if tag else " (no tag: latest)"))
    return BY_ID["image-latest"].finding(w.ref, _join(found)) if found else None


def image_not_pinned(w: Workload, c: Cluster) -> Finding | None:
    found = []
    for container in w.all_containers:
        image = str(container.get("image") or "")
        tag, pinned = _image_tag(image)
        if image and not pinned and tag not in (None, "latest"):
            found.append(f"{container.get('name')}: {image}")
    return BY_ID["image-not-pinned"].finding(w.ref, _join(found) + " (a tag, no digest)") if found else None


def _affinity_for_spot(spec: Mapping[str, Any]) -> bool:
    affinity = mapping_at(spec, "affinity", "nodeAffinity")
    terms = [
        *mappings_at(affinity, "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms"),
        *(
            mapping_at(p, "preference")
            for p in mappings_at(affinity, "preferredDuringSchedulingIgnoredDuringExecution")
        ),
    ]
    return any(
        e.get("key") == SPOT_KEY and e.get("operator") == "In" and "spot" in (e.get("values") or [])
        for term in terms
        for e in mappings_at(term, "matchExpressions")
    )


def spot_placement(w: Workload, c: Cluster) -> Finding | None:
    tolerations = mappings_at(w.spec, "tolerations")
    everything = any(not t.get("key") and t.get("operator") == "Exists" for t in tolerations)
    spot = everything or any(t.get("key") == SPOT_KEY for t in tolerations)
    selected = mapping_at(w.spec, "nodeSelector").get(SPOT_KEY) == "spot"
    steered = selected or _affinity_for_spot(w.spec)
    if selected and not spot:
        detail = (
            f"nodeSelector {SPOT_KEY}=spot without a toleration of the spot taint: it schedules only because the "
            "spot nodes carry no taint, so any other pod can land on them too"
        )
    elif everything:
        detail = "tolerates every taint (operator Exists, no key): it can land on spot nodes and any dedicated pool"
    elif spot and not steered:
        detail = "tolerates the spot taint but neither prefers nor requires spot nodes: evictable by chance"
    else:
        return None
    return BY_ID["spot-placement"].finding(w.ref, detail)


def no_workload_identity(w: Workload, c: Cluster) -> Finding | None:
    """Deployments only: the seed's microservices; batch jobs and stores seldom call Azure themselves."""
    if w.kind != "Deployment" or w.labels.get(WORKLOAD_IDENTITY_USE) == "true":
        return None
    detail = f"pods lack the {WORKLOAD_IDENTITY_USE}=true label: no identity of their own, so shared secrets"
    return BY_ID["no-workload-identity"].finding(w.ref, detail)


_TELEMETRY = frozenset(
    {
        "APPLICATIONINSIGHTS_CONNECTION_STRING",
        "APPINSIGHTS_INSTRUMENTATIONKEY",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    }
)


def no_telemetry(w: Workload, c: Cluster) -> Finding | None:
    """Deployments (the seed's microservices) only, and only where every environment source is known: a ConfigMap
    or Secret outside the input could set the exporter."""
    if w.kind != "Deployment":
        return None
    for container in w.containers:
        if any(str(env.get("name")) in _TELEMETRY for env in mappings_at(container, "env")):
            return None
        for source in mappings_at(container, "envFrom"):
            keys = _env_source_keys(source, w.ref.namespace, c)
            if keys is None or _TELEMETRY & keys:
                return None
    detail = "no container sets APPLICATIONINSIGHTS_CONNECTION_STRING or OTEL_EXPORTER_OTLP_ENDPOINT"
    return BY_ID["no-telemetry"].finding(w.ref, detail)


def _env_source_keys(source: Obj, namespace: str | None, c: Cluster) -> set[str] | None:
    """The variables an envFrom entry sets, or None when its ConfigMap or Secret is not in the input."""
    if "configMapRef" in source:
        found = c.config_maps.get((namespace, str(value_at(source, "configMapRef", "name"))))
        return None if found is None else {str(key) for key in mapping_at(found, "data")}
    found = c.secrets.get((namespace, str(value_at(source, "secretRef", "name"))))
    return None if found is None else set(secret_values(found))


WORKLOAD_CHECKS: tuple[WorkloadCheck, ...] = (
    default_namespace,
    privileged,
    runs_as_root,
    added_capabilities,
    host_namespaces,
    host_path,
    pod_security,
    missing_requests,
    missing_limits,
    missing_liveness_probe,
    missing_readiness_probe,
    missing_startup_probe,
    liveness_checks_dependencies,
    no_hpa,
    no_pdb,
    no_network_policy,
    secret_in_env,
    secret_env_from_secret,
    image_latest,
    image_not_pinned,
    spot_placement,
    no_workload_identity,
    no_telemetry,
)


# --- namespace rules -------------------------------------------------------------------------------------------

NamespaceCheck = Callable[[str, Cluster], Finding | None]


def _namespace(name: str) -> ObjectRef:
    return ObjectRef("Namespace", None, name, "v1")


def _denies_all(policy: Obj) -> set[str]:
    """The directions a policy denies for every pod of its namespace: empty selector, no allow rule."""
    spec = mapping_at(policy, "spec")
    if mapping_at(spec, "podSelector", "matchLabels") or mappings_at(spec, "podSelector", "matchExpressions"):
        return set()
    return {t for t in _policy_types(policy) if not spec.get(t.lower())}


def no_default_deny(namespace: str, c: Cluster) -> Finding | None:
    denied: set[str] = set()
    for policy in c.policies.get(namespace, []):
        denied |= _denies_all(policy)
    if {"Ingress", "Egress"} <= denied:
        return None
    if denied:
        detail = f"the default deny covers {next(iter(denied)).lower()} only"
    else:
        detail = "no NetworkPolicy with an empty podSelector denies ingress and egress by default"
    return BY_ID["no-default-deny"].finding(_namespace(namespace), detail)


def no_resource_quota(namespace: str, c: Cluster) -> Finding | None:
    if namespace in c.quotas:
        return None
    return BY_ID["no-resource-quota"].finding(_namespace(namespace), "runs workloads without a ResourceQuota")


def no_limit_range(namespace: str, c: Cluster) -> Finding | None:
    if namespace in c.limit_ranges:
        return None
    detail = "no LimitRange: a container without resources runs unbounded"
    return BY_ID["no-limit-range"].finding(_namespace(namespace), detail)


def no_pod_security_admission(namespace: str, c: Cluster) -> Finding | None:
    """Only where the Namespace object was read: manifests seldom declare `default`."""
    obj = c.namespaces.get(namespace)
    if obj is None:
        return None
    level = mapping_at(obj, "metadata", "labels").get(PSA_ENFORCE)
    if level in ("baseline", "restricted"):
        return None
    detail = f"{PSA_ENFORCE}={level}" if level else f"no {PSA_ENFORCE} label: any pod is admitted"
    return BY_ID["no-pod-security-admission"].finding(ref(obj), detail)


NAMESPACE_CHECKS: tuple[NamespaceCheck, ...] = (
    no_default_deny,
    no_resource_quota,
    no_limit_range,
    no_pod_security_admission,
)


# --- other objects ---------------------------------------------------------------------------------------------

ObjectCheck = Callable[[Obj, Cluster], Finding | None]


_APPLIED_VERSION = re.compile(r'"apiVersion"\s*:\s*"([^"]+)"')


def deprecated_api(obj: Obj, c: Cluster) -> Finding | None:
    """The object's own apiVersion, or on a live object the one `kubectl apply` recorded (the server converts)."""
    kind = str(obj.get("kind"))
    versions = [str(obj.get("apiVersion"))]
    applied = mapping_at(obj, "metadata", "annotations").get(LAST_APPLIED)
    if isinstance(applied, str) and (match := _APPLIED_VERSION.search(applied)):
        versions.append(match.group(1))
    for version in versions:
        if (version, kind) not in REMOVED_APIS:
            continue
        (major, minor), use = REMOVED_APIS[version, kind]
        if (major, minor) <= SEED_KUBERNETES:
            when = f"no longer served since Kubernetes {major}.{minor}: the seed's 1.28 refuses it as written"
        else:
            when = f"deprecated, no longer served from Kubernetes {major}.{minor}"
        detail = f"{version} {kind} is {when}; use {use}"
        return BY_ID["deprecated-api"].finding(ref(obj), detail)
    return None


def secret_in_configmap(obj: Obj, c: Cluster) -> Finding | None:
    keys = [
        str(key)
        for key, value in mapping_at(obj, "data").items()
        if isinstance(value, str) and value and (secret_name(str(key)) or secret_value(value))
    ]
    if not keys:
        return None
    return BY_ID["secret-in-configmap"].finding(ref(obj), f"keys {', '.join(keys)} hold credentials in plain text")


# Secret types that are not application credentials: certificates, registry pulls, tokens the cluster issues, Helm.
_NOT_CREDENTIALS = frozenset(
    {
        "kubernetes.io/tls",
        "kubernetes.io/service-account-token",
        "kubernetes.io/dockerconfigjson",
        "kubernetes.io/dockercfg",
        "bootstrap.kubernetes.io/token",
        "helm.sh/release.v1",
    }
)


def _credential_secret(obj: Obj) -> bool:
    operators = mapping_at(obj, "metadata", "labels").get(_MANAGED_BY) == _OPERATOR
    return str(obj.get("type") or "Opaque") not in _NOT_CREDENTIALS and not operators


def _third_party_keys(obj: Obj) -> list[str]:
    name = str(value_at(obj, "metadata", "name") or "")
    found = []
    for key, value in secret_values(obj).items():
        who = provider(key) or provider(name) or ("SendGrid" if value.startswith("SG.") else None)
        if who is not None:
            found.append(f"{key} ({who})")
    return found


def third_party_key_in_secret(obj: Obj, c: Cluster) -> Finding | None:
    keys = _third_party_keys(obj) if _credential_secret(obj) else []
    if not keys:
        return None
    return BY_ID["third-party-key-in-secret"].finding(ref(obj), f"keys {', '.join(keys)}")


def shared_secret_in_secret(obj: Obj, c: Cluster) -> Finding | None:
    if not _credential_secret(obj):
        return None
    third_party = {key.split(" ", 1)[0] for key in _third_party_keys(obj)}
    keys = [
        key
        for key, value in secret_values(obj).items()
        if key not in third_party and (secret_name(key) or secret_value(value))
    ]
    if not keys:
        return None
    return BY_ID["shared-secret-in-secret"].finding(ref(obj), f"keys {', '.join(keys)} in a Kubernetes Secret")


def _wildcard(role: Obj | None) -> bool:
    return role is not None and any(
        "*" in (r.get("apiGroups") or []) and "*" in (r.get("resources") or []) and "*" in (r.get("verbs") or [])
        for r in mappings_at(role, "rules")
    )


def cluster_admin_binding(obj: Obj, c: Cluster) -> Finding | None:
    """Kubernetes' own bindings (`cluster-admin` to system:masters, `system:*`) are not the teams' access."""
    name = str(value_at(obj, "metadata", "name") or "")
    role = mapping_at(obj, "roleRef")
    if name == "cluster-admin" or name.startswith("system:") or role.get("kind") != "ClusterRole":
        return None
    role_name = str(role.get("name"))
    if role_name != "cluster-admin" and not _wildcard(c.cluster_roles.get(role_name)):
        return None
    subjects = [
        f"{s.get('kind')} {s.get('name')}"
        for s in mappings_at(obj, "subjects")
        if not str(s.get("name", "")).startswith("system:")
    ]
    if not subjects:
        return None
    return BY_ID["cluster-admin-binding"].finding(ref(obj), f"binds {role_name} to {', '.join(subjects)}")


def _ports(obj: Obj) -> str:
    return ", ".join(str(p.get("nodePort") or p.get("port")) for p in mappings_at(obj, "spec", "ports"))


def load_balancer_service(obj: Obj, c: Cluster) -> Finding | None:
    if value_at(obj, "spec", "type") != "LoadBalancer":
        return None
    internal = mapping_at(obj, "metadata", "annotations").get("service.beta.kubernetes.io/azure-load-balancer-internal")
    reach = "an internal load balancer" if internal == "true" else "a public IP"
    detail = f"type LoadBalancer: ports {_ports(obj)} on {reach}, past the ingress (no TLS, no WAF, no rate limit)"
    return BY_ID["load-balancer-service"].finding(ref(obj), detail)


def node_port_service(obj: Obj, c: Cluster) -> Finding | None:
    if value_at(obj, "spec", "type") != "NodePort":
        return None
    detail = f"type NodePort: ports {_ports(obj)} open on every node, past the ingress"
    return BY_ID["node-port-service"].finding(ref(obj), detail)


def ingress_no_tls(obj: Obj, c: Cluster) -> Finding | None:
    tls = mappings_at(obj, "spec", "tls")
    covered = {str(h) for entry in tls for h in entry.get("hosts") or []}
    hosts = sorted({str(r.get("host")) for r in mappings_at(obj, "spec", "rules") if r.get("host")})
    if not tls:
        detail = "no spec.tls: served over plain HTTP"
    elif uncovered := [h for h in hosts if h not in covered]:
        detail = f"hosts {', '.join(uncovered)} have no TLS entry"
    else:
        return None
    return BY_ID["ingress-no-tls"].finding(ref(obj), detail)


_ISSUER_ANNOTATIONS = ("cert-manager.io/cluster-issuer", "cert-manager.io/issuer")
# AKS application routing renews certificates it reads from Key Vault.
_ROTATING_ANNOTATIONS = (*_ISSUER_ANNOTATIONS, "kubernetes.azure.com/tls-cert-keyvault-uri")


def _certificate(secret: Obj | None) -> x509.Certificate | None:
    if secret is None:
        return None
    text = secret_values(secret).get("tls.crt", "")
    if "BEGIN CERTIFICATE" not in text:
        return None
    try:
        return x509.load_pem_x509_certificate(text.encode())
    except ValueError:
        return None


def _tls_secrets(obj: Obj, c: Cluster) -> list[tuple[str, x509.Certificate | None]]:
    namespace = ref(obj).namespace
    names = [str(t["secretName"]) for t in mappings_at(obj, "spec", "tls") if t.get("secretName")]
    return [(name, _certificate(c.secrets.get((namespace, name)))) for name in names]


def ingress_self_signed(obj: Obj, c: Cluster) -> Finding | None:
    annotations = mapping_at(obj, "metadata", "annotations")
    found = [
        f"Secret {name}: {cert.subject.rfc4514_string()} signed by itself"
        for name, cert in _tls_secrets(obj, c)
        if cert is not None and cert.issuer == cert.subject
    ]
    for annotation, scope in zip(_ISSUER_ANNOTATIONS, (None, ref(obj).namespace), strict=True):
        issuer = c.issuers.get((scope, str(annotations.get(annotation))))
        if issuer is not None and "selfSigned" in mapping_at(issuer, "spec"):
            found.append(f"{annotation} {annotations[annotation]} is a selfSigned issuer")
    if not found:
        return None
    return BY_ID["ingress-self-signed"].finding(ref(obj), _join(found))


def ingress_cert_not_rotated(obj: Obj, c: Cluster) -> Finding | None:
    annotations = mapping_at(obj, "metadata", "annotations")
    if not mappings_at(obj, "spec", "tls") or any(a in annotations for a in _ROTATING_ANNOTATIONS):
        return None
    if annotations.get("kubernetes.io/tls-acme") == "true":
        return None
    expiries = [
        f"Secret {name} expires {cert.not_valid_after_utc.date().isoformat()}"
        for name, cert in _tls_secrets(obj, c)
        if cert is not None
    ]
    detail = "no cert-manager issuer annotation: the certificate is renewed by hand, or not at all"
    return BY_ID["ingress-cert-not-rotated"].finding(ref(obj), _join([detail, *expiries]))


def spot_node_untainted(obj: Obj, c: Cluster) -> Finding | None:
    if mapping_at(obj, "metadata", "labels").get(SPOT_KEY) != "spot":
        return None
    if any(
        t.get("key") == SPOT_KEY and t.get("effect") in ("NoSchedule", "NoExecute")
        for t in mappings_at(obj, "spec", "taints")
    ):
        return None
    detail = f"labelled {SPOT_KEY}=spot without the NoSchedule taint: any pod may be scheduled on an evictable node"
    return BY_ID["spot-node-untainted"].finding(ref(obj), detail)


OBJECT_CHECKS: dict[str, tuple[ObjectCheck, ...]] = {
    "ConfigMap": (secret_in_configmap,),
    "Secret": (third_party_key_in_secret, shared_secret_in_secret),
    "ClusterRoleBinding": (cluster_admin_binding,),
    "RoleBinding": (cluster_admin_binding,),
    "Service": (load_balancer_service, node_port_service),
    "Ingress": (ingress_no_tls, ingress_self_signed, ingress_cert_not_rotated),
    "Node": (spot_node_untainted,),
}
EVERY_OBJECT_CHECKS: tuple[ObjectCheck, ...] = (deprecated_api,)

_ORDER = {rule.id: index for index, rule in enumerate(RULES)}


def _sort_key(finding: Finding) -> tuple[str, str, str, int]:
    where = finding.object
    return (where.namespace or "", where.kind, where.name, _ORDER[finding.rule])


def audit(objects: Iterable[dict[str, Any]]) -> list[Finding]:
    """Every problem of the seed's list that the objects show, ordered by namespace, object and rule; those an
    object's annotation accepts are marked `ignored` (ignore.py)."""
    cluster = Cluster.of(objects)
    findings: list[Finding | None] = []
    for workload in cluster.workloads:
        findings.extend(check(workload, cluster) for check in WORKLOAD_CHECKS)
    for namespace in cluster.workload_namespaces():
        findings.extend(check(namespace, cluster) for check in NAMESPACE_CHECKS)
    for obj in cluster.objects:
        for object_check in (*EVERY_OBJECT_CHECKS, *OBJECT_CHECKS.get(str(obj.get("kind")), ())):
            findings.append(object_check(obj, cluster))
    return mark(sorted((f for f in findings if f is not None), key=_sort_key), cluster.objects)
