"""Given a platform's spec.observability.onCall without an identity of the user's, the real SDK clients against the
fake ARM create the identity reading the on-call key once: federated with the keys pod's ServiceAccount of each team
namespace, allowed to read the one Key Vault secret holding the key; a team gone loses its credential, and the
platform's deletion takes it all. An identity the user names wins, and then nothing is sent."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

import pytest

from fabrikam.operator.api import DeliveryPlatform
from fabrikam.operator.azure import Kind, delete_on_call_reader, delete_platform, reconcile_on_call_reader

from .conftest import SUBSCRIPTION, build_platform

KEY_VAULT_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
USERS_OWN = "6b1d3f5a-7c9e-4b2d-8f4a-1c3e5a7b9d0f"
PAGERDUTY = {"pagerDuty": {"routingKeySecret": "pagerduty-routing-key"}}
GROUP = "rg-fabrikam-test"
IDENTITIES = "Microsoft.ManagedIdentity/userAssignedIdentities"
CREDENTIALS = "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials"
ROLE_ASSIGNMENTS = "Microsoft.Authorization/roleAssignments"


def on_call_platform(
    vault: str, on_call: dict[str, Any] | None = None, *, without_accounts: bool = False, **azure: Any
) -> DeliveryPlatform:
    """The conftest's platform with its Key Vault and on-call routing; `without_accounts`: the team `accounts` gone
    (its bundled services moved to `shipping`)."""
    body = build_platform(keyVaultName=vault, **azure).model_dump(mode="json", by_alias=True, exclude_none=True)
    body["spec"]["observability"]["onCall"] = on_call or PAGERDUTY
    if without_accounts:
        shipping, accounts = body["spec"]["teams"]
        shipping["services"] += accounts["services"]
        body["spec"]["teams"] = [shipping]
    return DeliveryPlatform.model_validate(body)


def a_vault(fake_arm: Any) -> str:
    """A Key Vault made outside the operator, in the platform's resource group."""
    name = f"kv-{uuid.uuid4().hex[:12]}"
    fake_arm.add_vault(SUBSCRIPTION, GROUP, name)
    return name


async def put_key(azure: Any, vault: str, secret: str = "pagerduty-routing-key") -> None:
    """What a person does before setting onCall: the key into the vault."""
    await azure.keyvault.secrets.create_or_update(GROUP, vault, secret, {"properties": {"value": "routing-key"}})


def _puts(fake_arm: Any) -> Counter[str]:
    return Counter(r.path for r in fake_arm.calls("PUT"))


async def test_the_reader_is_created_once_federated_per_team_namespace_and_allowed_the_key_only(
    fake_arm: Any, azure: Any
) -> None:
    vault = a_vault(fake_arm)
    await put_key(azure, vault)
    platform = on_call_platform(vault)

    outcome = await reconcile_on_call_reader(platform, azure)

    assert outcome.ready, outcome
    assert [r.kind for r in outcome.resources] == [
        Kind.IDENTITY,
        Kind.FEDERATED_CREDENTIAL,
        Kind.FEDERATED_CREDENTIAL,
        Kind.ROLE_ASSIGNMENT,
    ]
    [identity] = fake_arm.paths(IDENTITIES)
    assert identity.endswith("/userAssignedIdentities/id-oncall-prod")
    stored = fake_arm.get(identity)
    assert (outcome.client_id, outcome.principal_id) == (
        stored["properties"]["clientId"],
        stored["properties"]["principalId"],
    )
    assert stored["tags"]["service"] == "oncall"
    subjects = sorted(fake_arm.get(path)["properties"]["subject"] for path in fake_arm.paths(CREDENTIALS))
    assert subjects == [
        "system:serviceaccount:accounts:fabrikam-oncall-keys",
        "system:serviceaccount:shipping:fabrikam-oncall-keys",
    ]
    [grant] = [fake_arm.get(path) for path in fake_arm.paths(ROLE_ASSIGNMENTS)]
    vault_id = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{GROUP}/providers/Microsoft.KeyVault/vaults/{vault}"
    assert grant["properties"]["scope"] == f"{vault_id}/secrets/pagerduty-routing-key"
    assert grant["properties"]["roleDefinitionId"].endswith(KEY_VAULT_SECRETS_USER)
    assert grant["properties"]["principalId"] == outcome.principal_id
    assert set(_puts(fake_arm).values()) == {1}

    writes = len(fake_arm.writes())
    again = await reconcile_on_call_reader(platform, azure)

    assert again.ready
    assert not again.changed
    assert again.client_id == outcome.client_id
    assert len(fake_arm.writes()) == writes


async def test_a_team_gone_loses_its_credential_and_the_others_keep_theirs(fake_arm: Any, azure: Any) -> None:
    vault = a_vault(fake_arm)
    await put_key(azure, vault)
    await reconcile_on_call_reader(on_call_platform(vault), azure)
    assert len(fake_arm.paths(CREDENTIALS)) == 2

    fewer = await reconcile_on_call_reader(on_call_platform(vault, without_accounts=True), azure)

    assert fewer.ready, fewer
    [removed] = fewer.removed
    assert (removed.kind, removed.name, removed.provisioning_state) == (
        Kind.FEDERATED_CREDENTIAL,
        "accounts-fabrikam-oncall-keys",
        "Deleted",
    )
    [kept] = fake_arm.paths(CREDENTIALS)
    assert kept.endswith("/federatedIdentityCredentials/shipping-fabrikam-oncall-keys")
    assert [r.kind for r in fewer.resources].count(Kind.FEDERATED_CREDENTIAL) == 1
    assert len(fake_arm.paths(ROLE_ASSIGNMENTS)) == 1
    writes = len(fake_arm.writes())
    assert not (await reconcile_on_call_reader(on_call_platform(vault, without_accounts=True), azure)).changed
    assert len(fake_arm.writes()) == writes


async def test_another_provider_moves_the_grant_to_its_key(fake_arm: Any, azure: Any) -> None:
    vault = a_vault(fake_arm)
    await put_key(azure, vault)
    await put_key(azure, vault, "opsgenie-api-key")
    first = await reconcile_on_call_reader(on_call_platform(vault), azure)

    moved = await reconcile_on_call_reader(
        on_call_platform(vault, {"opsgenie": {"apiKeySecret": "opsgenie-api-key"}}), azure
    )

    assert moved.ready, moved
    assert moved.client_id == first.client_id
    [revoked] = moved.removed
    assert revoked.kind == Kind.ROLE_ASSIGNMENT
    assert "/secrets/pagerduty-routing-key/" in revoked.id
    [grant] = [fake_arm.get(path) for path in fake_arm.paths(ROLE_ASSIGNMENTS)]
    assert grant["properties"]["scope"].endswith(f"/vaults/{vault}/secrets/opsgenie-api-key")


async def test_a_key_not_in_the_vault_yet_is_waited_for_saying_what_to_do(fake_arm: Any, azure: Any) -> None:
    vault = a_vault(fake_arm)
    platform = on_call_platform(vault)

    waiting = await reconcile_on_call_reader(platform, azure)

    assert waiting.degraded is None
    assert waiting.requeue
    [grant] = [r for r in waiting.resources if r.kind == Kind.ROLE_ASSIGNMENT]
    assert (grant.error_code, grant.retriable) == ("ResourceNotFound", True)
    assert "put the PagerDuty or Opsgenie key into the Key Vault secret pagerduty-routing-key" in (
        grant.error_message or ""
    )
    # The keys pods can be rendered meanwhile: the identity exists.
    assert waiting.client_id is not None
    await put_key(azure, vault)
    assert (await reconcile_on_call_reader(platform, azure)).ready


async def test_without_an_oidc_issuer_the_identity_exists_and_the_spec_is_blamed(fake_arm: Any, azure: Any) -> None:
    vault = a_vault(fake_arm)
    await put_key(azure, vault)

    outcome = await reconcile_on_call_reader(on_call_platform(vault, oidcIssuerUrl=None), azure)

    assert outcome.degraded is not None
    assert outcome.degraded.error_code == "OidcIssuerUrlMissing"
    assert outcome.client_id is not None
    assert fake_arm.paths(CREDENTIALS) == []


async def test_an_identity_the_user_names_wins_and_the_operator_creates_nothing(fake_arm: Any, azure: Any) -> None:
    vault = a_vault(fake_arm)
    platform = on_call_platform(vault, {**PAGERDUTY, "identityClientId": USERS_OWN})

    outcome = await reconcile_on_call_reader(platform, azure)

    assert outcome.ready
    assert (outcome.resources, outcome.removed, outcome.client_id) == ((), (), None)
    # It only looks for a reader of the operator's to delete: one GET, nothing written.
    [looked] = fake_arm.requests
    assert (looked.method, looked.path.rsplit("/", 1)[-1]) == ("GET", "id-oncall-prod")
    assert fake_arm.paths(IDENTITIES) == []


async def test_the_reader_goes_with_the_platform_its_grant_first_and_is_reported_done_once_gone(
    fake_arm: Any, azure: Any
) -> None:
    vault = a_vault(fake_arm)
    await put_key(azure, vault)
    platform = on_call_platform(vault, deletionPolicy="Delete")
    await reconcile_on_call_reader(platform, azure)

    reader = await delete_on_call_reader(platform, azure)
    stores = await delete_platform(platform, azure)

    assert reader.ready, reader
    assert stores.ready
    assert [r.kind for r in reader.resources] == [
        Kind.ROLE_ASSIGNMENT,
        Kind.FEDERATED_CREDENTIAL,
        Kind.FEDERATED_CREDENTIAL,
        Kind.IDENTITY,
    ]
    assert {r.provisioning_state for r in reader.resources} == {"Deleted"}
    assert [fake_arm.paths(kind) for kind in (ROLE_ASSIGNMENTS, CREDENTIALS, IDENTITIES)] == [[], [], []]
    deletes = [r.path for r in fake_arm.calls("DELETE")]
    assert "/roleAssignments/" in deletes[0]
    assert deletes.index(next(p for p in deletes if p.endswith("/id-oncall-prod"))) == 3
    # The key stays: it is the user's.
    assert fake_arm.secret_value(vault, "pagerduty-routing-key") == "routing-key"
    writes = len(fake_arm.writes())
    assert (await delete_on_call_reader(platform, azure)).ready
    assert len(fake_arm.writes()) == writes


@pytest.mark.parametrize(
    "on_call",
    [{**PAGERDUTY, "identityClientId": USERS_OWN}, None],
    ids=["an identity of the user's named", "onCall removed"],
)
async def test_a_reader_the_spec_no_longer_wants_goes_on_the_next_pass(
    fake_arm: Any, azure: Any, on_call: dict[str, Any] | None
) -> None:
    vault = a_vault(fake_arm)
    await put_key(azure, vault)
    await reconcile_on_call_reader(on_call_platform(vault), azure)
    body = on_call_platform(vault).model_dump(mode="json", by_alias=True, exclude_none=True)
    body["spec"]["observability"]["onCall"] = on_call
    unwanted = DeliveryPlatform.model_validate(body)

    released = await reconcile_on_call_reader(unwanted, azure)

    assert released.ready, released
    assert released.resources == ()  # nothing left to report in the status
    assert sorted(r.kind for r in released.removed) == sorted(
        [Kind.ROLE_ASSIGNMENT, Kind.FEDERATED_CREDENTIAL, Kind.FEDERATED_CREDENTIAL, Kind.IDENTITY]
    )
    assert [fake_arm.paths(kind) for kind in (ROLE_ASSIGNMENTS, CREDENTIALS, IDENTITIES)] == [[], [], []]
    writes = len(fake_arm.writes())
    again = await reconcile_on_call_reader(unwanted, azure)
    assert (again.resources, again.removed) == ((), ())
    assert len(fake_arm.writes()) == writes
