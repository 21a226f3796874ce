"""`fabrikam adopt` reading a live namespace through a kubeconfig: the Deployment, its HPA, Service, ConfigMap and
Secret as the API server returns them, the Secret's keys seen and its values never written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
import yaml
from typer.testing import CliRunner

from fabrikam.cli.adopt.command import adopt_command

SECRET_VALUE = "live-secret-value-never-written"
DIGEST = "sha256:" + "7" * 64


def _objects(namespace: str) -> list[dict[str, Any]]:
    labels = {"app.kubernetes.io/name": "delivery", "team": "shipping"}
    return [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "delivery", "namespace": namespace},
            "stringData": {"REDIS_PASSWORD": SECRET_VALUE},
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "delivery", "namespace": namespace},
            "data": {"ETA_REFRESH_SECONDS": "15"},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "delivery", "namespace": namespace, "labels": labels},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app.kubernetes.io/name": "delivery"}},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "containers": [
                            {
                                "name": "delivery",
                                "image": f"fabrikam.azurecr.io/delivery@{DIGEST}",
                                "ports": [{"containerPort": 8080}],
                                "envFrom": [
                                    {"configMapRef": {"name": "delivery"}},
                                    {"secretRef": {"name": "delivery"}},
                                ],
                            }
                        ]
                    },
                },
            },
        },
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "delivery", "namespace": namespace},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "delivery"},
                "minReplicas": 3,
                "maxReplicas": 9,
            },
        },
    ]


def test_a_live_namespace_is_adopted_without_copying_its_secrets(cluster: Any, namespace: str, tmp_path: Path) -> None:
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(_objects(namespace)))
    app = typer.Typer()
    app.command()(adopt_command)
    out = tmp_path / "adopted"
    result = CliRunner().invoke(
        app, ["--kubeconfig", str(cluster.kubeconfig), "-n", namespace, "--no-resolve-digests", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    text = (out / "shipping" / "delivery.yaml").read_text()
    spec = yaml.safe_load(text)["spec"]
    assert spec["image"]["digest"] == DIGEST
    assert spec["autoscaling"]["minReplicas"] == 3
    assert spec["autoscaling"]["maxReplicas"] == 9
    assert spec["secrets"] == [{"name": "delivery-redis-password"}]
    assert {"name": "ETA_REFRESH_SECONDS", "value": "15"} in spec["config"]
    assert SECRET_VALUE not in text + result.output
