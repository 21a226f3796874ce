"""The simulated nodes: three zonal nodes and one AKS spot node, managed by kwok."""

from typing import Any

ZONES = ("1", "2", "3")
SPOT_LABEL = "kubernetes.azure.com/scalesetpriority"
ZONE_LABEL = "topology.kubernetes.io/zone"

# Sized for the operator benchmark (1000 services x 2 replicas) rather than for realism.
_CAPACITY = {"cpu": "64", "memory": "256Gi", "pods": "1000", "ephemeral-storage": "500Gi"}


def _node(name: str, zone: str, *, spot: bool) -> dict[str, Any]:
    labels = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "node.kubernetes.io/instance-type": "Standard_D4s_v5" if not spot else "Standard_D2s_v5",
        ZONE_LABEL: zone,
        "topology.kubernetes.io/region": "local",
        "kubernetes.azure.com/agentpool": "spot" if spot else "user",
        "type": "kwok",
    }
    taints: list[dict[str, str]] = []
    if spot:
        labels[SPOT_LABEL] = "spot"
        taints.append({"key": SPOT_LABEL, "value": "spot", "effect": "NoSchedule"})
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels, "annotations": {"kwok.x-k8s.io/node": "fake"}},
        "spec": {"taints": taints},
        "status": {"capacity": dict(_CAPACITY), "allocatable": dict(_CAPACITY)},
    }


def desired_nodes() -> list[dict[str, Any]]:
    return [_node(f"fabrikam-zone{zone}", zone, spot=False) for zone in ZONES] + [
        _node("fabrikam-spot", ZONES[0], spot=True)
    ]
