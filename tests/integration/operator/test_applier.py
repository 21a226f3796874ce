"""Server-side apply against a real API server: create, skip when unchanged, revert drift, report refusals."""

import logging
from collections.abc import AsyncIterator
from typing import Any

import kopf
import pytest

from fabrikam.operator.apply.applier import ApplyError, apply_objects
from fabrikam.operator.apply.client import FIELD_MANAGER, KubeApi
from fabrikam.operator.apply.resources import ChildKey

pytestmark = pytest.mark.cluster


@pytest.fixture
async def api(cluster: Any, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[KubeApi]:
    """Connected the way the operator's login handler does it: kopf's kubeconfig login, our HTTP session."""
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig))
    info = kopf.login_with_kubeconfig(logger=logging.getLogger("test"), settings=kopf.OperatorSettings())
    assert info is not None
    connected = KubeApi(info.server, info.as_ssl_context(), info.as_http_headers())
    yield connected
    await connected.close()


def _objects(namespace: str, memory_limit: str = "256Mi") -> list[dict[str, Any]]:
    labels = {"app.kubernetes.io/name": "probe"}
    return [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "probe", "namespace": namespace, "labels": labels},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "containers": [
                            {
                                "name": "app",
                                "image": "registry.k8s.io/pause:3.10",
                                "envFrom": [{"configMapRef": {"name": "probe-config"}}],
                                "resources": {
                                    "requests": {"cpu": "50m", "memory": "64Mi"},
                                    "limits": {"cpu": "1000m", "memory": memory_limit},
                                },
                            }
                        ]
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "probe-config", "namespace": namespace},
            "data": {"MODE": "test"},
        },
    ]


async def test_applies_then_skips_unchanged_objects_then_reverts_drift(
    api: KubeApi, cluster: Any, namespace: str
) -> None:
    first = await apply_objects(api, _objects(namespace))
    assert sorted(first.sent) == [f"ConfigMap {namespace}/probe-config", f"Deployment {namespace}/probe"]

    second = await apply_objects(api, _objects(namespace))
    assert second.sent == []
    assert len(second.skipped) == 2

    cluster.kubectl(
        "patch", "deployment", "probe", "-n", namespace, "--type=json",
        "-p", '[{"op": "remove", "path": "/spec/template/spec/containers/0/resources/limits"}]',
    )  # fmt: skip
    reverted = await apply_objects(api, _objects(namespace))
    assert reverted.sent == [f"Deployment {namespace}/probe"]
    live = reverted.live_of(ChildKey("apps/v1", "Deployment", namespace, "probe"))
    assert live is not None
    assert live["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"] == {
        "cpu": "1",
        "memory": "256Mi",
    }
    managers = {entry["manager"] for entry in live["metadata"]["managedFields"]}
    assert FIELD_MANAGER in managers

    changed = await apply_objects(api, _objects(namespace, memory_limit="512Mi"))
    assert changed.sent == [f"Deployment {namespace}/probe"]


async def test_a_refused_object_raises_an_error_naming_it_and_the_reason(api: KubeApi, namespace: str) -> None:
    broken = _objects(namespace)[0]
    broken["spec"]["selector"] = {"matchLabels": {"app.kubernetes.io/name": "other"}}
    with pytest.raises(ApplyError) as refused:
        await apply_objects(api, [broken])
    assert refused.value.object == f"Deployment {namespace}/probe"
    assert "selector" in str(refused.value)
    assert refused.value.status == 422
