"""Generates config/ (plain kustomize YAML for GitOps repositories without Helm) from the Helm chart.

    .venv/bin/python hack/chart-config.py          # rewrite config/{rbac,manager,prometheus,default}
    .venv/bin/python hack/chart-config.py --check  # exit 1 with a diff when config/ no longer matches the chart

The chart is the single source: `helm template` with the default values, release fabrikam-operator in namespace
fabrikam-system, Helm's own labels replaced. config/crd/ is written by `fabrikam crds --write` with the CRDs.
"""

import argparse
import difflib
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from fabrikam.devcluster import toolchain

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "charts" / "operator"
CONFIG = ROOT / "config"
RELEASE = "fabrikam-operator"
NAMESPACE = "fabrikam-system"
OPERATOR_KEY = "fabrikam-operator-key"
HEADER = "# Generated from charts/operator by hack/chart-config.py: do not edit; see charts/operator/README.md.\n"

# Where each kind goes: (folder, file).
LAYOUT = {
    "ServiceAccount": ("rbac", "service_account.yaml"),
    "ClusterRole": ("rbac", "role.yaml"),
    "ClusterRoleBinding": ("rbac", "role_binding.yaml"),
    "Role": ("rbac", "leader_election_role.yaml"),
    "RoleBinding": ("rbac", "leader_election_role_binding.yaml"),
    "Deployment": ("manager", "deployment.yaml"),
    "PodDisruptionBudget": ("manager", "pod_disruption_budget.yaml"),
    "Service": ("manager", "metrics_service.yaml"),
    "ServiceMonitor": ("prometheus", "service_monitor.yaml"),
    "ValidatingAdmissionPolicy": ("admission", "tenancy_policy.yaml"),
    "ValidatingAdmissionPolicyBinding": ("admission", "tenancy_policy.yaml"),
}
NAMESPACE_OBJECT = {
    "apiVersion": "v1",
    "kind": "Namespace",
    "metadata": {
        "name": NAMESPACE,
        "labels": {
            "app.kubernetes.io/part-of": "fabrikam-drone-delivery",
            "pod-security.kubernetes.io/enforce": "restricted",
            "pod-security.kubernetes.io/enforce-version": "latest",
        },
    },
}
KUSTOMIZATIONS = {
    "crd": (
        "# The CustomResourceDefinitions (written with crds/ by `fabrikam crds --write`).\n",
        ["dronedelivery.fabrikam.io_deliveryplatforms.yaml", "dronedelivery.fabrikam.io_droneservices.yaml"],
    ),
    "rbac": (
        "# The operator's ServiceAccount, its least-privilege ClusterRoles and its leader-election Role (see\n"
        "# charts/operator/README.md).\n",
        [
            "service_account.yaml",
            "role.yaml",
            "role_binding.yaml",
            "leader_election_role.yaml",
            "leader_election_role_binding.yaml",
        ],
    ),
    "manager": (
        "# The operator: two replicas, one active (the holder of the Lease fabrikam-operator), its\n"
        "# PodDisruptionBudget and metrics Service.\n"
        "# It mounts its own key from the Secret fabrikam-operator-key (key `key`, 32 bytes or more), which you\n"
        "# provide once and keep (the in-cluster Redis's passwords derive from it), e.g. from your secret store or\n"
        "#   kubectl -n fabrikam-system create secret generic fabrikam-operator-key \\\n"
        '#     --from-literal=key="$(head -c 48 /dev/urandom | base64)"\n',
        ["namespace.yaml", "deployment.yaml", "pod_disruption_budget.yaml", "metrics_service.yaml"],
    ),
    "admission": (
        "# The ValidatingAdmissionPolicy refusing what a team may not declare (charts/operator/README.md).\n"
        "# It exempts system:serviceaccount:fabrikam-system:fabrikam-operator: an overlay that renames the\n"
        "# operator's namespace or ServiceAccount patches spec.matchConditions[0] of the policy to match.\n",
        ["tenancy_policy.yaml"],
    ),
    "prometheus": (
        "# Optional: a ServiceMonitor for the Prometheus Operator; add ../prometheus to your overlay's resources.\n",
        ["service_monitor.yaml"],
    ),
}
DEFAULT = """\
# The operator without Helm: `kubectl apply -k config/default` or point Argo CD / Flux at this folder.
# Overlays set the image and the Azure workload identity, for example:
#   images:
#     - name: fabrikam.azurecr.io/fabrikam/operator
#       newTag: 0.1.0
#   patches:
#     - target: {kind: ServiceAccount, name: fabrikam-operator}
#       patch: |-
#         - op: add
#           path: /metadata/annotations
#           value: {azure.workload.identity/client-id: <client id of the operator's managed identity>}
#     - target: {kind: Deployment, name: fabrikam-operator}
#       patch: |-
#         - op: add
#           path: /spec/template/metadata/labels/azure.workload.identity~1use
#           value: "true"
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: fabrikam-system
resources:
  - ../crd
  - ../rbac
  - ../manager
  - ../admission
"""


def helm_template(*settings: str) -> list[dict[str, Any]]:
    command = [str(toolchain.expected_binaries().helm), "template", RELEASE, str(CHART), "-n", NAMESPACE]
    for setting in settings:
        command += ["--set", setting]
    rendered = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return [doc for doc in yaml.safe_load_all(rendered) if doc]


def _without_helm(obj: dict[str, Any]) -> dict[str, Any]:
    """Helm's bookkeeping labels would lie outside Helm; everything else is kept as rendered."""

    def relabel(labels: dict[str, str]) -> None:
        labels.pop("helm.sh/chart", None)
        if labels.get("app.kubernetes.io/managed-by") == "Helm":
            labels["app.kubernetes.io/managed-by"] = "kustomize"

    relabel(obj["metadata"].get("labels", {}))
    return obj


def _dump(objects: list[dict[str, Any]]) -> str:
    return HEADER + "---\n".join(yaml.safe_dump(obj, sort_keys=False, width=120) for obj in objects)


def _kustomization(comment: str, resources: list[str]) -> str:
    document = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": resources}
    return HEADER + comment + yaml.safe_dump(document, sort_keys=False)


def render() -> dict[Path, str]:
    """config/ relative path -> content, for every file this script owns."""
    # No generated key in a committed file: GitOps users bring the operator's key as a Secret of their own
    # (sealed or from their secret store), named as below; `manager/kustomization.yaml` says how.
    objects = helm_template("metrics.serviceMonitor.enabled=true", f"operatorKey.existingSecret={OPERATOR_KEY}")
    unplaced = sorted({obj["kind"] for obj in objects} - LAYOUT.keys())
    if unplaced:
        raise SystemExit(f"the chart renders kinds config/ has no place for: {unplaced}; extend LAYOUT")
    files: dict[Path, list[dict[str, Any]]] = {}
    for obj in objects:
        folder, name = LAYOUT[obj["kind"]]
        files.setdefault(Path(folder) / name, []).append(_without_helm(obj))
    files[Path("manager") / "namespace.yaml"] = [NAMESPACE_OBJECT]
    out = {path: _dump(objs) for path, objs in files.items()}
    for folder, (comment, resources) in KUSTOMIZATIONS.items():
        out[Path(folder) / "kustomization.yaml"] = _kustomization(comment, resources)
    out[Path("default") / "kustomization.yaml"] = HEADER + DEFAULT
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    arguments = parser.parse_args()
    stale = []
    for relative, text in sorted(render().items()):
        target = CONFIG / relative
        current = target.read_text() if target.exists() else ""
        if current == text:
            continue
        if arguments.check:
            stale.append(relative)
            sys.stdout.writelines(
                difflib.unified_diff(
                    current.splitlines(True), text.splitlines(True), f"config/{relative}", "from the chart"
                )
            )
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            print(f"wrote config/{relative}", file=sys.stderr)
    if stale:
        print(f"\nconfig/ is stale ({len(stale)} files): run .venv/bin/python hack/chart-config.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
