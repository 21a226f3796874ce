"""kubectl against a cluster, and what the API server's own /metrics say the operator wrote.

Shared by the demo, the integration tests and the operator benchmark, so they run the same pinned binary and count
writes the same way.
"""

import re
import shutil
import subprocess
from pathlib import Path

from fabrikam.devcluster import toolchain

WRITE_VERBS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Resources only the operator writes (status subresources of built-in kinds belong to the controllers).
OPERATOR_RESOURCES = frozenset(
    {
        "deliveryplatforms",
        "droneservices",
        "deployments",
        "services",
        "configmaps",
        "serviceaccounts",
        "networkpolicies",
        "horizontalpodautoscalers",
        "poddisruptionbudgets",
        "resourcequotas",
        "limitranges",
        "roles",
        "rolebindings",
        "ingresses",
        "secretproviderclasses",
    }
)
_OPERATOR_GROUP = "dronedelivery.fabrikam.io"
_REQUESTS = re.compile(r"^apiserver_request_total\{([^}]*)\} (\S+)$")
_LABEL = re.compile(r'(\w+)="([^"]*)"')


def run(kubeconfig: Path, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """The pinned kubectl (a kubectl on PATH when the cache has none), output captured as text."""
    pinned = toolchain.expected_binaries().kubectl
    binary = str(pinned) if pinned.exists() else (shutil.which("kubectl") or "kubectl")
    return subprocess.run(
        [binary, f"--kubeconfig={kubeconfig}", *args], input=input, capture_output=True, text=True, check=check
    )


def operator_writes(kubeconfig: Path) -> dict[str, int]:
    """Write requests the API server counted for the operator's resources, by "VERB resource/subresource"."""
    totals: dict[str, int] = {}
    for line in run(kubeconfig, "get", "--raw", "/metrics").stdout.splitlines():
        match = _REQUESTS.match(line)
        if not match:
            continue
        labels = dict(_LABEL.findall(match.group(1)))
        builtin_status = labels.get("subresource") == "status" and labels.get("group") != _OPERATOR_GROUP
        # TokenRequests (serviceaccounts/token) come from the controller manager refreshing its own tokens.
        others = builtin_status or labels.get("subresource") == "token"
        if labels.get("verb") in WRITE_VERBS and labels.get("resource") in OPERATOR_RESOURCES and not others:
            key = f"{labels['verb']} {labels['resource']}/{labels.get('subresource', '')}"
            totals[key] = totals.get(key, 0) + int(float(match.group(2)))
    return totals
