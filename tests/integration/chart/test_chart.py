"""The Helm chart: lint, rendering per values, values rejected by the schema, and the API server's verdict."""

import base64
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
NAME = "fabrikam-operator"
CLIENT_ID = "5a1c0b6e-2f3d-4c8e-9b7a-1d2e3f4a5b6c"


def test_helm_lint_strict_passes(chart_helm: Any) -> None:
    result = chart_helm.helm("lint", str(chart_helm.chart), "--strict")
    assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout


def test_config_kustomize_yaml_is_the_chart_rendered() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "hack" / "chart-config.py"), "--check"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_defaults_render_two_hardened_replicas_one_active_through_a_lease(render: Any) -> None:
    objects = render()
    assert {kind for kind, _ in objects} == {
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "Deployment",
        "PodDisruptionBudget",
        "Secret",
        "Service",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    }
    spec = objects[("Deployment", NAME)]["spec"]
    assert spec["replicas"] == 2
    # A rolling update never runs two reconcilers: only the holder of the Lease runs kopf.
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    env = {e["name"]: e.get("value") for e in spec["template"]["spec"]["containers"][0]["env"]}
    assert env["FABRIKAM_OPERATOR_LEADER_ELECTION"] == "true"
    assert env["FABRIKAM_OPERATOR_LEASE_NAME"] == NAME
    role = objects[("Role", f"{NAME}-leader-election")]
    assert role["rules"] == [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": [NAME],
            "verbs": ["get", "update"],
        },
    ]
    affinity = spec["template"]["spec"]["affinity"]["podAntiAffinity"]
    assert affinity["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]["topologyKey"] == (
        "kubernetes.io/hostname"
    )
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    [container] = pod["containers"]
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert set(container["resources"]) == {"requests", "limits"}
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]


def test_probes_point_at_kopfs_liveness_endpoint_on_the_port_the_operator_listens_on(render: Any) -> None:
    [container] = render("operator.healthPort=9441")[("Deployment", NAME)]["spec"]["template"]["spec"]["containers"]
    assert "--liveness=http://0.0.0.0:9441/healthz" in container["args"]
    assert {"name": "health", "containerPort": 9441, "protocol": "TCP"} in container["ports"]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "health"}


def test_metrics_port_reaches_the_operator_the_pod_and_the_service(render: Any) -> None:
    objects = render("operator.metricsPort=9090")
    [container] = objects[("Deployment", NAME)]["spec"]["template"]["spec"]["containers"]
    assert {"name": "FABRIKAM_OPERATOR_METRICS_PORT", "value": "9090"} in container["env"]
    assert {"name": "metrics", "containerPort": 9090, "protocol": "TCP"} in container["ports"]
    service = objects[("Service", f"{NAME}-metrics")]
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"
    assert (
        service["spec"]["selector"].items()
        <= objects[("Deployment", NAME)]["spec"]["template"]["metadata"]["labels"].items()
    )


def test_workload_identity_client_id_annotates_the_account_and_labels_the_pod(render: Any) -> None:
    without = render()
    assert "annotations" not in without[("ServiceAccount", NAME)]["metadata"]
    assert "azure.workload.identity/use" not in without[("Deployment", NAME)]["spec"]["template"]["metadata"]["labels"]
    objects = render(f"azureWorkloadIdentity.clientId={CLIENT_ID}")
    annotations = objects[("ServiceAccount", NAME)]["metadata"]["annotations"]
    assert annotations == {"azure.workload.identity/client-id": CLIENT_ID}
    labels = objects[("Deployment", NAME)]["spec"]["template"]["metadata"]["labels"]
    assert labels["azure.workload.identity/use"] == "true"


def test_the_disruption_budget_never_blocks_a_drain(render: Any) -> None:
    budget = render()[("PodDisruptionBudget", NAME)]["spec"]
    assert budget["maxUnavailable"] == 1
    assert budget["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    assert ("PodDisruptionBudget", NAME) not in render("podDisruptionBudget.enabled=false")


def test_the_operator_key_is_generated_once_kept_and_mounted_as_a_file_or_brought_by_the_user(render: Any) -> None:
    objects = render()
    secret = objects[("Secret", f"{NAME}-key")]
    assert secret["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
    assert len(base64.b64decode(secret["data"]["key"])) == 64
    pod = objects[("Deployment", NAME)]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["FABRIKAM_OPERATOR_KEY_FILE"] == "/var/run/secrets/fabrikam-operator/key"
    assert {"name": "operator-key", "mountPath": "/var/run/secrets/fabrikam-operator", "readOnly": True} in container[
        "volumeMounts"
    ]
    volume = next(v for v in pod["volumes"] if v["name"] == "operator-key")
    assert volume["secret"] == {"secretName": f"{NAME}-key", "defaultMode": 0o440}
    assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsUser"]  # readable by the operator only

    brought = render("operatorKey.existingSecret=my-key")
    assert not any(kind == "Secret" for kind, _ in brought)
    pod = brought[("Deployment", NAME)]["spec"]["template"]["spec"]
    assert next(v for v in pod["volumes"] if v["name"] == "operator-key")["secret"]["secretName"] == "my-key"


def test_the_service_monitor_scrapes_the_metrics_service_when_enabled(render: Any) -> None:
    assert not any(kind == "ServiceMonitor" for kind, _ in render())
    objects = render("metrics.serviceMonitor.enabled=true", "metrics.serviceMonitor.labels.release=prom")
    monitor = objects[("ServiceMonitor", NAME)]
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "prom"
    service = objects[("Service", f"{NAME}-metrics")]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"]


def test_rbac_and_the_account_can_be_left_to_the_platform_team(render: Any) -> None:
    objects = render("rbac.create=false", "serviceAccount.create=false", "serviceAccount.name=platform-operator")
    assert {kind for kind, _ in objects} == {
        "Deployment",
        "PodDisruptionBudget",
        "Secret",
        "Service",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    }
    assert objects[("Deployment", NAME)]["spec"]["template"]["spec"]["serviceAccountName"] == "platform-operator"


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ("replicaCount=2", "additional properties 'replicaCount' not allowed"),
        ("azureWorkloadIdentity.clientId=my-identity", "/azureWorkloadIdentity/clientId"),
        ("image.digest=latest", "/image/digest"),
        ("image.pullPolicy=Sometimes", "/image/pullPolicy"),
        ("operator.metricsPort=80", "/operator/metricsPort"),
        ("operator.resyncSeconds=1", "/operator/resyncSeconds"),
        ("resources.limits=null", "/resources"),
        ("resources.requests.cpu=lots", "/resources/requests/cpu"),
        ("metrics.serviceMonitor.interval=often", "/metrics/serviceMonitor/interval"),
        ("podDisruptionBudget.minAvailable=1", "additional properties 'minAvailable' not allowed"),
        ("admissionPolicy.enabled=sometimes", "/admissionPolicy/enabled"),
    ],
)
def test_bad_values_fail_naming_the_field(chart_helm: Any, setting: str, named: str) -> None:
    result = chart_helm.helm("template", NAME, str(chart_helm.chart), "--set", setting, check=False)
    assert result.returncode != 0
    assert named in result.stderr, result.stderr


def test_a_service_monitor_without_the_service_fails_with_the_reason(chart_helm: Any) -> None:
    args = ["--set", "metrics.serviceMonitor.enabled=true", "--set", "metrics.service.enabled=false"]
    result = chart_helm.helm("template", NAME, str(chart_helm.chart), *args, check=False)
    assert result.returncode != 0
    assert "metrics.serviceMonitor.enabled needs metrics.service.enabled" in result.stderr


def test_notes_tell_the_next_step(chart_helm: Any) -> None:
    result = chart_helm.helm("install", NAME, str(chart_helm.chart), "-n", "fabrikam-system", "--dry-run=client")
    notes = result.stdout[result.stdout.index("NOTES:") :]
    assert "kubectl apply -f config/samples/platform.yaml" in notes
    assert "kubectl wait --for=condition=Ready deliveryplatform/fabrikam" in notes
    assert "azureWorkloadIdentity.clientId is empty" in notes


@pytest.mark.cluster
@pytest.mark.parametrize("settings", [(), (f"azureWorkloadIdentity.clientId={CLIENT_ID}",)])
def test_the_api_server_accepts_every_rendered_object(
    cluster: Any, namespace: str, chart_helm: Any, settings: tuple[str, ...]
) -> None:
    rendered = chart_helm.template(*settings, namespace=namespace, release=f"op-{namespace}")
    result = cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=rendered, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("(server dry run)") == len([d for d in yaml.safe_load_all(rendered) if d])


@pytest.mark.cluster
def test_the_api_server_accepts_the_kustomize_yaml(cluster: Any, namespace: str) -> None:
    """config/default as a GitOps tool would apply it, moved into a fresh namespace (a dry run creates nothing)."""
    built = cluster.kubectl("kustomize", str(ROOT / "config" / "default")).stdout
    documents = [doc for doc in yaml.safe_load_all(built) if doc and doc["kind"] != "Namespace"]
    for doc in documents:
        if doc["metadata"].get("namespace") == "fabrikam-system":
            doc["metadata"]["namespace"] = namespace
        if doc["kind"] in {"ClusterRole", "ClusterRoleBinding"}:
            doc["metadata"]["name"] += f"-{namespace}"
            if doc["kind"] == "ClusterRoleBinding":
                doc["roleRef"]["name"] += f"-{namespace}"
                doc["subjects"][0]["namespace"] = namespace
    result = cluster.kubectl(
        "apply", "--server-side", "--force-conflicts", "--dry-run=server", "-f", "-",
        input=yaml.safe_dump_all(documents), check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert {"CustomResourceDefinition", "Deployment", "ClusterRole"} <= {d["kind"] for d in documents}
