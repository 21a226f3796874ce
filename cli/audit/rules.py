"""The catalog of audit rules: for each, its severity, the seed's sentence it detects, and the remedy.

The sentences are quoted from the description of the platform as it runs today, so a report reads as that list;
each remedy names the DroneService field or DeliveryPlatform setting that makes the problem impossible, and
`fields` lists those paths so a test keeps them true to the API models.
"""

from __future__ import annotations

from dataclasses import dataclass

from fabrikam.cli.audit.findings import Finding, ObjectRef, Severity


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    title: str
    seed: str
    fix: str
    fields: tuple[str, ...] = ()

    def finding(self, obj: ObjectRef, detail: str) -> Finding:
        return Finding(self.id, self.severity, obj, self.seed, detail, self.fix)


_LOW, _MEDIUM, _HIGH, _CRITICAL = Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL

_PSS = (
    "the operator renders every DroneService pod to Pod Security `restricted` (non-root, no privilege escalation, "
    "ALL capabilities dropped, RuntimeDefault seccomp, read-only root filesystem, no service account token) with no "
    "field to loosen it, and labels each team namespace of DeliveryPlatform spec.teams[].namespace "
    "pod-security.kubernetes.io/enforce=restricted"
)
_KEY_VAULT = (
    "DroneService spec.secrets[] names Key Vault objects of DeliveryPlatform spec.azure.keyVaultName, mounted "
    "read-only as files by the Secrets Store CSI driver: no Kubernetes Secret, no environment variable"
)

RULES: tuple[Rule, ...] = (
    Rule(
        "default-namespace",
        _MEDIUM,
        "Workload in the default namespace",
        "All microservices deployed to default namespace (no namespace segregation)",
        "DeliveryPlatform spec.teams[].namespace with spec.teams[].services: each team's services run in its own "
        "namespace (default and kube-* are refused)",
        ("DeliveryPlatform spec.teams[].namespace", "DeliveryPlatform spec.teams[].services"),
    ),
    Rule(
        "privileged",
        _CRITICAL,
        "Privileged container",
        "Some containers configured in privileged mode for debugging",
        "DroneService: the operator renders privileged: false and allowPrivilegeEscalation: false, with no field to "
        "change it; debug with an ephemeral container (kubectl debug) instead",
    ),
    Rule(
        "runs-as-root",
        _HIGH,
        "Container may run as root",
        "Containers running as root user",
        "DroneService: every container runs as UID 10001 with runAsNonRoot, which is why spec.port is at least 1024; "
        "the team namespace (DeliveryPlatform spec.teams[].namespace) enforces Pod Security restricted",
        ("DroneService spec.port", "DeliveryPlatform spec.teams[].namespace"),
    ),
    Rule(
        "added-capabilities",
        _HIGH,
        "Linux capabilities added",
        "No pod security policies or Azure Policy for Kubernetes enabled",
        "DroneService: containers drop ALL capabilities and add none; " + _PSS,
        ("DeliveryPlatform spec.teams[].namespace",),
    ),
    Rule(
        "host-namespaces",
        _CRITICAL,
        "Host network, PID, IPC or port",
        "No pod security policies or Azure Policy for Kubernetes enabled",
        "DroneService: pods never share the node's network, PID or IPC namespace nor bind host ports; "
        "the service listens on spec.port behind its ClusterIP Service",
        ("DroneService spec.port",),
    ),
    Rule(
        "host-path",
        _HIGH,
        "hostPath volume",
        "No pod security policies or Azure Policy for Kubernetes enabled",
        "DroneService: the only volumes are an emptyDir for /tmp and the Key Vault secrets of spec.secrets[]; "
        "state lives in the platform's stores (DroneService spec.uses)",
        ("DroneService spec.secrets", "DroneService spec.uses"),
    ),
    Rule(
        "pod-security",
        _MEDIUM,
        "Pod not hardened to Pod Security restricted",
        "No pod security policies or Azure Policy for Kubernetes enabled",
        "DroneService: " + _PSS,
        ("DeliveryPlatform spec.teams[].namespace",),
    ),
    Rule(
        "missing-requests",
        _MEDIUM,
        "Container without CPU or memory requests",
        "No resource limits defined for most containers (only requests set)",
        "DroneService spec.resources.requests (required, default 100m CPU and 128Mi memory); the team namespace's "
        "LimitRange fills in requests for anything else",
        ("DroneService spec.resources.requests",),
    ),
    Rule(
        "missing-limits",
        _MEDIUM,
        "Container without CPU or memory limits",
        "No resource limits defined for most containers (only requests set)",
        "DroneService spec.resources.limits (required, at least the requests; default 500m CPU and 256Mi memory); the "
        "team namespace's LimitRange fills in limits for anything else",
        ("DroneService spec.resources.limits",),
    ),
    Rule(
        "missing-liveness-probe",
        _MEDIUM,
        "No liveness probe",
        "Liveness probes configured on 4 microservices",
        "DroneService spec.probes.liveness: every service gets a liveness probe on /healthz (the process only); the "
        "field tunes its timing",
        ("DroneService spec.probes.liveness",),
    ),
    Rule(
        "missing-readiness-probe",
        _MEDIUM,
        "No readiness probe",
        "Readiness probes configured on 6 microservices",
        "DroneService spec.probes.readiness: every service gets a readiness probe on /readyz, which may check its "
        "dependencies; the field tunes its timing",
        ("DroneService spec.probes.readiness",),
    ),
    Rule(
        "missing-startup-probe",
        _LOW,
        "No startup probe",
        "No startup probes configured",
        "DroneService spec.probes.startup: every service gets a startup probe on /healthz, so a slow start is not "
        "killed by the liveness probe; the field tunes its timing",
        ("DroneService spec.probes.startup",),
    ),
    Rule(
        "liveness-checks-dependencies",
        _HIGH,
        "Liveness probe checks a dependency",
        "Some probes checking external dependencies (database connections)",
        "DroneService spec.probes.liveness: liveness is always /healthz and checks the process only, so a database "
        "outage never restarts healthy pods; dependencies belong to readiness (/readyz, spec.probes.readiness)",
        ("DroneService spec.probes.liveness", "DroneService spec.probes.readiness"),
    ),
    Rule(
        "no-hpa",
        _MEDIUM,
        "No HorizontalPodAutoscaler",
        "Horizontal Pod Autoscaler enabled for some microservices but not all",
        "DroneService spec.autoscaling (minReplicas at least 2, maxReplicas, targetCpuUtilizationPercentage): every "
        "service gets an HPA; a fixed count is minReplicas equal to maxReplicas",
        (
            "DroneService spec.autoscaling.minReplicas",
            "DroneService spec.autoscaling.maxReplicas",
            "DroneService spec.autoscaling.targetCpuUtilizationPercentage",
        ),
    ),
    Rule(
        "no-pdb",
        _MEDIUM,
        "No PodDisruptionBudget",
        "No pod disruption budgets configured",
        "DroneService spec.disruption.maxUnavailable: every service gets a PodDisruptionBudget (default 1, always "
        "below spec.autoscaling.minReplicas)",
        ("DroneService spec.disruption.maxUnavailable", "DroneService spec.autoscaling.minReplicas"),
    ),
    Rule(
        "no-network-policy",
        _HIGH,
        "Pods not isolated by a NetworkPolicy",
        "No network policies configured",
        "DroneService spec.calls, spec.allowedCallers and spec.uses: the operator allows exactly those flows (and "
        "DeliveryPlatform spec.network.egress outside the cluster) on top of a default deny",
        (
            "DroneService spec.calls",
            "DroneService spec.allowedCallers",
            "DroneService spec.uses",
            "DeliveryPlatform spec.network.egress",
        ),
    ),
    Rule(
        "no-default-deny",
        _HIGH,
        "Namespace without a default-deny NetworkPolicy",
        "No network policies configured",
        "DeliveryPlatform spec.teams[].namespace: the operator gives each team namespace a default-deny "
        "NetworkPolicy (ingress and egress); DroneService spec.calls, spec.allowedCallers and spec.uses open the "
        "flows each service needs",
        (
            "DeliveryPlatform spec.teams[].namespace",
            "DroneService spec.calls",
            "DroneService spec.allowedCallers",
            "DroneService spec.uses",
        ),
    ),
    Rule(
        "no-resource-quota",
        _MEDIUM,
        "Namespace without a ResourceQuota",
        "No resource quotas configured at namespace level",
        "DeliveryPlatform spec.teams[].quota (cpu, memory, pods): the operator gives each team namespace a "
        "ResourceQuota, so one team cannot starve the others",
        ("DeliveryPlatform spec.teams[].quota.cpu", "DeliveryPlatform spec.teams[].quota.memory"),
    ),
    Rule(
        "no-limit-range",
        _LOW,
        "Namespace without a LimitRange",
        "No resource limits defined for most containers (only requests set)",
        "DeliveryPlatform spec.teams[].namespace: the operator gives each team namespace a LimitRange with default "
        "requests and limits for any container that names none",
        ("DeliveryPlatform spec.teams[].namespace",),
    ),
    Rule(
        "no-pod-security-admission",
        _MEDIUM,
        "Namespace does not enforce Pod Security",
        "No pod security policies or Azure Policy for Kubernetes enabled",
        "DeliveryPlatform spec.teams[].namespace: the operator creates each team namespace labelled "
        "pod-security.kubernetes.io/enforce=restricted",
        ("DeliveryPlatform spec.teams[].namespace",),
    ),
    Rule(
        "deprecated-api",
        _HIGH,
        "Deprecated or removed API version",
        "Several deprecated Kubernetes API versions in manifests (apps/v1beta1)",
        "DroneService and DeliveryPlatform: the operator renders current API versions only (apps/v1, autoscaling/v2, "
        "policy/v1, networking.k8s.io/v1) and keeps them current across Kubernetes upgrades",
    ),
    Rule(
        "secret-in-env",
        _CRITICAL,
        "Secret value written in an environment variable",
        "Third-party SMS service (Twilio) - credentials in environment variables",
        _KEY_VAULT + "; DroneService spec.config[] is for non-secret values only",
        ("DroneService spec.secrets", "DeliveryPlatform spec.azure.keyVaultName", "DroneService spec.config"),
    ),
    Rule(
        "secret-env-from-secret",
        _MEDIUM,
        "Kubernetes Secret exposed as environment variables",
        "Service-to-service authentication using shared secrets stored in Kubernetes secrets (not Key Vault)",
        _KEY_VAULT + "; between services, DroneService spec.identity.azure (Microsoft Entra Workload ID) and "
        "DeliveryPlatform spec.auth replace shared secrets with tokens",
        (
            "DroneService spec.secrets",
            "DeliveryPlatform spec.azure.keyVaultName",
            "DroneService spec.identity.azure",
            "DeliveryPlatform spec.auth",
        ),
    ),
    Rule(
        "secret-in-configmap",
        _HIGH,
        "Secret value in a ConfigMap",
        "No Azure Key Vault integration for secrets management",
        _KEY_VAULT + "; DroneService spec.config[] (the service's ConfigMap) holds non-secret values only",
        ("DroneService spec.secrets", "DeliveryPlatform spec.azure.keyVaultName", "DroneService spec.config"),
    ),
    Rule(
        "third-party-key-in-secret",
        _HIGH,
        "Third-party API key in a Kubernetes Secret",
        "Third-party email service (SendGrid) - API key stored in Kubernetes secret",
        _KEY_VAULT + " (sendgrid-api-key, twilio-auth-token); the providers' plain settings go to DeliveryPlatform "
        "spec.thirdParty",
        ("DroneService spec.secrets", "DeliveryPlatform spec.azure.keyVaultName", "DeliveryPlatform spec.thirdParty"),
    ),
    Rule(
        "shared-secret-in-secret",
        _MEDIUM,
        "Credentials in a Kubernetes Secret",
        "Service-to-service authentication using shared secrets stored in Kubernetes secrets (not Key Vault)",
        "DroneService spec.identity.azure (Microsoft Entra Workload ID) and DeliveryPlatform spec.auth: services "
        "authenticate with tokens, no shared secret; what must stay secret is a Key Vault object (" + _KEY_VAULT + ")",
        (
            "DroneService spec.identity.azure",
            "DeliveryPlatform spec.auth",
            "DroneService spec.secrets",
            "DeliveryPlatform spec.azure.keyVaultName",
        ),
    ),
    Rule(
        "cluster-admin-binding",
        _CRITICAL,
        "cluster-admin bound to users, groups or service accounts",
        "All teams have cluster-admin access (no RBAC segmentation)",
        "DeliveryPlatform spec.teams[].groups: each team's Entra groups are bound to a Role in the team's own "
        "namespace (DroneServices, read access to their children), never cluster-admin",
        ("DeliveryPlatform spec.teams[].groups", "DeliveryPlatform spec.teams[].namespace"),
    ),
    Rule(
        "image-latest",
        _HIGH,
        "Image without a tag or tagged latest",
        "Docker images built from latest base images without pinning versions",
        "DroneService spec.image.repository and spec.image.digest: images are pinned by sha256 digest (tags are "
        "refused), from DeliveryPlatform spec.allowedRegistries only",
        (
            "DroneService spec.image.repository",
            "DroneService spec.image.digest",
            "DeliveryPlatform spec.allowedRegistries",
        ),
    ),
    Rule(
        "image-not-pinned",
        _MEDIUM,
        "Image by tag, not by digest",
        "Docker images built from latest base images without pinning versions",
        "DroneService spec.image.digest: what runs is exactly what was scanned, a tag can move under it",
        ("DroneService spec.image.digest",),
    ),
    Rule(
        "spot-placement",
        _MEDIUM,
        "Spot toleration or selector without the spot taint story",
        "Spot nodes used for non-critical batch jobs but no taints/tolerations configured",
        "DroneService spec.placement.interruptible: true only for a service that tolerates eviction; it then "
        "tolerates the spot pool's taint and prefers those nodes, and no other service ever lands there",
        ("DroneService spec.placement.interruptible",),
    ),
    Rule(
        "spot-node-untainted",
        _HIGH,
        "Spot node without the spot taint",
        "Spot nodes used for non-critical batch jobs but no taints/tolerations configured",
        "Platform setting: keep the AKS spot pool's taint kubernetes.azure.com/scalesetpriority=spot:NoSchedule "
        "(AKS sets it on every spot node pool); DroneService spec.placement.interruptible opts a service in",
        ("DroneService spec.placement.interruptible",),
    ),
    Rule(
        "load-balancer-service",
        _HIGH,
        "Service of type LoadBalancer",
        "Azure Load Balancer (Standard SKU) with public IP for ingress",
        "DroneService spec.expose.path: a service is published only through the platform's ingress (DeliveryPlatform "
        "spec.ingress.host, TLS from spec.ingress.clusterIssuer, spec.ingress.rateLimit); team quotas allow no "
        "LoadBalancer Service",
        (
            "DroneService spec.expose.path",
            "DeliveryPlatform spec.ingress.host",
            "DeliveryPlatform spec.ingress.clusterIssuer",
            "DeliveryPlatform spec.ingress.rateLimit",
        ),
    ),
    Rule(
        "node-port-service",
        _MEDIUM,
        "Service of type NodePort",
        "Azure Load Balancer (Standard SKU) with public IP for ingress",
        "DroneService spec.expose.path: a service is published only through the platform's ingress "
        "(DeliveryPlatform spec.ingress.host); team quotas allow no NodePort Service",
        ("DroneService spec.expose.path", "DeliveryPlatform spec.ingress.host"),
    ),
    Rule(
        "ingress-no-tls",
        _HIGH,
        "Ingress without TLS",
        "TLS termination at ingress controller using self-signed certificates (not production-ready)",
        "DroneService spec.expose with DeliveryPlatform spec.ingress.host and spec.ingress.clusterIssuer: every "
        "published path is HTTPS with a certificate cert-manager issues and renews",
        (
            "DroneService spec.expose",
            "DeliveryPlatform spec.ingress.host",
            "DeliveryPlatform spec.ingress.clusterIssuer",
        ),
    ),
    Rule(
        "ingress-self-signed",
        _HIGH,
        "Ingress serves a self-signed certificate",
        "TLS termination at ingress controller using self-signed certificates (not production-ready)",
        "DeliveryPlatform spec.ingress.clusterIssuer: the certificate of every exposed DroneService is issued by a "
        "cert-manager ClusterIssuer of a public CA (letsencrypt by default)",
        ("DeliveryPlatform spec.ingress.clusterIssuer",),
    ),
    Rule(
        "ingress-cert-not-rotated",
        _MEDIUM,
        "Ingress certificate nothing renews",
        "No automated certificate rotation (TLS certificates expire in 45 days)",
        "DeliveryPlatform spec.ingress.clusterIssuer: cert-manager issues and renews the certificate before it expires",
        ("DeliveryPlatform spec.ingress.clusterIssuer",),
    ),
    Rule(
        "no-workload-identity",
        _LOW,
        "Pod without Microsoft Entra Workload ID",
        "No Microsoft Entra Workload ID configured for individual microservices",
        "DroneService spec.identity.azure (default true): each service gets its own managed identity federated "
        "with its ServiceAccount, and Azure roles on exactly what spec.uses names",
        ("DroneService spec.identity.azure", "DroneService spec.uses"),
    ),
    Rule(
        "no-telemetry",
        _LOW,
        "Workload exports no telemetry",
        "Application Insights connected to 5 out of 8 microservices",
        "DeliveryPlatform spec.observability.otlpEndpoint: the operator sets the OpenTelemetry exporter of every "
        "service, none is left out",
        ("DeliveryPlatform spec.observability.otlpEndpoint",),
    ),
)

BY_ID: dict[str, Rule] = {rule.id: rule for rule in RULES}
