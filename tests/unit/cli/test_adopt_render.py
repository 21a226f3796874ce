"""What `fabrikam adopt` writes, rendered the way `fabrikam render` and the operator render it: the Deployments run
the same image, on the same port, with the same environment names (secrets as files named by `<NAME>_FILE`), no
secret value anywhere, and nothing the audit finds."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest
import yaml

from fabrikam.cli.adopt import Adoption, adopt
from fabrikam.cli.adopt.images import Resolution
from fabrikam.cli.adopt.sources import redact_secret
from fabrikam.operator.api import DroneService
from fabrikam.operator.render.documents import render_documents

PASSWORD = "Sup3r-Secret-Redis-Passw0rd"
API_KEY = "SG.live-sendgrid-api-key-0123456789"
TWILIO = "twilio-token-plain-in-the-deployment"
DIGESTS = {
    "fabrikam.azurecr.io/ingestion:1.4.2": "sha256:" + "1" * 64,
    "fabrikam.azurecr.io/delivery:3.1": "sha256:" + "2" * 64,
    "fabrikam.azurecr.io/notification:0.9": "sha256:" + "3" * 64,
}
# Three services as the seed's Helm charts deploy them into `default`, with their usual faults.
SEED_LIKE = f"""
apiVersion: apps/v1
kind: Deployment
metadata:
  name: ingestion
  namespace: default
  labels: {{app: ingestion, team: shipping}}
  annotations: {{meta.helm.sh/release-name: ingestion}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: ingestion}}}}
  template:
    metadata: {{labels: {{app: ingestion}}}}
    spec:
      containers:
        - name: ingestion
          image: fabrikam.azurecr.io/ingestion:1.4.2
          ports: [{{name: http, containerPort: 8080}}]
          env:
            - {{name: DELIVERY_URL, value: "http://delivery:8080"}}
            - {{name: QUEUE_NAME, value: delivery-requests}}
            - name: SERVICEBUS_CONNECTION_STRING
              valueFrom: {{secretKeyRef: {{name: ingestion, key: servicebus}}}}
          resources: {{requests: {{cpu: 250m, memory: 256Mi}}}}
          readinessProbe: {{httpGet: {{path: /readyz, port: http}}, periodSeconds: 5}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {{name: ingestion, namespace: default}}
spec:
  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: ingestion}}
  minReplicas: 2
  maxReplicas: 10
  metrics: [{{type: Resource, resource: {{name: cpu, target: {{type: Utilization, averageUtilization: 70}}}}}}]
---
apiVersion: v1
kind: Secret
metadata: {{name: ingestion, namespace: default}}
data:
  servicebus: {base64.b64encode(f"Endpoint=sb://x/;SharedAccessKey={PASSWORD}".encode()).decode()}
---
apiVersion: v1
kind: Service
metadata: {{name: ingestion, namespace: default}}
spec: {{type: LoadBalancer, selector: {{app: ingestion}}, ports: [{{port: 80, targetPort: 8080}}]}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {{name: api, namespace: default}}
spec:
  rules:
    - host: api.fabrikam.com
      http:
        paths:
          - path: /api/deliveryrequests
            pathType: Prefix
            backend: {{service: {{name: ingestion, port: {{number: 80}}}}}}
---
apiVersion: apps/v1beta1
kind: Deployment
metadata:
  name: delivery
  namespace: default
  labels: {{app: delivery, team: shipping}}
spec:
  replicas: 5
  template:
    metadata: {{labels: {{app: delivery}}}}
    spec:
      containers:
        - name: delivery
          image: fabrikam.azurecr.io/delivery:3.1
          ports: [{{containerPort: 8080}}]
          envFrom: [{{configMapRef: {{name: delivery}}}}]
          livenessProbe: {{httpGet: {{path: /health/redis, port: 8080}}}}
          securityContext: {{runAsUser: 0}}
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: delivery, namespace: default}}
data:
  REDIS_CONNECTION_STRING: "fabrikam.redis.cache.windows.net:6380,password={PASSWORD},ssl=True"
  ETA_REFRESH_SECONDS: "15"
  NOTIFY_URL: http://notification.default.svc.cluster.local:3000/notify
---
apiVersion: v1
kind: Service
metadata: {{name: delivery, namespace: default}}
spec: {{selector: {{app: delivery}}, ports: [{{port: 8080}}]}}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: notification
  namespace: default
  labels: {{app: notification, team: customer}}
spec:
  selector: {{matchLabels: {{app: notification}}}}
  template:
    metadata: {{labels: {{app: notification}}}}
    spec:
      containers:
        - name: notification
          image: fabrikam.azurecr.io/notification:0.9
          ports: [{{containerPort: 3000}}]
          env:
            - name: SENDGRID_API_KEY
              valueFrom: {{secretKeyRef: {{name: sendgrid, key: apiKey}}}}
            - {{name: TWILIO_AUTH_TOKEN, value: {TWILIO}}}
            - {{name: TWILIO_URL, value: "https://api.twilio.com"}}
        - name: debug
          image: busybox
---
apiVersion: v1
kind: Secret
metadata: {{name: sendgrid, namespace: default}}
stringData: {{apiKey: {API_KEY}}}
---
apiVersion: v1
kind: Service
metadata: {{name: notification, namespace: default}}
spec: {{selector: {{app: notification}}, ports: [{{port: 3000}}]}}
"""
SECRETS = (PASSWORD, API_KEY, TWILIO, base64.b64encode(API_KEY.encode()).decode())
PLATFORM: dict[str, Any] = yaml.safe_load(
    """
apiVersion: dronedelivery.fabrikam.io/v1alpha1
kind: DeliveryPlatform
metadata: {name: fabrikam}
spec:
  image:
    repository: fabrikam.azurecr.io/fabrikam/drone-delivery
    digest: sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945
  azure:
    subscriptionId: 3b5f6c2e-8d41-4a7b-9f0e-2c6d8a1b4e37
    tenantId: 72f988bf-86f1-41af-91ab-2d7cd011db47
    resourceGroup: rg-fabrikam
    location: westus2
    keyVaultName: kv-fabrikam-prod
  messaging: {serviceBus: {}}
  cache: {redis: {}}
  ingress: {host: api.dronedelivery.fabrikam.com}
  observability:
    otlpEndpoint: http://otel-collector.observability.svc.cluster.local:4317
    collectorNamespace: observability
  teams:
    - {name: platform, namespace: fabrikam-platform, costCenter: cc-1000-platform}
  services:
    ingestion: {enabled: false}
    workflow: {enabled: false}
    delivery: {enabled: false}
    droneScheduler: {enabled: false}
    package: {enabled: false}
    notification: {enabled: false}
    account: {enabled: false}
    droneTelemetry: {enabled: false}
"""
)


def _seed() -> list[dict[str, Any]]:
    """The objects as `fabrikam adopt` reads them (its readers redact Secrets); the convert tests give raw ones."""
    documents = [d for d in yaml.safe_load_all(SEED_LIKE) if d]
    return [redact_secret(d) if d["kind"] == "Secret" else d for d in documents]


@pytest.fixture
def adoption() -> Adoption:
    digests = {image: Resolution(digest) for image, digest in DIGESTS.items()}
    return adopt(_seed(), platform=copy.deepcopy(PLATFORM), digests=digests)


def _rendered(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rendered = render_documents(documents)
    assert not rendered.fatal, rendered.fatal
    return rendered.objects


def _of(objects: list[dict[str, Any]], kind: str, namespace: str, name: str) -> dict[str, Any]:
    return next(
        o
        for o in objects
        if o["kind"] == kind and o["metadata"]["name"] == name and o["metadata"].get("namespace") == namespace
    )


def test_every_service_written_is_what_the_crd_accepts(adoption: Adoption) -> None:
    assert sorted((s["metadata"]["namespace"], s["metadata"]["name"]) for s in adoption.services) == [
        ("fabrikam-customer", "notification"),
        ("fabrikam-shipping", "delivery"),
        ("fabrikam-shipping", "ingestion"),
    ]
    for manifest in adoption.services:
        assert DroneService.model_validate(manifest).model_dump(by_alias=True, exclude_defaults=True) == (
            DroneService.model_validate(yaml.safe_load(yaml.safe_dump(manifest))).model_dump(
                by_alias=True, exclude_defaults=True
            )
        )


def test_rendered_deployments_run_the_same_image_port_and_environment_names(adoption: Adoption) -> None:
    assert adoption.platform is not None
    objects = _rendered([adoption.platform, *adoption.services])
    expected = {
        ("fabrikam-shipping", "ingestion"): (8080, {"DELIVERY_URL", "QUEUE_NAME"}, {"SERVICEBUS_CONNECTION_STRING"}),
        ("fabrikam-shipping", "delivery"): (8080, {"ETA_REFRESH_SECONDS", "NOTIFY_URL"}, {"REDIS_CONNECTION_STRING"}),
        ("fabrikam-customer", "notification"): (3000, {"TWILIO_URL"}, {"SENDGRID_API_KEY", "TWILIO_AUTH_TOKEN"}),
    }
    for (namespace, name), (port, plain, secret) in expected.items():
        deployment = _of(objects, "Deployment", namespace, name)
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["image"] == f"fabrikam.azurecr.io/{name}@{DIGESTS[next(i for i in DIGESTS if name in i)]}"
        assert container["ports"] == [{"name": "http", "containerPort": port, "protocol": "TCP"}]
        data = _of(objects, "ConfigMap", namespace, f"{name}-config")["data"]
        assert plain <= data.keys()
        assert {f"{variable}_FILE" for variable in secret} <= data.keys()
        for variable in secret:
            vault_object = data[f"{variable}_FILE"].removeprefix("/mnt/secrets/")
            provider = _of(objects, "SecretProviderClass", namespace, f"{name}-keyvault")
            assert f"objectName: {vault_object}\n" in provider["spec"]["parameters"]["objects"]


def test_calls_between_adopted_services_reach_their_new_addresses(adoption: Adoption) -> None:
    assert adoption.platform is not None
    objects = _rendered([adoption.platform, *adoption.services])
    ingestion = _of(objects, "ConfigMap", "fabrikam-shipping", "ingestion-config")["data"]
    assert ingestion["DELIVERY_URL"] == "http://delivery.fabrikam-shipping.svc.cluster.local"
    delivery = _of(objects, "ConfigMap", "fabrikam-shipping", "delivery-config")["data"]
    assert delivery["NOTIFY_URL"] == "http://notification.fabrikam-customer.svc.cluster.local/notify"
    policy = _of(objects, "NetworkPolicy", "fabrikam-customer", "notification")
    admitted = [peer for rule in policy["spec"]["ingress"] for peer in rule["from"]]
    assert {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "fabrikam-shipping"}},
        "podSelector": {
            "matchLabels": {"app.kubernetes.io/name": "delivery", "app.kubernetes.io/managed-by": "fabrikam-operator"}
        },
    } in admitted


def test_the_patch_makes_a_new_platform_that_renders_them(adoption: Adoption) -> None:
    platform = copy.deepcopy(PLATFORM)
    platform["spec"] |= adoption.platform_patch["spec"]
    objects = _rendered([platform, *adoption.services])
    namespaces = {o["metadata"]["name"] for o in objects if o["kind"] == "Namespace"}
    assert namespaces == {"fabrikam-shipping", "fabrikam-customer"}
    assert len([o for o in objects if o["kind"] == "Deployment"]) == 3


def test_no_secret_value_is_written_or_rendered(adoption: Adoption) -> None:
    assert adoption.platform is not None
    written = yaml.safe_dump_all([*adoption.services, adoption.platform_patch, adoption.platform]) + "".join(
        str(note) for note in adoption.notes
    )
    rendered = yaml.safe_dump_all(_rendered([adoption.platform, *adoption.services]))
    for value in SECRETS:
        assert value not in written
        assert value not in rendered


def test_the_raw_secrets_never_reach_the_output_even_unredacted() -> None:
    raw = [d for d in yaml.safe_load_all(SEED_LIKE) if d]
    adoption = adopt(raw, digests=None)
    text = yaml.safe_dump_all([*adoption.services, adoption.platform_patch]) + "".join(map(str, adoption.notes))
    for value in SECRETS:
        assert value not in text


def test_the_rendered_adoption_has_no_audit_finding(adoption: Adoption) -> None:
    checks = pytest.importorskip("fabrikam.cli.audit.checks")
    assert adoption.platform is not None
    findings = checks.audit(_rendered([adoption.platform, *adoption.services]))
    assert [str(finding) for finding in findings] == []


def test_the_seed_like_manifests_have_findings_the_adoption_removes() -> None:
    checks = pytest.importorskip("fabrikam.cli.audit.checks")
    assert checks.audit([d for d in yaml.safe_load_all(SEED_LIKE) if d])
