"""Where `fabrikam adopt` reads from: manifest files, folders and stdin; a Secret's values never get past the
reader."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from fabrikam.cli.adopt.sources import LAST_APPLIED, SourceError, read_manifests, redact_secret

HELM_TEMPLATE = """\
---
# Source: fabrikam/templates/delivery.yaml
apiVersion: apps/v1beta1
kind: Deployment
metadata:
  name: delivery
---
# Source: fabrikam/templates/secret.yaml
apiVersion: v1
kind: Secret
metadata:
  name: delivery
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: '{"data": {"password": "aHVudGVyMg=="}}'
data:
  password: aHVudGVyMg==
stringData:
  token: plain-token
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: ignored
"""


def test_a_folder_is_read_recursively_and_lists_are_opened(tmp_path: Path) -> None:
    (tmp_path / "charts" / "fleet").mkdir(parents=True)
    (tmp_path / "delivery.yaml").write_text(HELM_TEMPLATE)
    listing = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "fleet"}}],
    }
    (tmp_path / "charts" / "fleet" / "fleet.json").write_text(json.dumps(listing))
    (tmp_path / "charts" / "README.md").write_text("not a manifest")
    objects = read_manifests([str(tmp_path)])
    assert [(o["kind"], o["metadata"]["name"]) for o in objects] == [
        ("Service", "fleet"),
        ("Deployment", "delivery"),
        ("Secret", "delivery"),
    ]


def test_stdin_is_read_for_a_dash() -> None:
    objects = read_manifests(["-"], stdin=io.StringIO(HELM_TEMPLATE))
    assert [o["kind"] for o in objects] == ["Deployment", "Secret"]


def test_a_secret_keeps_its_keys_and_loses_its_values() -> None:
    (_, redacted) = read_manifests(["-"], stdin=io.StringIO(HELM_TEMPLATE))
    assert redacted == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "delivery"},
        "type": "Opaque",
        "data": {"password": "", "token": ""},
    }
    assert "aHVudGVyMg" not in str(redacted)
    assert "plain-token" not in str(redacted)


def test_redaction_drops_the_last_applied_annotation_that_holds_the_values_too() -> None:
    secret = {
        "kind": "Secret",
        "metadata": {"name": "s", "annotations": {LAST_APPLIED: "{...}"}},
        "data": {"k": "dg=="},
    }
    assert "annotations" not in redact_secret(secret)["metadata"]


def test_an_unreadable_or_malformed_source_names_itself(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"nope\.yaml"):
        read_manifests([str(tmp_path / "nope.yaml")])
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("just a string\n")
    with pytest.raises(SourceError, match=r"scalar\.yaml: document 1 \(line 1\): not a Kubernetes object"):
        read_manifests([str(scalar)])
    broken = tmp_path / "broken.yaml"
    broken.write_text("kind: [unclosed\n")
    with pytest.raises(SourceError, match=r"broken\.yaml"):
        read_manifests([str(broken)])
