"""Where the objects to adopt come from: the audit's readers (`fabrikam.cli.audit.sources`: manifests, folders,
stdin such as `helm template` output, a live cluster), narrowed to what adoption reads. A Secret's values never leave
this module: only its name and keys do, so nothing downstream can copy one."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TextIO

from fabrikam.cli.adopt.convert import NOT_ADOPTED_KINDS
from fabrikam.cli.audit import sources as audit_sources
from fabrikam.cli.audit.sources import SourceError

__all__ = ["KINDS", "LAST_APPLIED", "SourceError", "adoptable", "read_cluster", "read_manifests", "redact_secret"]

Obj = dict[str, Any]
# Everything adoption reads: the workloads, their autoscalers, the Services and Ingresses that route to them, and
# the ConfigMaps and Secrets their environment comes from; the other workloads only to say they stay behind.
KINDS = ("Deployment", "HorizontalPodAutoscaler", "Service", "Ingress", "ConfigMap", "Secret", *NOT_ADOPTED_KINDS)
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def redact_secret(secret: Obj) -> Obj:
    """The Secret as adoption may see it: name, labels and keys, every value emptied (kubectl's last-applied
    annotation, which holds the values too, is dropped with the rest of the metadata)."""
    metadata = secret.get("metadata") or {}
    keys = {*(secret.get("data") or {}), *(secret.get("stringData") or {})}
    return {
        "apiVersion": secret.get("apiVersion", "v1"),
        "kind": "Secret",
        "metadata": {k: metadata[k] for k in ("name", "namespace", "labels") if k in metadata},
        "type": secret.get("type", "Opaque"),
        "data": dict.fromkeys(sorted(keys), ""),
    }


def adoptable(objects: Iterable[Obj]) -> list[Obj]:
    """The objects adoption reads, Secrets redacted, kubectl's last-applied annotation (a copy of the object, a
    Secret's values included) dropped."""
    kept: list[Obj] = []
    for obj in objects:
        if obj.get("kind") not in KINDS:
            continue
        if obj["kind"] == "Secret":
            kept.append(redact_secret(obj))
            continue
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        annotations.pop(LAST_APPLIED, None)
        kept.append(obj)
    return kept


def read_manifests(paths: Sequence[str], *, stdin: TextIO | None = None, namespace: str | None = None) -> list[Obj]:
    """The objects of every file, of every manifest in a folder (recursively), and of stdin for `-`; those that name
    no namespace are put in `namespace` (default: `default`)."""
    return adoptable(audit_sources.read_manifests(paths, stdin=stdin, namespace=namespace).objects)


def read_cluster(*, kubeconfig: Path | None, context: str | None, namespace: str | None) -> list[Obj]:
    """The objects of one namespace of a live cluster (the context's namespace, else `default`, when none is
    given). Secrets the credentials may not list are left out: adoption then says which keys it could not see."""
    if namespace is None:
        namespace = _context_namespace(kubeconfig, context)
    return adoptable(audit_sources.read_cluster(kubeconfig, context, namespace).objects)


def _context_namespace(kubeconfig: Path | None, context: str | None) -> str:
    from kubernetes import config as k8s_config  # the generated client is heavy: loaded only for a live read
    from kubernetes.config.config_exception import ConfigException

    try:
        contexts, active = k8s_config.list_kube_config_contexts(  # type: ignore[no-untyped-call]
            config_file=str(kubeconfig) if kubeconfig else None
        )
    except (ConfigException, OSError) as error:
        raise SourceError(f"kubeconfig: {error}") from None
    chosen = next((c for c in contexts or [] if c.get("name") == context), None) if context else active
    return str(((chosen or {}).get("context") or {}).get("namespace") or "default")
