"""On-call routing of one team namespace (seed: on-call by e-mail): an AlertmanagerConfig sends its alerts by severity
to PagerDuty or Opsgenie, with the key from the platform's Key Vault.

The Prometheus Operator routes to an AlertmanagerConfig only the alerts whose `namespace` label is its own
namespace, and reads the keys it references from Secrets of that namespace: so each team namespace gets one, and a
Secret with the key. The Secret is the Secrets Store CSI driver's sync of a SecretProviderClass (`secretObjects`);
the driver writes it only while a pod mounts that class, so a one-replica Deployment that does nothing else holds
the mount, reading the vault with a workload identity: spec.observability.onCall.identityClientId, or else the one
the operator provisions (azure/desired.py, `on_call_reader_resources`), whose client id comes in through
`read_by`. The key never passes through the operator, which reads no Secret.
"""

from __future__ import annotations

from fabrikam.operator.api import DeliveryPlatform, Team
from fabrikam.operator.api.observability import OnCall, Urgency
from fabrikam.operator.render.labels import CONFIG_HASH, Obj, common, metadata, owner_reference, selector
from fabrikam.operator.render.workload import (
    HARDENED_CONTAINER,
    RUN_AS,
    SECRETS_DIR,
    WORKLOAD_IDENTITY_CLIENT_ID,
    WORKLOAD_IDENTITY_USE,
    config_hash,
    node_placement,
)

ALERTMANAGER_V1ALPHA1 = "monitoring.coreos.com/v1alpha1"
ALERTMANAGER_CONFIG = "AlertmanagerConfig"
# The AlertmanagerConfig, the SecretProviderClass and the Secret it syncs.
ON_CALL = "fabrikam-oncall"
# The Deployment (and its ServiceAccount) whose mount makes the CSI driver write the Secret.
KEYS = "fabrikam-oncall-keys"
# What `fabrikam audit` would say of the key holder and does not apply to it (cli/audit/ignore.py): it serves nothing
# (no probe has anything to ask), is one idle pod (nothing to scale or to keep through a drain: a restart mounts the
# key again) and handles no request (nothing to trace).
AUDIT_IGNORE = {
    "audit.dronedelivery.fabrikam.io/ignore": "missing-liveness-probe,missing-readiness-probe,missing-startup-probe,"
    "no-hpa,no-pdb,no-telemetry",
    "audit.dronedelivery.fabrikam.io/ignore-reason": "one idle pod holding the CSI mount that syncs the on-call key "
    "into a Secret: no server to probe, no load to scale, no request to trace",
}
PAGERDUTY_KEY = "routing-key"
OPSGENIE_KEY = "api-key"
# How each urgency is told: PagerDuty's event severity (its services map it to urgency), Opsgenie's priority.
PAGERDUTY_SEVERITY = {Urgency.PAGE: "critical", Urgency.TICKET: "warning"}
OPSGENIE_PRIORITY = {Urgency.PAGE: "P1", Urgency.TICKET: "P3"}
# A page repeats every hour while it fires; a ticket twice a day.
REPEAT = {Urgency.PAGE: "1h", Urgency.TICKET: "12h"}


def _labels(platform: DeliveryPlatform, team: Team, name: str) -> dict[str, str]:
    return common(name=name, component="oncall", team=team, platform=platform.name)


def _owners(platform: DeliveryPlatform) -> list[Obj]:
    return owner_reference(
        api_version=platform.api_version, kind=platform.kind, name=platform.name, uid=platform.metadata.uid
    )


def read_by(platform: DeliveryPlatform, client_id: str | None) -> DeliveryPlatform:
    """The platform as its on-call objects are rendered: the key read by the identity of client id `client_id` (the
    one the operator provisioned; None while unknown) unless the spec names one of its own, which wins."""
    on_call = platform.spec.observability.on_call
    if on_call is None or on_call.identity_client_id is not None:
        return platform
    observability = platform.spec.observability.model_copy(
        update={"on_call": on_call.model_copy(update={"identity_client_id": client_id})}
    )
    return platform.model_copy(update={"spec": platform.spec.model_copy(update={"observability": observability})})


def _client_id(on_call: OnCall) -> str:
    if on_call.identity_client_id is None:
        raise ValueError("the identity reading the on-call key is not known yet")
    return on_call.identity_client_id


def _secret_key(on_call: OnCall) -> str:
    return PAGERDUTY_KEY if on_call.pager_duty is not None else OPSGENIE_KEY


def _receiver(on_call: OnCall, urgency: Urgency) -> Obj:
    key = {"name": ON_CALL, "key": _secret_key(on_call)}
    if on_call.pager_duty is not None:
        pagerduty: Obj = {
            "routingKey": key,
            "severity": PAGERDUTY_SEVERITY[urgency],
            "sendResolved": True,
            "details": [{"key": "runbook", "value": "{{ .CommonAnnotations.runbook_url }}"}],
        }
        return {"name": urgency.value, "pagerdutyConfigs": [pagerduty]}
    assert on_call.opsgenie is not None
    opsgenie: Obj = {
        "apiKey": key,
        "priority": OPSGENIE_PRIORITY[urgency],
        "sendResolved": True,
        "tags": "fabrikam,{{ .CommonLabels.namespace }},{{ .CommonLabels.service }}",
        "note": "Runbook: {{ .CommonAnnotations.runbook_url }}",
    }
    if on_call.opsgenie.api_url is not None:
        opsgenie["apiURL"] = on_call.opsgenie.api_url
    return {"name": urgency.value, "opsgenieConfigs": [opsgenie]}


def alertmanager_config(platform: DeliveryPlatform, team: Team) -> Obj:
    """Alerts of the namespace, grouped per alert and service, to a receiver per urgency; a ticket is held back while
    the page of the same service and objective fires (the SRE workbook's advice against double notification)."""
    on_call = platform.spec.observability.on_call
    assert on_call is not None
    urgencies = sorted({route.urgency for route in on_call.severities} - {Urgency.NONE})
    routes = [
        {
            "matchers": [{"name": "severity", "value": route.severity, "matchType": "="}],
            "receiver": route.urgency.value,
            **({"repeatInterval": REPEAT[route.urgency]} if route.urgency is not Urgency.NONE else {}),
        }
        for route in on_call.severities
    ]
    labels = {**platform.spec.observability.prometheus_labels, **_labels(platform, team, ON_CALL)}
    return {
        "apiVersion": ALERTMANAGER_V1ALPHA1,
        "kind": ALERTMANAGER_CONFIG,
        "metadata": metadata(ON_CALL, namespace=team.namespace, labels=labels, owners=_owners(platform)),
        "spec": {
            "route": {
                "receiver": Urgency.NONE.value,
                "groupBy": ["alertname", "namespace", "service"],
                "groupWait": "30s",
                "groupInterval": "5m",
                "repeatInterval": "4h",
                "routes": routes,
            },
            "receivers": [{"name": Urgency.NONE.value}, *(_receiver(on_call, u) for u in urgencies)],
            "inhibitRules": [
                {
                    "sourceMatch": [{"name": "severity", "value": "critical", "matchType": "="}],
                    "targetMatch": [{"name": "severity", "value": "warning", "matchType": "="}],
                    "equal": ["namespace", "service", "slo"],
                }
            ],
        },
    }


def secret_provider_class(platform: DeliveryPlatform, team: Team) -> Obj:
    """The key in the platform's Key Vault, mounted by the keys pod and synced into the Secret `fabrikam-oncall`."""
    on_call, azure = platform.spec.observability.on_call, platform.spec.azure
    assert on_call is not None
    assert azure is not None
    assert azure.key_vault_name is not None  # spec.observability.onCall needs it
    labels = _labels(platform, team, ON_CALL)
    parameters = {
        "usePodIdentity": "false",
        "clientID": _client_id(on_call),
        "keyvaultName": azure.key_vault_name,
        "tenantId": azure.tenant_id,
        "objects": f"array:\n  - |\n    objectName: {on_call.key_secret}\n    objectType: secret\n",
    }
    return {
        "apiVersion": "secrets-store.csi.x-k8s.io/v1",
        "kind": "SecretProviderClass",
        "metadata": metadata(ON_CALL, namespace=team.namespace, labels=labels, owners=_owners(platform)),
        "spec": {
            "provider": "azure",
            "parameters": parameters,
            "secretObjects": [
                {
                    "secretName": ON_CALL,
                    "type": "Opaque",
                    "labels": labels,
                    "data": [{"objectName": on_call.key_secret, "key": _secret_key(on_call)}],
                }
            ],
        },
    }


def service_account(platform: DeliveryPlatform, team: Team) -> Obj:
    on_call = platform.spec.observability.on_call
    assert on_call is not None
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": metadata(
            KEYS,
            namespace=team.namespace,
            labels=_labels(platform, team, KEYS),
            owners=_owners(platform),
            annotations={WORKLOAD_IDENTITY_CLIENT_ID: _client_id(on_call)},
        ),
        "automountServiceAccountToken": False,
    }


def keys_deployment(platform: DeliveryPlatform, team: Team) -> Obj:
    """One idle pod holding the key's CSI mount (the platform image, waiting for a signal); a new class (another
    identity, secret or vault) rolls it, so the key is mounted again with it."""
    labels = _labels(platform, team, KEYS)
    mounted = config_hash(secret_provider_class(platform, team)["spec"])
    container: Obj = {
        "name": "keys",
        "image": platform.spec.image.reference,
        "imagePullPolicy": "IfNotPresent",
        "command": ["python", "-c", "import signal; signal.pause()"],
        "resources": {"requests": {"cpu": "5m", "memory": "16Mi"}, "limits": {"cpu": "50m", "memory": "48Mi"}},
        "securityContext": {"runAsNonRoot": True, "runAsUser": RUN_AS, "runAsGroup": RUN_AS} | HARDENED_CONTAINER,
        "volumeMounts": [{"name": "keys", "mountPath": SECRETS_DIR, "readOnly": True}],
    }
    pod: Obj = {
        "serviceAccountName": KEYS,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS,
            "runAsGroup": RUN_AS,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "terminationGracePeriodSeconds": 5,
        "containers": [container],
        "volumes": [
            {
                "name": "keys",
                "csi": {
                    "driver": "secrets-store.csi.k8s.io",
                    "readOnly": True,
                    "volumeAttributes": {"secretProviderClass": ON_CALL},
                },
            }
        ],
    } | node_placement(platform)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(
            KEYS, namespace=team.namespace, labels=labels, owners=_owners(platform), annotations=AUDIT_IGNORE
        ),
        "spec": {
            "replicas": 1,
            "revisionHistoryLimit": 2,
            "selector": {"matchLabels": selector(KEYS)},
            "template": {
                "metadata": {
                    "labels": {**labels, WORKLOAD_IDENTITY_USE: "true"},
                    "annotations": {CONFIG_HASH: mounted},
                },
                "spec": pod,
            },
        },
    }


def render_on_call(platform: DeliveryPlatform, team: Team) -> list[Obj]:
    """The team namespace's on-call objects, in apply order. While the identity reading the key is not known (the
    operator's, before Azure first answered), the routing only: a pod mounting the key without it would fail, and
    the objects an earlier pass applied stay as they are (nothing unrendered is deleted)."""
    on_call = platform.spec.observability.on_call
    assert on_call is not None
    if on_call.identity_client_id is None:
        return [alertmanager_config(platform, team)]
    return [
        service_account(platform, team),
        secret_provider_class(platform, team),
        keys_deployment(platform, team),
        alertmanager_config(platform, team),
    ]
