"""Given a platform's spec.observability.onCall without an identity of the user's, the operator describes one
identity reading the key: federated with the keys pod's ServiceAccount of each team namespace, allowed to read that
one Key Vault secret; an identity the user names wins, and then nothing is described."""

from __future__ import annotations

from typing import Any

import pytest

from fabrikam.operator.api import BUNDLED_COMPONENTS, DeliveryPlatform
from fabrikam.operator.azure import Kind
from fabrikam.operator.azure.desired import (
    KEY_VAULT_SECRETS_USER,
    MANAGED_BY,
    moved_on_call_reader,
    on_call_grant,
    on_call_reader,
    on_call_reader_resources,
    stale_on_call_credentials,
    stale_on_call_grants,
    wants_on_call_reader,
)

ISSUER = "https://westus2.oic.prod-aks.azure.com/tenant/issuer/"
GROUP = "/subscriptions/00000000-0000-0000-0000-00000000a2e0/resourceGroups/rg-fabrikam"
VAULT = f"{GROUP}/providers/Microsoft.KeyVault/vaults/kv-fabrikam"
READER = f"{GROUP}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-oncall-prod"
PRINCIPAL = "5d7f9b1c-3e2a-4c6b-8d0f-2a4c6e8b0d1f"
USERS_OWN = "6b1d3f5a-7c9e-4b2d-8f4a-1c3e5a7b9d0f"
ROLE = (
    "/subscriptions/00000000-0000-0000-0000-00000000a2e0/providers/Microsoft.Authorization/roleDefinitions/"
    + KEY_VAULT_SECRETS_USER
)


BUNDLED = [component.value for component in BUNDLED_COMPONENTS]


def _team(name: str, *, first: bool) -> dict[str, Any]:
    """The first team owns the bundled services."""
    return {"name": name, "namespace": name, "costCenter": f"cc-{name}", "services": BUNDLED if first else []}


PAGERDUTY = {"pagerDuty": {"routingKeySecret": "pagerduty-routing-key"}}


def on_call_platform(
    *,
    on_call: dict[str, Any] | None = PAGERDUTY,
    teams: tuple[str, ...] = ("shipping", "fleet"),
    in_azure: bool = True,
    **azure: Any,
) -> DeliveryPlatform:
    """`on_call` None: no spec.observability.onCall; `in_azure` False: no spec.azure either."""
    coordinates = {
        "subscriptionId": "00000000-0000-0000-0000-00000000a2e0",
        "tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47",
        "resourceGroup": "rg-fabrikam",
        "location": "westus2",
        "oidcIssuerUrl": ISSUER,
        "keyVaultName": "kv-fabrikam",
    }
    spec: dict[str, Any] = {
        "image": {"repository": "fabrikam.azurecr.io/fabrikam/drone-delivery", "digest": "sha256:" + "b" * 64},
        "teams": [_team(t, first=i == 0) for i, t in enumerate(teams)],
        "observability": {"onCall": on_call} if on_call is not None else {},
    }
    if in_azure:
        spec["azure"] = coordinates | azure
    return DeliveryPlatform.model_validate({"metadata": {"name": "prod"}, "spec": spec})


def test_one_identity_federated_with_the_keys_service_account_of_each_team_namespace() -> None:
    identity, *credentials = on_call_reader_resources(on_call_platform())

    assert (identity.kind, identity.id) == (Kind.IDENTITY, READER)
    assert identity.body["location"] == "westus2"
    assert {"platform": "prod", "team": "platform", "service": "oncall", "managed-by": MANAGED_BY}.items() <= (
        identity.body["tags"].items()
    )
    assert [(c.kind, c.id, c.parent) for c in credentials] == [
        (
            Kind.FEDERATED_CREDENTIAL,
            f"{READER}/federatedIdentityCredentials/{ns}-fabrikam-oncall-keys",
            "id-oncall-prod",
        )
        for ns in ("shipping", "fleet")
    ]
    assert [c.body["properties"] for c in credentials] == [
        {
            "issuer": ISSUER,
            "subject": f"system:serviceaccount:{ns}:fabrikam-oncall-keys",
            "audiences": ["api://AzureADTokenExchange"],
        }
        for ns in ("shipping", "fleet")
    ]


@pytest.mark.parametrize(
    ("on_call", "secret"),
    [
        ({"pagerDuty": {"routingKeySecret": "pagerduty-routing-key"}}, "pagerduty-routing-key"),
        ({"opsgenie": {"apiKeySecret": "opsgenie-api-key"}}, "opsgenie-api-key"),
    ],
)
def test_the_reader_may_read_the_one_secret_holding_the_key_not_the_vault(on_call: dict[str, Any], secret: str) -> None:
    grant = on_call_grant(on_call_platform(on_call=on_call), principal_id=PRINCIPAL)

    assert grant is not None
    assert grant.kind is Kind.ROLE_ASSIGNMENT
    assert grant.scope == f"{VAULT}/secrets/{secret}"
    assert grant.id == f"{grant.scope}/providers/Microsoft.Authorization/roleAssignments/{grant.name}"
    properties = grant.body["properties"]
    assert properties["roleDefinitionId"] == ROLE
    assert (properties["principalId"], properties["principalType"]) == (PRINCIPAL, "ServicePrincipal")
    assert properties["description"].startswith(f"{MANAGED_BY}: on-call of platform prod")


def test_an_identity_the_user_names_wins_and_nothing_is_described() -> None:
    platform = on_call_platform(
        on_call={"pagerDuty": {"routingKeySecret": "pagerduty-routing-key"}, "identityClientId": USERS_OWN}
    )

    assert not wants_on_call_reader(platform)
    assert on_call_reader_resources(platform) == []
    assert on_call_grant(platform, principal_id=PRINCIPAL) is None
    # Where the operator's reader would live is still known, to delete one it made before.
    reader = on_call_reader(platform)
    assert reader is not None
    assert reader.id == READER


def test_without_an_oidc_issuer_only_the_identity_is_described_and_no_credential_is_stale() -> None:
    platform = on_call_platform(oidcIssuerUrl=None)
    listed = [{"name": "shipping-fabrikam-oncall-keys", "id": f"{READER}/federatedIdentityCredentials/shipping"}]

    assert [r.kind for r in on_call_reader_resources(platform)] == [Kind.IDENTITY]
    assert stale_on_call_credentials(platform, listed) == []


def _credential(namespace: str) -> dict[str, Any]:
    name = f"{namespace}-fabrikam-oncall-keys"
    return {"name": name, "id": f"{READER}/federatedIdentityCredentials/{name}", "properties": {}}


def test_the_credential_of_a_team_gone_is_stale_and_all_are_once_the_reader_goes() -> None:
    listed = [_credential("shipping"), _credential("fleet"), _credential("customer")]

    stale = stale_on_call_credentials(on_call_platform(), listed)

    assert [(c.kind, c.name, c.parent) for c in stale] == [
        (Kind.FEDERATED_CREDENTIAL, "customer-fabrikam-oncall-keys", "id-oncall-prod")
    ]
    users_own = on_call_platform(on_call={"opsgenie": {"apiKeySecret": "k"}, "identityClientId": USERS_OWN})
    assert [c.name for c in stale_on_call_credentials(users_own, listed)] == [c["name"] for c in listed]


def _assignment(scope: str, *, role: str = ROLE, principal: str = PRINCIPAL, by: str = MANAGED_BY) -> dict[str, Any]:
    return {
        "name": "3f2b",
        "id": f"{scope}/providers/Microsoft.Authorization/roleAssignments/3f2b",
        "properties": {
            "scope": scope,
            "roleDefinitionId": role,
            "principalId": principal,
            "description": f"{by}: on-call of platform prod reads the PagerDuty or Opsgenie key",
        },
    }


def test_only_the_operators_grants_on_a_secret_no_longer_holding_the_key_are_stale() -> None:
    wanted = _assignment(f"{VAULT}/secrets/pagerduty-routing-key")
    other_secret = _assignment(f"{VAULT}/secrets/old-routing-key")
    other_vault = _assignment(f"{GROUP}/providers/Microsoft.KeyVault/vaults/kv-old/secrets/pagerduty-routing-key")
    by_hand = _assignment(f"{VAULT}/secrets/extra", by="alice")
    other_role = _assignment(f"{VAULT}/secrets/extra", role=ROLE.replace(KEY_VAULT_SECRETS_USER, "reader"))
    someone_else = _assignment(f"{VAULT}/secrets/extra", principal="someone-else")
    listed = [wanted, other_secret, other_vault, by_hand, other_role, someone_else]

    stale = stale_on_call_grants(on_call_platform(), principal_id=PRINCIPAL, role_assignments=listed)

    assert [g.scope for g in stale] == [other_secret["properties"]["scope"], other_vault["properties"]["scope"]]
    assert all(g.kind is Kind.ROLE_ASSIGNMENT for g in stale)
    users_own = on_call_platform(on_call={"opsgenie": {"apiKeySecret": "k"}, "identityClientId": USERS_OWN})
    assert len(stale_on_call_grants(users_own, principal_id=PRINCIPAL, role_assignments=listed)) == 3


@pytest.mark.parametrize(
    ("now", "moved"),
    [
        ({}, False),
        ({"teams": ("fleet",)}, False),
        ({"on_call": {"opsgenie": {"apiKeySecret": "opsgenie-api-key"}}}, False),  # the same reader, another secret
        # Where the reader lives, a pass of the current spec finds it and deletes it itself.
        ({"on_call": None}, False),
        ({"on_call": {"pagerDuty": {"routingKeySecret": "k"}, "identityClientId": USERS_OWN}}, False),
        # Only the last handled spec says where it is.
        ({"on_call": None, "in_azure": False}, True),
        ({"resourceGroup": "rg-elsewhere"}, True),
        ({"subscriptionId": "00000000-0000-0000-0000-0000000000b7"}, True),
    ],
)
def test_a_reader_is_released_from_the_last_spec_only_where_the_current_one_no_longer_looks(
    now: dict[str, Any], moved: bool
) -> None:
    assert moved_on_call_reader(on_call_platform(), on_call_platform(**now)) is moved


def test_nothing_to_release_without_a_reader_of_the_operators_before() -> None:
    users_own = on_call_platform(on_call={"pagerDuty": {"routingKeySecret": "k"}, "identityClientId": USERS_OWN})
    assert not moved_on_call_reader(users_own, on_call_platform(resourceGroup="rg-elsewhere"))
    assert not moved_on_call_reader(on_call_platform(on_call=None), on_call_platform(on_call=None, in_azure=False))
    assert not wants_on_call_reader(on_call_platform(on_call=None))
    assert on_call_reader(on_call_platform(on_call=None, in_azure=False)) is None
