"""Where the audited objects come from: manifest files and folders, stdin (`helm template ... | fabrikam audit -`),
or a live cluster through a kubeconfig. All the I/O of the audit is here; the checks only see dicts.

A manifest document keeps its file and line, so SARIF points code scanning at it. A bad document is an error naming
its file, document number and line, never a silent skip: an audit that quietly read less would pass a CI gate.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import yaml

from fabrikam.cli.audit.findings import Location, ObjectRef
from fabrikam.cli.audit.objects import CLUSTER_SCOPED, ref

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
STDIN = "-"
# AKS manages these; their workloads are not the platform's (`--namespace kube-system` still audits one).
SYSTEM_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease"})
_HELM_SOURCE = re.compile(r"^# Source: (\S.*)$")
# libyaml when the wheel has it: ten times PyPyaml's pure-Python parser, which matters for `helm template` output.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class SourceError(Exception):
    """Input that cannot be audited; the message names the file, document or API server and what is wrong."""


@dataclass(frozen=True)
class Document:
    object: dict[str, Any]
    location: Location | None = None


@dataclass
class Read:
    """What a source yielded; `notes` says what it could not read (a resource the credentials may not list)."""

    documents: list[Document] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def objects(self) -> list[dict[str, Any]]:
        return [d.object for d in self.documents]


# --- manifests -------------------------------------------------------------------------------------------------


def read_manifests(paths: Sequence[str], *, stdin: TextIO | None = None, namespace: str | None = None) -> Read:
    """Every object of the files (folders recursively, sorted; `-` for stdin), `List`s unpacked. `namespace` is
    given to namespaced objects that name none, as `kubectl apply -n` would (default: `default`)."""
    read = Read()
    for path in paths:
        if path == STDIN:
            text = (stdin.read() if stdin is not None else "") or ""
            read.documents.extend(parse(text, "<stdin>", helm_sources=True))
            continue
        for file in _files(Path(path)):
            try:
                text = file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as error:
                raise SourceError(f"{file}: cannot read: {error}") from error
            read.documents.extend(parse(text, str(file)))
    if namespace is not None:
        read.documents = [_in_namespace(d, namespace) for d in read.documents]
    return read


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(
            p
            for p in path.rglob("*")
            if p.is_file() and p.suffix in MANIFEST_SUFFIXES and not any(part.startswith(".") for part in p.parts)
        )
    if not path.exists():
        raise SourceError(f"{path}: no such file or folder")
    return [path]


def _in_namespace(document: Document, namespace: str) -> Document:
    obj = document.object
    metadata = obj.get("metadata") or {}
    if obj.get("kind") in CLUSTER_SCOPED or metadata.get("namespace"):
        return document
    return Document({**obj, "metadata": {**metadata, "namespace": namespace}}, document.location)


def parse(text: str, source: str, *, helm_sources: bool = False) -> list[Document]:
    """The objects of a multi-document YAML (or JSON) text, each with the line it starts on. With `helm_sources`,
    a document's location is the template `helm template` names in its `# Source:` comment, when there is one."""
    sources = _helm_sources(text) if helm_sources else []
    documents: list[Document] = []
    loader = _Loader(text)
    index = 0
    try:
        while loader.check_node():
            node = loader.get_node()
            index += 1
            if node is None:
                continue
            line = node.start_mark.line + 1
            data = loader.construct_document(node)
            if data is None:
                continue
            where = _location(source, line, sources)
            for obj, item_line in _unpack(data, node, line, f"{source}: document {index} (line {line})"):
                documents.append(Document(obj, Location(where.path, item_line if where.line else None)))
    except yaml.YAMLError as error:
        hint = " (a Helm template? render it: helm template ... | fabrikam audit -)" if "{{" in text else ""
        raise SourceError(f"{source}: document {index + 1}: not valid YAML: {error}{hint}") from error
    finally:
        loader.dispose()
    return documents


def _helm_sources(text: str) -> list[tuple[int, str]]:
    return [
        (number, match.group(1))
        for number, line in enumerate(text.splitlines(), start=1)
        if (match := _HELM_SOURCE.match(line))
    ]


def _location(source: str, line: int, helm: list[tuple[int, str]]) -> Location:
    template = next((path for number, path in reversed(helm) if number < line), None)
    return Location(template, None) if template else Location(source, line)


def _unpack(data: Any, node: Any, line: int, where: str) -> Iterable[tuple[dict[str, Any], int]]:
    """The document's object, or a `List`'s items (each with its own line)."""
    if not isinstance(data, dict):
        raise SourceError(f"{where}: not a Kubernetes object (a mapping with apiVersion, kind and metadata)")
    if str(data.get("kind", "")).endswith("List") and isinstance(data.get("items"), list):
        lines = _item_lines(node)
        for position, item in enumerate(data["items"]):
            item_line = lines[position] if position < len(lines) else line
            yield from _unpack(item, None, item_line, f"{where} item {position + 1}")
        return
    _validate(data, where)
    yield data, line


def _item_lines(node: Any) -> list[int]:
    for key, value in getattr(node, "value", []):
        if getattr(key, "value", None) == "items" and isinstance(value, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in value.value]
    return []


def _validate(obj: dict[str, Any], where: str) -> None:
    metadata = obj.get("metadata")
    missing = [key for key in ("apiVersion", "kind") if not isinstance(obj.get(key), str) or not obj[key]]
    if not isinstance(metadata, dict) or not (metadata.get("name") or metadata.get("generateName")):
        missing.append("metadata.name")
    if missing:
        raise SourceError(f"{where}: not a Kubernetes object: no {', '.join(missing)}")


def locations(documents: Iterable[Document]) -> dict[ObjectRef, Location]:
    """Where each object was read; a namespace the input does not declare points at its first object, so a
    namespace-wide finding (no default deny, no quota) still has a line for code scanning to show."""
    found: dict[ObjectRef, Location] = {}
    for document in documents:
        if document.location is None:
            continue
        where = ref(document.object)
        found[where] = document.location
        if where.namespace is not None:
            found.setdefault(ObjectRef("Namespace", None, where.namespace, "v1"), document.location)
    return found


# --- a live cluster --------------------------------------------------------------------------------------------

# (path of the group version, resource, namespaced): every kind a rule reads. Pods, ReplicaSets and Jobs owned by a
# controller are left to their owner by the checks.
RESOURCES: tuple[tuple[str, str, bool], ...] = (
    ("/api/v1", "pods", True),
    ("/api/v1", "services", True),
    ("/api/v1", "configmaps", True),
    ("/api/v1", "secrets", True),
    ("/api/v1", "serviceaccounts", True),
    ("/api/v1", "resourcequotas", True),
    ("/api/v1", "limitranges", True),
    ("/api/v1", "nodes", False),
    ("/apis/apps/v1", "deployments", True),
    ("/apis/apps/v1", "statefulsets", True),
    ("/apis/apps/v1", "daemonsets", True),
    ("/apis/apps/v1", "replicasets", True),
    ("/apis/batch/v1", "jobs", True),
    ("/apis/batch/v1", "cronjobs", True),
    ("/apis/autoscaling/v2", "horizontalpodautoscalers", True),
    ("/apis/policy/v1", "poddisruptionbudgets", True),
    ("/apis/networking.k8s.io/v1", "networkpolicies", True),
    ("/apis/networking.k8s.io/v1", "ingresses", True),
    ("/apis/rbac.authorization.k8s.io/v1", "clusterroles", False),
    ("/apis/rbac.authorization.k8s.io/v1", "clusterrolebindings", False),
    ("/apis/rbac.authorization.k8s.io/v1", "rolebindings", True),
    ("/apis/cert-manager.io/v1", "issuers", True),
    ("/apis/cert-manager.io/v1", "clusterissuers", False),
)
_PAGE = 500


class ApiStatus(Exception):
    """The API server answered a list with an HTTP error status."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status, self.reason = status, reason


Fetch = Callable[[str, dict[str, str]], dict[str, Any]]


def read_cluster(kubeconfig: Path | None, context: str | None, namespace: str | None) -> Read:
    """Every object the rules read, from the cluster of the kubeconfig (`$KUBECONFIG` or ~/.kube/config, else the
    in-cluster service account); `namespace` narrows the namespaced ones, else kube-* namespaces are left out."""
    fetch, server = _client(kubeconfig, context)
    try:
        return collect(fetch, namespace)
    except OSError as error:
        raise SourceError(f"cannot reach the API server at {server}: {error}") from error


def collect(fetch: Fetch, namespace: str | None) -> Read:
    """The listing itself, over any `fetch(path, query) -> JSON`: a resource the credentials may not list, or the
    cluster does not serve (cert-manager's), is a note rather than a failure."""
    read = Read()
    for group, resource, namespaced in RESOURCES:
        path = f"{group}/namespaces/{namespace}/{resource}" if namespaced and namespace else f"{group}/{resource}"
        try:
            objects = _list_all(fetch, path)
        except ApiStatus as error:
            if error.status != 404:
                read.notes.append(f"not audited: {resource} ({error})")
            continue
        read.documents.extend(Document(obj) for obj in objects if _audited(obj, namespace))
    try:
        if namespace:
            read.documents.append(Document(_lean(fetch(f"/api/v1/namespaces/{namespace}", {}))))
        else:
            read.documents.extend(Document(o) for o in _list_all(fetch, "/api/v1/namespaces") if _audited(o, None))
    except ApiStatus as error:
        read.notes.append(f"not audited: namespaces ({error})")
    return read


def _list_all(fetch: Fetch, path: str) -> list[dict[str, Any]]:
    """All pages of a list; the items lack kind and apiVersion, which the list itself names."""
    items: list[dict[str, Any]] = []
    query = {"limit": str(_PAGE)}
    while True:
        page = fetch(path, query)
        kind = str(page.get("kind", "")).removesuffix("List")
        version = str(page.get("apiVersion", ""))
        items.extend({"apiVersion": version, "kind": kind, **_lean(item)} for item in page.get("items") or [])
        token = (page.get("metadata") or {}).get("continue")
        if not token:
            return items
        query = {"limit": str(_PAGE), "continue": str(token)}


def _lean(obj: dict[str, Any]) -> dict[str, Any]:
    """Without managedFields: the bulk of a live object, and nothing a rule reads."""
    metadata = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "managedFields"}
    return {**obj, "metadata": metadata}


def _audited(obj: dict[str, Any], namespace: str | None) -> bool:
    if namespace is not None:
        return True
    metadata = obj.get("metadata") or {}
    name = metadata.get("name") if obj.get("kind") == "Namespace" else metadata.get("namespace")
    return name not in SYSTEM_NAMESPACES


def _client(kubeconfig: Path | None, context: str | None) -> tuple[Fetch, str]:
    """A GET through the official client's configuration (exec plugins, client certificates, tokens)."""
    from kubernetes import client as k8s  # the generated client is heavy: loaded only for a live audit
    from kubernetes import config as k8s_config
    from kubernetes.config.config_exception import ConfigException
    from urllib3.exceptions import HTTPError

    configuration = k8s.Configuration()
    named = kubeconfig is not None or context is not None or "KUBECONFIG" in os.environ
    in_pod = "KUBERNETES_SERVICE_HOST" in os.environ and not Path("~/.kube/config").expanduser().exists()
    try:
        if in_pod and not named:
            k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        else:
            k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=str(kubeconfig) if kubeconfig else None, context=context, client_configuration=configuration
            )
    except (ConfigException, OSError) as error:
        raise SourceError(f"kubeconfig {kubeconfig or '$KUBECONFIG or ~/.kube/config'}: {error}") from error
    api = k8s.ApiClient(configuration)

    def fetch(path: str, query: dict[str, str]) -> dict[str, Any]:
        method, url, headers, _, _ = api.param_serialize(
            "GET",
            path,
            query_params=list(query.items()),
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
        )
        try:
            response = api.call_api(method, url, headers, _request_timeout=30)
        except HTTPError as error:  # urllib3's: a refused connection, a TLS failure, a timeout
            raise OSError(str(error)) from error
        body = response.read()  # type: ignore[no-untyped-call]
        if not 200 <= response.status < 300:
            raise ApiStatus(response.status, str(response.reason or ""))
        page: dict[str, Any] = json.loads(body)
        return page

    return fetch, str(configuration.host)
