"""Drift is what Azure lost of the desired body, not what Azure added or normalised."""

from __future__ import annotations

from fabrikam.operator.azure.drift import differences

DESIRED = {
    "location": "westus2",
    "tags": {"team": "shipping"},
    "zones": ["1", "2", "3"],
    "properties": {"enableNonSslPort": False, "redisConfiguration": {"aad-enabled": "true"}, "shardCount": 2},
}


def test_what_azure_adds_or_normalises_is_not_drift() -> None:
    actual = {
        "id": "/subscriptions/x",
        "location": "West US 2",
        "tags": {"team": "shipping", "policy-added": "yes"},
        "zones": ["3", "1", "2"],
        "properties": {
            "provisioningState": "Succeeded",
            "enableNonSslPort": False,
            "redisConfiguration": {"aad-enabled": "True", "maxclients": "7500"},
            "shardCount": 2,
        },
    }

    assert differences(DESIRED, actual) == []


def test_changed_missing_or_reshaped_values_are_drift_with_their_paths() -> None:
    actual = {
        "location": "East US",
        "tags": {},
        "zones": ["1"],
        "properties": {"enableNonSslPort": True, "redisConfiguration": "aad-enabled=true", "shardCount": 3},
    }

    assert differences(DESIRED, actual) == [
        "location",
        "tags.team",
        "zones",
        "properties.enableNonSslPort",
        "properties.redisConfiguration",
        "properties.shardCount",
    ]


def test_booleans_and_numbers_are_not_confused() -> None:
    assert differences({"a": True}, {"a": 1}) == ["a"]
    assert differences({"a": 1}, {"a": True}) == ["a"]
    assert differences({"a": 0}, {"a": 0}) == []


def test_keys_match_case_insensitively_as_arm_does() -> None:
    assert differences({"properties": {"minimumTlsVersion": "1.2"}}, {"Properties": {"MinimumTlsVersion": "1.2"}}) == []


def test_a_redis_access_policy_whose_key_pattern_changed_case_is_drift() -> None:
    desired = {"properties": {"permissions": "+@read ~shipping:returns:*"}}

    assert differences(desired, {"properties": {"permissions": "+@read ~shipping:returns:*", "type": "Custom"}}) == []
    assert differences(desired, {"properties": {"permissions": "+@read ~SHIPPING:returns:*"}}) == [
        "properties.permissions"
    ]
