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


QUEUE = {
    "properties": {
        "lockDuration": "PT60S",
        "defaultMessageTimeToLive": "P14D",
        "duplicateDetectionHistoryTimeWindow": "PT10M",
        "maxDeliveryCount": 10,
    }
}


def test_durations_azure_reads_back_normalised_are_the_same_durations() -> None:
    # What Service Bus answers a GET with after a PUT of QUEUE: the same durations, spelled its own way.
    same = {
        "lockDuration": "PT1M",
        "defaultMessageTimeToLive": "PT336H",
        "duplicateDetectionHistoryTimeWindow": "PT600S",
    }

    assert differences(QUEUE, {"properties": QUEUE["properties"] | same}) == []


def test_a_changed_duration_is_drift_however_it_is_spelled() -> None:
    changed = {
        "lockDuration": "PT2M",
        "defaultMessageTimeToLive": "P14DT1S",
        "duplicateDetectionHistoryTimeWindow": "not a duration",
    }

    assert differences(QUEUE, {"properties": QUEUE["properties"] | changed}) == [
        "properties.lockDuration",
        "properties.defaultMessageTimeToLive",
        "properties.duplicateDetectionHistoryTimeWindow",
    ]


def test_strings_that_merely_start_with_p_still_compare_as_strings() -> None:
    assert differences({"sku": {"name": "Premium"}}, {"sku": {"name": "premium"}}) == []
    assert differences({"sku": {"name": "Premium"}}, {"sku": {"name": "Standard"}}) == ["sku.name"]
