"""The Azure side of a DeliveryPlatform and of a DroneService: what the kopf handlers call.

Every function is safe to call again at any time (after a crash, on the periodic re-check, on resume): resources
have deterministic names, unchanged ones cost a GET, and results are values the handlers map to conditions.
Parents are reconciled before children, and a team's Redis access policy before its assignment; what waits on
something not ready yet is reported Pending, not attempted. Deletion goes the other way round.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime

from fabrikam.operator.api import DeliveryPlatform, DroneService
from fabrikam.operator.api.platform import DeletionPolicy
from fabrikam.operator.azure import desired, naming, recovery
from fabrikam.operator.azure.adapters import (
    Json,
    adapter,
    list_federated_credentials,
    list_queues,
    list_redis_access_assignments,
    list_redis_access_policies,
    list_role_assignments,
    mongo_connection_string,
)
from fabrikam.operator.azure.clients import AzureClients
from fabrikam.operator.azure.codes import AzureFailure
from fabrikam.operator.azure.desired import DesiredResource, Kind
from fabrikam.operator.azure.reconciler import Reconciler
from fabrikam.operator.azure.results import (
    DELETED,
    FAILED,
    HELD,
    PENDING,
    RETAINED,
    SUCCEEDED,
    AzureOutcome,
    IdentityOutcome,
    ResourceResult,
)


def _pending(res: DesiredResource, *, waiting_for: str) -> ResourceResult:
    return ResourceResult(
        kind=res.kind, name=res.name, id=res.id, provisioning_state=PENDING, error_message=f"waiting for {waiting_for}"
    )


def _parent_id(res: DesiredResource) -> str | None:
    """A child's parent is the resource its id extends by one `/<type>/<name>` pair (a queue's namespace, a
    collection's database); ids, unlike names, are unique (a database and its collection may share a name)."""
    return res.id.rsplit("/", 2)[0].casefold() if res.parent is not None else None


def _needs(res: DesiredResource, ids: set[str]) -> set[str]:
    """Which of `ids` must exist before `res`: its parent, a link's partner, and for a Redis assignment the policy it
    names."""
    needed = {_parent_id(res), res.partner.casefold() if res.partner else None}
    policy = desired.assigned_policy(res)
    if policy is not None:
        needed.add(f"{res.id.rsplit('/', 2)[0]}/accessPolicies/{policy}".casefold())
    return {found for found in needed if found in ids}


def _ids(resources: Sequence[DesiredResource]) -> set[str]:
    return {r.id.casefold() for r in resources}


async def _ensure_tree(reconciler: Reconciler, resources: Sequence[DesiredResource]) -> list[ResourceResult]:
    """Level by level: what needs nothing else (concurrently), then what needed only those, and so on (an account,
    its databases, their collections); input order is kept in the output."""
    ids = _ids(resources)
    done: dict[DesiredResource, ResourceResult] = {}
    ready: set[str] = set()
    while True:
        runnable = [r for r in resources if r not in done and _needs(r, ids) <= ready]
        if not runnable:
            break
        results = await asyncio.gather(*(reconciler.ensure(r) for r in runnable))
        done |= dict(zip(runnable, results, strict=True))
        ready |= {r.id.casefold() for r, result in zip(runnable, results, strict=True) if result.ok}
    by_id = {r.id.casefold(): r.name for r in resources}
    return [
        done.get(r) or _pending(r, waiting_for=", ".join(sorted(by_id[i] for i in _needs(r, ids)))) for r in resources
    ]


async def _delete_tree(reconciler: Reconciler, resources: Sequence[DesiredResource]) -> list[ResourceResult]:
    """Leaves first; one is deleted only once all that needed it is confirmed gone (or retained)."""
    ids = _ids(resources)
    done: dict[DesiredResource, ResourceResult] = {}
    while True:
        waiting = {need for r in resources if r not in done or not done[r].ok for need in _needs(r, ids)}
        runnable = [r for r in resources if r not in done and r.id.casefold() not in waiting]
        if not runnable:
            break
        results = await asyncio.gather(*(reconciler.delete(r) for r in runnable))
        done |= dict(zip(runnable, results, strict=True))
    return [done.get(r) or _pending(r, waiting_for="what needs it to be deleted") for r in resources]


async def reconcile_platform(platform: DeliveryPlatform, clients: AzureClients) -> AzureOutcome:
    """Service Bus namespace and queues, Redis: created, or re-PUT where Azure drifted from the spec; queues no
    longer in the spec deleted or kept (reported Retained) by the deletionPolicy. With `spec.recovery`, their
    partners in the secondary location and the links to them, following the Service Bus pairing as Azure has it."""
    reconciler = Reconciler(clients)
    today = datetime.now(UTC).date()
    pairing, unread = await _pairing(reconciler, platform)
    results = await _ensure_tree(reconciler, desired.owned_resources(platform, today=today, pairing=pairing))
    results = [private_connection(r) for r in _held_if_refused(results)]
    if unread is not None:
        results.append(unread)
    else:
        results += await _held_alias(reconciler, platform, pairing)
    results = _through_alias(results)
    removed: list[ResourceResult] = []
    active = Kind.SERVICE_BUS_NAMESPACE if pairing.active is recovery.Side.HOME else Kind.SERVICE_BUS_RECOVERY_NAMESPACE
    namespace = next((r for r in results if r.kind == active and r.ok), None)
    azure = platform.spec.azure
    if namespace is not None and azure is not None and unread is None:
        listed = await reconciler.list(
            Kind.SERVICE_BUS_QUEUE, list_queues(clients, azure.resource_group, namespace.name)
        )
        if isinstance(listed, AzureFailure):
            results.append(
                _listing_failed(Kind.SERVICE_BUS_QUEUE, namespace.id, listed, "queues no longer in the spec")
            )
        else:
            pruned = await asyncio.gather(
                *(reconciler.delete(q) for q in desired.undeclared_queues(platform, listed or [], pairing))
            )
            removed = [r for r in pruned if r.provisioning_state == DELETED]
            results += [_undeclared(r) for r in pruned if r not in removed]
    account = next((r for r in results if r.kind == Kind.COSMOS_ACCOUNT and r.ok), None)
    if account is not None:
        results.append(await _store_mongo_connection_string(reconciler, platform, account))
    return AzureOutcome(tuple(results), removed=tuple(removed))


async def _store_mongo_connection_string(
    reconciler: Reconciler, platform: DeliveryPlatform, account: ResourceResult
) -> ResourceResult:
    """The account's connection string (with the key the spec chose) into the platform's Key Vault, where the CSI
    driver mounts it into the package pods. Written only when it differs from what the secret holds (its
    `content-sha256` tag): each pass costs one listing and one GET, and a regenerated key is written on the next."""
    azure, cosmos = platform.spec.azure, platform.spec.databases.cosmos_db
    assert azure is not None
    assert cosmos is not None
    listed = await reconciler.read(
        f"{Kind.COSMOS_ACCOUNT}.listConnectionStrings",
        mongo_connection_string(reconciler.clients, azure.resource_group, account.name, cosmos.connection_key),
    )
    stub = desired.mongo_secret(platform, "", fingerprint="")
    if isinstance(listed, AzureFailure):
        return _listing_failed(Kind.KEY_VAULT_SECRET, stub.id, listed, "connection strings of the Cosmos DB account")
    if listed is None:
        return ResourceResult(
            kind=Kind.KEY_VAULT_SECRET,
            name=stub.name,
            id=stub.id,
            provisioning_state=FAILED,
            error_code="ConnectionStringMissing",
            error_message=f"Cosmos DB account {account.name} lists no {cosmos.connection_key} MongoDB connection "
            "string yet",
            retriable=True,
        )
    fingerprint = hashlib.sha256(listed.encode()).hexdigest()
    return await reconciler.ensure(desired.mongo_secret(platform, listed, fingerprint=fingerprint))


def private_connection(result: ResourceResult) -> ResourceResult:
    """A private endpoint serves only once the store approved its connection: Pending (the store's owner approves it,
    e.g. another tenant's store) is retried, Rejected or Disconnected needs a person."""
    status = result.outputs.get("connectionStatus", "")
    if result.kind != Kind.PRIVATE_ENDPOINT or not result.ok or status in ("", "Approved"):
        return result
    return dataclasses.replace(
        result,
        error_code=f"PrivateEndpointConnection{status}",
        error_message=f"the store's owner has not approved the connection ({status}): "
        f"{result.outputs.get('connectionDescription') or 'approve it on the store'}",
        retriable=status == "Pending",
    )


def _undeclared(result: ResourceResult) -> ResourceResult:
    """A queue Azure still holds that the spec no longer lists, with why it is still there."""
    if result.provisioning_state != RETAINED:
        return result
    why = "not in spec.messaging.serviceBus.queues; kept with its messages by deletionPolicy Retain"
    return dataclasses.replace(result, error_message=why)


async def delete_platform(platform: DeliveryPlatform, clients: AzureClients) -> AzureOutcome:
    """Deletes the platform's data stores under deletionPolicy Delete; `ready` once Azure confirmed, or Retained.
    A geo-recovery alias goes first from wherever a failover left it (its namespaces cannot go before it)."""
    pairing = recovery.Pairing()
    azure = platform.spec.azure
    if azure is not None and azure.deletion_policy is DeletionPolicy.DELETE:
        found, unread = await _pairing(Reconciler(clients), platform)
        if unread is not None:
            return AzureOutcome.of([unread])
        pairing = recovery.Pairing(found.active)
    today = datetime.now(UTC).date()
    return await delete_resources(desired.owned_resources(platform, today=today, pairing=pairing), clients)


async def _pairing(
    reconciler: Reconciler, platform: DeliveryPlatform
) -> tuple[recovery.Pairing, ResourceResult | None]:
    """The Service Bus geo-recovery pairing as Azure has it (see recovery.Pairing): the alias read on both namespaces
    and, unless it replicates, the queues of the passive one. When Azure could not answer, the pairing is held this
    pass and the failure returned."""
    azure = platform.spec.azure
    if azure is None or not recovery.pairs_service_bus(platform):
        return recovery.Pairing(), None
    aliases = {side: desired.geo_recovery_alias(platform, azure, side) for side in recovery.Side}
    read = dict(
        zip(
            aliases,
            await asyncio.gather(
                *(
                    reconciler.read(f"{Kind.SERVICE_BUS_ALIAS}.get", adapter(reconciler.clients, alias.kind).get(alias))
                    for alias in aliases.values()
                )
            ),
            strict=True,
        )
    )
    held = {side: found for side, found in read.items() if not isinstance(found, AzureFailure)}
    active = recovery.active_side(held.get(recovery.Side.HOME), held.get(recovery.Side.RECOVERY))
    failed = next(((side, found) for side, found in read.items() if isinstance(found, AzureFailure)), None)
    if failed is not None:
        side, failure = failed
        unread = _unread(aliases[side], failure, f"its alias on {aliases[side].parent}")
        return recovery.Pairing(active, held=unread.error_message), unread
    passive_name, passive_id = recovery.namespace(azure, platform.name, active.other)
    if recovery.replicating(held.get(active), passive_id):
        return recovery.Pairing(active), None
    listed = await reconciler.list(
        Kind.SERVICE_BUS_QUEUE, list_queues(reconciler.clients, azure.resource_group, passive_name)
    )
    if isinstance(listed, AzureFailure):
        unread = _unread(aliases[active], listed, f"the queues of {passive_name}")
        return recovery.Pairing(active, held=unread.error_message), unread
    return recovery.pairing(platform, active, passive_queues=len(listed or [])), None


def _unread(alias: DesiredResource, failure: AzureFailure, what: str) -> ResourceResult:
    """The pairing could not be read this pass: it is left alone, and the failure retried like any other."""
    return ResourceResult(
        kind=alias.kind,
        name=alias.name,
        id=alias.id,
        provisioning_state=FAILED,
        error_code=failure.code,
        error_message=f"cannot read the geo-recovery pairing ({what}): {failure.message}",
        retriable=failure.retriable,
        error_status=failure.status,
    )


# A disaster-recovery partner or link Azure refuses for good (a zone-redundant cache it does not geo-replicate, a
# namespace it does not pair) is a shortfall a person must fix, not a failure of the platform: it is held with Azure's
# words, recovery.assess reports it, and the platform works on.
_RECOVERY_KINDS = frozenset(
    {Kind.SERVICE_BUS_RECOVERY_NAMESPACE, Kind.SERVICE_BUS_ALIAS, Kind.REDIS_RECOVERY_CACHE, Kind.REDIS_LINKED_SERVER}
)


def _held_if_refused(results: Sequence[ResourceResult]) -> list[ResourceResult]:
    refused = [r for r in results if r.kind in _RECOVERY_KINDS and r.failed and not r.retriable]
    if not refused:
        return list(results)
    why = "Azure refused " + "; ".join(f"{r.kind} {r.name}: {r.error_code}: {r.error_message}" for r in refused)
    return [
        dataclasses.replace(
            r, provisioning_state=HELD, error_code=None, error_status=None, retriable=False, error_message=why
        )
        if r in refused or (r.kind in _RECOVERY_KINDS and r.provisioning_state == PENDING)
        else r
        for r in results
    ]


async def _held_alias(
    reconciler: Reconciler, platform: DeliveryPlatform, pairing: recovery.Pairing
) -> list[ResourceResult]:
    """The alias the operator may not pair this pass (`pairing.held`), as Azure holds it (after a failover: on the
    active namespace, not replicating), with why."""
    azure = platform.spec.azure
    if pairing.held is None or azure is None:
        return []
    alias = desired.geo_recovery_alias(platform, azure, pairing.active)
    seen = await reconciler.observe(alias)
    if seen is not None and seen.failed:
        return [seen]
    base = seen or ResourceResult(kind=alias.kind, name=alias.name, id=alias.id, provisioning_state=HELD)
    return [dataclasses.replace(base, provisioning_state=HELD, error_message=pairing.held)]


def _through_alias(results: Sequence[ResourceResult]) -> list[ResourceResult]:
    """The alias' endpoint, once it exists (a pairing made, or left by a failover): where the services reach the
    active namespace, whichever it is."""
    namespace = next(
        (
            r.endpoint
            for r in results
            if r.kind in (Kind.SERVICE_BUS_NAMESPACE, Kind.SERVICE_BUS_RECOVERY_NAMESPACE) and r.endpoint
        ),
        None,
    )
    return [
        dataclasses.replace(r, endpoint=recovery.alias_endpoint(r.name, namespace))
        if r.kind == Kind.SERVICE_BUS_ALIAS
        and namespace
        and r.provisioning_state in (SUCCEEDED, HELD)
        and r.outputs.get("role") in ("Primary", "PrimaryNotReplicating")
        else r
        for r in results
    ]


_EVIDENCE = {
    Kind.SERVICE_BUS_ALIAS.value: recovery.Store.SERVICE_BUS,
    Kind.REDIS_LINKED_SERVER.value: recovery.Store.REDIS,
    Kind.COSMOS_ACCOUNT.value: recovery.Store.COSMOS_DB,
    Kind.POSTGRES_SERVER.value: recovery.Store.POSTGRES,
}


def recovery_evidence(outcome: AzureOutcome) -> dict[recovery.Store, ResourceResult]:
    """Per store, the result of a platform pass proving its disaster recovery, for recovery.assess: the Service Bus
    alias, the Redis link, the Cosmos DB account, the PostgreSQL server."""
    return {_EVIDENCE[r.kind]: r for r in outcome.resources if r.kind in _EVIDENCE}


async def delete_resources(resources: Sequence[DesiredResource], clients: AzureClients) -> AzureOutcome:
    """Deletes (or keeps, by their deletionPolicy) resources no spec names any more, e.g. `desired.unnamed_stores`,
    what needs another first; `ready` once Azure confirmed."""
    return AzureOutcome.of(await _delete_tree(Reconciler(clients), resources))


def _issuer_missing(name: str, what: str) -> ResourceResult:
    return ResourceResult(
        kind=Kind.FEDERATED_CREDENTIAL,
        name=name,
        id="",
        provisioning_state=FAILED,
        error_code="OidcIssuerUrlMissing",
        error_message=f"spec.azure.oidcIssuerUrl of the DeliveryPlatform is required to federate {what}",
    )


def _missing_issuer(svc: DroneService, platform: DeliveryPlatform) -> list[ResourceResult]:
    azure = platform.spec.azure
    if azure is None or azure.oidc_issuer_url is not None or not svc.spec.identity.azure:
        return []
    return [_issuer_missing(f"{svc.namespace}-{svc.name}", "the service's ServiceAccount with its managed identity")]


async def reconcile_service_identity(
    svc: DroneService, platform: DeliveryPlatform, clients: AzureClients
) -> IdentityOutcome:
    """The service's managed identity, its federated credential for the ServiceAccount, and exactly the data-plane
    grants its `uses` need. `client_id` is set as soon as the identity exists, even if grants are still pending."""
    reconciler = Reconciler(clients)
    results = await _ensure_tree(reconciler, desired.identity_resources(svc, platform))
    results += _missing_issuer(svc, platform)
    identity = next((r for r in results if r.kind == Kind.IDENTITY and r.ok), None)
    principal_id = identity.outputs.get("principalId") if identity else None
    revoked: list[ResourceResult] = []
    if principal_id:
        # Revoked before granted: Azure takes one access policy assignment per identity on a cache
        # (Azure/AzureCacheForRedis#14), so a team's service loses Data Contributor before it gets its own policy.
        revoked, failed = await _revoke(reconciler, await _stale_grants(reconciler, svc, platform, principal_id))
        results += failed
        results += await _ensure_tree(reconciler, desired.access_resources(svc, platform, principal_id=principal_id))
    return IdentityOutcome(
        resources=tuple(results),
        client_id=identity.outputs.get("clientId") if identity else None,
        principal_id=principal_id,
        removed=tuple(revoked),
    )


async def _revoke(
    reconciler: Reconciler, stale: list[DesiredResource] | ResourceResult
) -> tuple[list[ResourceResult], list[ResourceResult]]:
    """Deletes an identity's stale grants (or credentials): what was revoked, and what failed (the listing's own
    failure when it could not be listed)."""
    if isinstance(stale, ResourceResult):
        return [], [stale]
    deleted = await _delete_tree(reconciler, stale)
    return [r for r in deleted if r.ok], [r for r in deleted if not r.ok]


async def _stale_grants(
    reconciler: Reconciler, svc: DroneService, platform: DeliveryPlatform, principal_id: str
) -> list[DesiredResource] | ResourceResult:
    """The operator's grants to this identity that its `uses` no longer need (see desired.stale_grants), found by
    listing what Azure holds, so a grant outlives neither a spec change nor a crash between two passes."""
    azure = platform.spec.azure
    assert azure is not None
    role_assignments: list[Json] = []
    redis_assignments: list[Json] = []
    redis_policies: list[Json] = []
    scopes: list[str] = []
    if platform.spec.messaging.service_bus is not None:
        scopes.append(desired.service_bus_namespace_id(azure, platform.name))
    if recovery.pairs_service_bus(platform):
        scopes.append(recovery.namespace(azure, platform.name, recovery.Side.RECOVERY)[1])
    vault = desired.key_vault_id(azure)
    if vault is not None:
        scopes.append(vault)
    for scope in scopes:
        listed = await reconciler.list(
            Kind.ROLE_ASSIGNMENT, list_role_assignments(reconciler.clients, scope, principal_id)
        )
        if isinstance(listed, AzureFailure):
            return _listing_failed(Kind.ROLE_ASSIGNMENT, scope, listed, "grants the spec no longer needs")
        seen = {str(item.get("id", "")).casefold() for item in role_assignments}
        role_assignments += [item for item in listed or [] if str(item.get("id", "")).casefold() not in seen]
    if platform.spec.cache.redis is not None:
        cache = naming.redis_name(azure.subscription_id, azure.resource_group, platform.name)
        assignments, policies = await asyncio.gather(
            reconciler.list(
                Kind.REDIS_ACCESS_POLICY_ASSIGNMENT,
                list_redis_access_assignments(reconciler.clients, azure.resource_group, cache),
            ),
            reconciler.list(
                Kind.REDIS_ACCESS_POLICY, list_redis_access_policies(reconciler.clients, azure.resource_group, cache)
            ),
        )
        cache_id = desired.redis_id(azure, platform.name)
        if isinstance(assignments, AzureFailure):
            return _listing_failed(
                Kind.REDIS_ACCESS_POLICY_ASSIGNMENT, cache_id, assignments, "grants the spec no longer needs"
            )
        if isinstance(policies, AzureFailure):
            return _listing_failed(Kind.REDIS_ACCESS_POLICY, cache_id, policies, "grants the spec no longer needs")
        redis_assignments = assignments or []
        redis_policies = policies or []
    return desired.stale_grants(
        svc,
        platform,
        principal_id=principal_id,
        role_assignments=role_assignments,
        redis_assignments=redis_assignments,
        redis_policies=redis_policies,
    )


def _listing_failed(kind: Kind, scope: str, failure: AzureFailure, what: str) -> ResourceResult:
    return ResourceResult(
        kind=kind,
        name=f"({what})",
        id=scope,
        provisioning_state=FAILED,
        error_code=failure.code,
        error_message=f"cannot list the {what} to remove them: {failure.message}",
        retriable=failure.retriable,
        error_status=failure.status,
    )


async def delete_service_identity(svc: DroneService, platform: DeliveryPlatform, clients: AzureClients) -> AzureOutcome:
    """Grants first (they would outlive the identity as orphans), then the credential and the identity; also of a
    service whose spec no longer asks for an identity (`identity.azure: false`), which may still hold one."""
    held = svc.spec.model_copy(update={"identity": svc.spec.identity.model_copy(update={"azure": True})})
    svc = svc.model_copy(update={"spec": held})
    reconciler = Reconciler(clients)
    resources = desired.identity_resources(svc, platform)
    identity = next((r for r in resources if r.kind == Kind.IDENTITY), None)
    if identity is None:
        return AzureOutcome()
    current = await reconciler.observe(identity)
    if current is not None and current.failed:
        return AzureOutcome.of([current])
    results: list[ResourceResult] = []
    principal_id = current.outputs.get("principalId") if current is not None else None
    if principal_id:
        grants = desired.access_resources(svc, platform, principal_id=principal_id)
        # Every grant of ours is stale for a service that needs none, including any under another name.
        needs_nothing = svc.model_copy(update={"spec": svc.spec.model_copy(update={"uses": []})})
        stale = await _stale_grants(reconciler, needs_nothing, platform, principal_id)
        if isinstance(stale, ResourceResult):
            return AzureOutcome.of([stale])
        stale_ids = {g.id.casefold() for g in stale}
        both = [*stale, *(g for g in grants if g.id.casefold() not in stale_ids)]
        results += await _delete_tree(reconciler, both)
        if not all(r.ok for r in results):
            return AzureOutcome.of([*results, *(_pending(r, waiting_for="grants to be deleted") for r in resources)])
    return AzureOutcome.of([*results, *await _delete_tree(reconciler, resources)])


async def reconcile_on_call_reader(platform: DeliveryPlatform, clients: AzureClients) -> IdentityOutcome:
    """The identity reading the platform's on-call key, federated with the keys pod's ServiceAccount of each team
    namespace (a team gone loses its credential) and allowed to read that one secret. `client_id` is set as soon as
    the identity exists, even if the grant is still pending.

    When the spec wants none (no onCall, or an identity of the user's) one the operator made earlier goes, as on
    `delete_on_call_reader`; that costs a GET when there is none, and needs no memory of an earlier spec, which a
    change made while the previous one was still being handled would not leave."""
    if platform.spec.azure is None:
        return IdentityOutcome()
    if not desired.wants_on_call_reader(platform):
        released = await delete_on_call_reader(platform, clients)
        gone = [r for r in released.resources if r.provisioning_state == DELETED]
        return IdentityOutcome(
            resources=tuple(r for r in released.resources if r not in gone),
            removed=tuple(r for r in gone if r.changed),
        )
    azure, on_call = platform.spec.azure, platform.spec.observability.on_call
    assert azure is not None
    assert on_call is not None
    reconciler = Reconciler(clients)
    results = await _ensure_tree(reconciler, desired.on_call_reader_resources(platform))
    if azure.oidc_issuer_url is None:
        name = naming.on_call_reader_name(platform.name)
        results.append(_issuer_missing(name, "the on-call keys' ServiceAccount with the identity reading the key"))
    identity = next((r for r in results if r.kind == Kind.IDENTITY and r.ok), None)
    if identity is None:
        return IdentityOutcome(resources=tuple(results))
    principal_id = identity.outputs.get("principalId")
    revoked, failed = await _revoke(reconciler, await _stale_on_call(reconciler, platform, identity.name, principal_id))
    results += failed
    grant = desired.on_call_grant(platform, principal_id=principal_id) if principal_id else None
    if grant is not None:
        results.append(_key_missing(await reconciler.ensure(grant), on_call.key_secret))
    return IdentityOutcome(
        resources=tuple(results),
        client_id=identity.outputs.get("clientId"),
        principal_id=principal_id,
        removed=tuple(revoked),
    )


def _key_missing(grant: ResourceResult, secret: str) -> ResourceResult:
    """A grant on a secret the vault does not hold yet waits for the one step left to a person."""
    if grant.error_code != "ResourceNotFound":
        return grant
    why = f"put the PagerDuty or Opsgenie key into the Key Vault secret {secret} ({grant.error_message})"
    return dataclasses.replace(grant, error_message=why)


async def _stale_on_call(
    reconciler: Reconciler, platform: DeliveryPlatform, identity: str, principal_id: str | None
) -> list[DesiredResource] | ResourceResult:
    """What the reader holds that the spec no longer wants (desired.stale_on_call_grants and
    stale_on_call_credentials), found by listing what Azure holds: its credentials, and its grants anywhere in the
    resource group (a vault renamed in the spec leaves its grant on the old one)."""
    azure = platform.spec.azure
    assert azure is not None
    credentials = await reconciler.list(
        Kind.FEDERATED_CREDENTIAL, list_federated_credentials(reconciler.clients, azure.resource_group, identity)
    )
    if isinstance(credentials, AzureFailure):
        where = desired.identity_id(azure, identity)
        return _listing_failed(Kind.FEDERATED_CREDENTIAL, where, credentials, "credentials the spec no longer needs")
    stale = desired.stale_on_call_credentials(platform, credentials or [])
    if not principal_id:
        return stale
    group = naming.resource_group_id(azure.subscription_id, azure.resource_group)
    grants = await reconciler.list(Kind.ROLE_ASSIGNMENT, list_role_assignments(reconciler.clients, group, principal_id))
    if isinstance(grants, AzureFailure):
        return _listing_failed(Kind.ROLE_ASSIGNMENT, group, grants, "grants the spec no longer needs")
    return [
        *desired.stale_on_call_grants(platform, principal_id=principal_id, role_assignments=grants or []),
        *stale,
    ]


def _without_on_call(platform: DeliveryPlatform) -> DeliveryPlatform:
    """The platform wanting no on-call reader: everything the reader holds is stale."""
    observability = platform.spec.observability.model_copy(update={"on_call": None})
    return platform.model_copy(update={"spec": platform.spec.model_copy(update={"observability": observability})})


async def delete_on_call_reader(platform: DeliveryPlatform, clients: AzureClients) -> AzureOutcome:
    """The on-call reader of the platform, whether its spec still wants one or not: its grants first (they would
    outlive the identity as orphans), then its credentials and the identity. `ready` once Azure confirmed; one GET
    when there is none."""
    identity = desired.on_call_reader(platform)
    if identity is None:
        return AzureOutcome()
    reconciler = Reconciler(clients)
    current = await reconciler.observe(identity)
    if current is None:
        return AzureOutcome()
    if current.failed:
        return AzureOutcome.of([current])
    stale = await _stale_on_call(
        reconciler, _without_on_call(platform), identity.name, current.outputs.get("principalId")
    )
    if isinstance(stale, ResourceResult):
        return AzureOutcome.of([stale])
    revoked = await _delete_tree(reconciler, [r for r in stale if r.kind == Kind.ROLE_ASSIGNMENT])
    if not all(r.ok for r in revoked):
        return AzureOutcome.of([*revoked, _pending(identity, waiting_for="its grants to be deleted")])
    credentials = [r for r in stale if r.kind == Kind.FEDERATED_CREDENTIAL]
    return AzureOutcome.of([*revoked, *await _delete_tree(reconciler, [*credentials, identity])])
