"""Everything one DroneService becomes, given its platform, its peers and what the operator has observed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from fabrikam.operator.api import API_VERSION, Component, DeliveryPlatform, DependencyKind, DroneService
from fabrikam.operator.api.service import KIND
from fabrikam.operator.render import backing, databases, tenancy, workload
from fabrikam.operator.render import ingress as ingress_
from fabrikam.operator.render.catalog import PII_KEY, SENDGRID_API_KEY
from fabrikam.operator.render.graph import callees
from fabrikam.operator.render.labels import Obj, common, owner_reference
from fabrikam.operator.render.network import service_policy
from fabrikam.operator.render.validation import InvalidSpec, SpecProblem, validate_drone_service


@dataclass(frozen=True)
class ServiceFacts:
    """What the operator observed elsewhere and feeds back in; rendering stays a pure function of it."""

    # Client id of the service's Azure managed identity, once it exists.
    identity_client_id: str | None = None
    # Extra environment from provisioned resources, e.g. the Service Bus namespace host name.
    environment: Mapping[str, str] = field(default_factory=dict)
    # Endpoints of the platform's Azure resources by kind (its status.azureResources), e.g. the PostgreSQL host.
    azure_endpoints: Mapping[str, str] = field(default_factory=dict)
    # Name of the service's Azure managed identity: the user it signs in to PostgreSQL as.
    identity_name: str | None = None
    # The platform is in its off-hours (render.off_hours.active): the autoscaler's minimum drops to its minReplicas.
    # An observation of the clock, kept out of rendering so that rendering stays a function of its inputs.
    off_hours: bool = False


# The kind of the platform's Application Insights component in its status.azureResources, whose endpoint is the
# component's connection string (operator/azure/adapters.py).
APPLICATION_INSIGHTS_KIND = "ApplicationInsightsComponent"


def cluster_url(namespace: str, name: str) -> str:
    return f"http://{name}.{namespace}.svc.cluster.local"


def endpoint(svc: DroneService, *, platform: DeliveryPlatform) -> str:
    """Where clients reach the service: the public URL when exposed on a host, else the in-cluster one."""
    host = platform.spec.ingress.host
    if svc.spec.expose is not None and host is not None:
        return f"https://{host}{svc.spec.expose.path}"
    return cluster_url(svc.namespace, svc.name)


def environment(svc: DroneService, *, platform: DeliveryPlatform, facts: ServiceFacts) -> dict[str, str]:
    """The ConfigMap data: operator-wired values (dependencies, telemetry) plus the spec's own config."""
    team = platform.spec.team_of_namespace(svc.namespace)
    env = {
        "FABRIKAM_SERVICE": svc.spec.component.value if svc.spec.component.value != "custom" else svc.name,
        "FABRIKAM_SERVICE_NAME": svc.name,
        "FABRIKAM_PLATFORM": platform.name,
        # Listen on the pod IP: the workloads default to loopback for local runs.
        "FABRIKAM_HOST": "0.0.0.0",
        "FABRIKAM_PORT": str(svc.spec.port),
        "FABRIKAM_BROKER": "servicebus" if platform.spec.messaging.service_bus is not None else "redis",
        "OTEL_SERVICE_NAME": svc.name,
        "OTEL_RESOURCE_ATTRIBUTES": f"service.namespace={svc.namespace},team={team.name if team else ''}",
        # The standard variables, which a team's service on any OpenTelemetry SDK reads too: every service keeps the
        # same share of traces, and follows the sampled flag of the trace context it is handed.
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": f"{platform.spec.observability.tracing.sampling_ratio:g}",
    }
    auth = platform.spec.auth
    if auth is not None:
        env["FABRIKAM_AUTH_ISSUER"] = auth.issuer_url
        env["FABRIKAM_AUTH_AUDIENCE"] = auth.audience
        env["FABRIKAM_AUTH_BUSINESS_CLAIM"] = auth.business_claim
        if svc.spec.component.value == "account":
            # The platform's issuer signs the tokens; the account service's local issuer is for laptops only.
            env["FABRIKAM_ACCOUNT_LOCAL_ISSUER"] = "false"
    otlp = platform.spec.observability.otlp_endpoint
    if otlp is not None:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = otlp
        env["FABRIKAM_OTLP_ENDPOINT"] = otlp
    env |= _application_insights(platform, facts)
    for ref in callees(svc):
        env[f"FABRIKAM_{workload.env_name(ref.name)}_URL"] = cluster_url(ref.namespace, ref.name)
    if svc.spec.component is Component.CUSTOM and any(use.kind is DependencyKind.REDIS for use in svc.spec.uses):
        # A team's service may touch only its own keys in the shared cache (its Redis access policy says so).
        env["FABRIKAM_REDIS_KEY_PREFIX"] = svc.redis_key_prefix
    env |= _third_party(svc, platform)
    env |= backing.environment(svc, platform)
    env |= _secret_files(svc, platform)
    env |= facts.environment
    env |= databases.environment(
        svc,
        platform,
        facts.azure_endpoints,
        secrets_dir=workload.SECRETS_DIR,
        database_user=facts.identity_name if svc.spec.identity.azure else None,
    )
    env |= {entry.name: entry.value for entry in svc.spec.config}
    return env


def _application_insights(platform: DeliveryPlatform, facts: ServiceFacts) -> dict[str, str]:
    """APPLICATIONINSIGHTS_CONNECTION_STRING of the platform's component, empty until Azure answered: the key is
    there from the start, so the value's arrival changes the ConfigMap's hash and rolls the pods onto it. With both
    it and an OTLP endpoint, the services (FABRIKAM_TELEMETRY=auto, workloads/kit/telemetry.py) send to Application
    Insights only; an empty value is no connection string to them, so until then they use the OTLP endpoint."""
    if platform.spec.azure is None or platform.spec.observability.application_insights is None:
        return {}
    return {"APPLICATIONINSIGHTS_CONNECTION_STRING": facts.azure_endpoints.get(APPLICATION_INSIGHTS_KIND, "")}


def _third_party(svc: DroneService, platform: DeliveryPlatform) -> dict[str, str]:
    """The plain settings of `spec.thirdParty` and `spec.fleet` for the bundled service that uses them."""
    providers = platform.spec.third_party
    if svc.spec.component is Component.NOTIFICATION:
        env = {"FABRIKAM_EMAIL_FROM": providers.email.from_address}
        if providers.sms is not None:
            env["FABRIKAM_TWILIO_ACCOUNT_SID"] = providers.sms.twilio_account_sid
            env["FABRIKAM_TWILIO_FROM"] = providers.sms.from_number
        return env
    if svc.spec.component is Component.DRONE_SCHEDULER and providers.weather is not None:
        return {"FABRIKAM_WEATHER_URL": providers.weather.url}
    if svc.spec.component is Component.DRONE_TELEMETRY:
        return {"FABRIKAM_TELEMETRY_MAX_SPEED_MPS": f"{platform.spec.fleet.max_speed_mps:g}"}
    return {}


def _key_vault(platform: DeliveryPlatform) -> bool:
    return platform.spec.azure is not None and platform.spec.azure.key_vault_name is not None


def _secret_files(svc: DroneService, platform: DeliveryPlatform) -> dict[str, str]:
    """Where the secrets are mounted, only when they are: the Key Vault objects when the platform names a Key
    Vault, else the operator-generated development Secret with in-cluster backing. The bundled services read their
    secrets from files there; the PII key must exist, never be generated in a pod."""
    if _key_vault(platform):
        names = {secret.name for secret in svc.spec.secrets}
    else:
        names = set(backing.dev_secret_keys(svc, platform))
    if not names:
        return {}
    env = {"FABRIKAM_SECRETS_DIR": workload.SECRETS_DIR}
    if PII_KEY.name in names:
        env |= {"FABRIKAM_PII_KEY_FILE": f"{workload.SECRETS_DIR}/{PII_KEY.name}", "FABRIKAM_PII_KEY_CREATE": "false"}
    if SENDGRID_API_KEY.name in names:
        env["FABRIKAM_EMAIL_PROVIDER"] = "sendgrid"
    return env


def _off_hours_min(platform: DeliveryPlatform, facts: ServiceFacts) -> int | None:
    off_hours = platform.spec.cost.off_hours
    return off_hours.min_replicas if facts.off_hours and off_hours is not None else None


def render_dev_secret(svc: DroneService, *, platform: DeliveryPlatform, values: Mapping[str, str]) -> Obj:
    """The service's generated development Secret (see `backing.dev_secret`), labelled and owned like its other
    children, so it goes away with the DroneService."""
    team = platform.spec.team_of_namespace(svc.namespace)
    if team is None:
        raise InvalidSpec(
            [SpecProblem("NamespaceNotInPlatform", "metadata.namespace", f"{svc.namespace!r}", fatal=True)]
        )
    labels = common(name=svc.name, component=svc.spec.component.value, team=team, platform=platform.name)
    owners = owner_reference(api_version=API_VERSION, kind=KIND, name=svc.name, uid=svc.metadata.uid)
    return backing.dev_secret(svc, values, labels=labels, owners=owners)


def render_redis_secret(svc: DroneService, *, platform: DeliveryPlatform, password: str) -> Obj:
    """The service's in-cluster Redis password (redis_acl.password), as the file `redis-password`."""
    secret = render_dev_secret(svc, platform=platform, values={backing.REDIS_PASSWORD_FILE: password})
    secret["metadata"]["name"] = backing.redis_secret_name(svc)
    return secret


def render_drone_service(
    svc: DroneService,
    *,
    platform: DeliveryPlatform | None,
    peers: Iterable[DroneService] = (),
    facts: ServiceFacts | None = None,
) -> list[Obj]:
    """Every child object of `svc`, in apply order. `peers` are the DroneServices of the same platform (the
    dependency graph); raises InvalidSpec only for fatal problems (see `validate_drone_service`)."""
    peers = list(peers)
    problems = [p for p in validate_drone_service(svc, platform=platform, peers=peers) if p.fatal]
    if problems or platform is None:
        raise InvalidSpec(problems)
    team = platform.spec.team_of_namespace(svc.namespace)
    assert team is not None  # a namespace outside the platform's teams is a fatal problem above
    facts = facts or ServiceFacts()
    component = svc.spec.component.value
    labels = common(name=svc.name, component=component, team=team, platform=platform.name)
    owners = owner_reference(api_version=API_VERSION, kind=KIND, name=svc.name, uid=svc.metadata.uid)
    client_id = facts.identity_client_id if svc.spec.identity.azure else None

    data = environment(svc, platform=platform, facts=facts)
    provider = workload.secret_provider_class(svc, platform=platform, client_id=client_id, labels=labels, owners=owners)
    digest = workload.config_hash(data, provider["spec"] if provider else None, client_id)
    secrets_volume = None
    if provider is not None:
        secrets_volume = workload.key_vault_volume(svc)
    elif backing.dev_secret_keys(svc, platform):
        secrets_volume = workload.secret_volume(backing.dev_secret_name(svc))
    objects: list[Obj | None] = [
        workload.service_account(svc, labels=labels, owners=owners, client_id=client_id),
        workload.config_map(svc, data=data, labels=labels, owners=owners),
        provider,
        workload.deployment(
            svc,
            platform=platform,
            labels=labels,
            owners=owners,
            config_digest=digest,
            secrets_volume=secrets_volume,
            pod_labels=backing.client_labels(svc, platform),
            redis_secret=backing.redis_secret_name(svc) if backing.uses_redis(svc, platform) else None,
        ),
        workload.service(svc, labels=labels, owners=owners),
        workload.autoscaler(svc, labels=labels, owners=owners, off_hours_min=_off_hours_min(platform, facts)),
        workload.disruption_budget(svc, labels=labels, owners=owners),
        service_policy(
            svc,
            platform=platform,
            callers=tenancy.accepted_callers(svc, peers, platform),
            callees=tenancy.accepted_callees(svc, peers, platform),
            labels=labels,
            owners=owners,
            store_egress=backing.client_egress(svc, platform),
        ),
        ingress_.ingress(svc, platform=platform, labels=labels, owners=owners),
    ]
    return [obj for obj in objects if obj is not None]
