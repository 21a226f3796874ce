"""When an object must be sent: new, changed by us, or drifted by someone else — and never otherwise."""

import copy
from typing import Any

from fabrikam.operator.apply.comparison import HASH_ANNOTATION, contains, desired_hash, needs_apply, with_hash


def _deployment(cpu: str = "500m", memory: str = "256Mi") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "ingestion", "namespace": "team-a", "labels": {"app": "ingestion"}},
        "spec": {
            "replicas": 2,
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "resources": {"limits": {"cpu": cpu, "memory": memory}},
                            "securityContext": {"privileged": False, "capabilities": {"drop": ["ALL"], "add": []}},
                        }
                    ]
                }
            },
        },
    }


def _as_stored(desired: dict[str, Any]) -> dict[str, Any]:
    """What the API server returns: our fields, plus defaults and other managers' fields."""
    stored = copy.deepcopy(with_hash(desired))
    stored["metadata"]["uid"] = "1234"
    stored["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = "1"
    stored["spec"]["progressDeadlineSeconds"] = 600
    stored["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = "IfNotPresent"
    stored["status"] = {"readyReplicas": 2}
    return stored


def test_a_missing_object_is_sent() -> None:
    assert needs_apply(_deployment(), None)


def test_an_unchanged_object_with_server_defaults_is_skipped() -> None:
    assert not needs_apply(_deployment(), _as_stored(_deployment()))


def test_canonicalised_quantities_count_as_unchanged() -> None:
    stored = _as_stored(_deployment(cpu="1000m", memory="1024Mi"))
    stored["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"] = {"cpu": "1", "memory": "1Gi"}
    assert not needs_apply(_deployment(cpu="1000m", memory="1024Mi"), stored)


def test_a_change_of_ours_is_sent_even_when_it_removes_a_field() -> None:
    stored = _as_stored(_deployment())
    smaller = _deployment()
    del smaller["metadata"]["labels"]
    assert contains(stored, smaller)
    assert needs_apply(smaller, stored)


def test_drift_by_someone_else_is_sent() -> None:
    removed_limits = _as_stored(_deployment())
    del removed_limits["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert needs_apply(_deployment(), removed_limits)

    privileged = _as_stored(_deployment())
    privileged["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privileged"] = True
    assert needs_apply(_deployment(), privileged)

    added_capability = _as_stored(_deployment())
    added_capability["spec"]["template"]["spec"]["containers"][0]["securityContext"]["capabilities"]["add"] = [
        "NET_ADMIN"
    ]
    assert needs_apply(_deployment(), added_capability)


def test_the_hash_ignores_the_hash_annotation_and_follows_content() -> None:
    assert desired_hash(_deployment()) == desired_hash(with_hash(_deployment()))
    assert desired_hash(_deployment()) != desired_hash(_deployment(cpu="250m"))
    assert with_hash(_deployment())["metadata"]["annotations"][HASH_ANNOTATION] == desired_hash(_deployment())


def test_empty_lists_and_maps_the_server_omits_count_as_unchanged() -> None:
    policy = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "deny", "namespace": "team-a", "annotations": {}},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": []},
    }
    stored = copy.deepcopy(with_hash(policy))
    del stored["spec"]["ingress"]
    assert not needs_apply(policy, stored)
    stored["spec"]["ingress"] = [{"from": [{"podSelector": {}}]}]
    assert needs_apply(policy, stored)
