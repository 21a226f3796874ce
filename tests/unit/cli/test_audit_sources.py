"""Where the audit's objects come from: files and folders with their lines, `helm template` on stdin, `List`s, and a
live cluster through any `fetch`; input that cannot be audited is an error naming the file and document."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from fabrikam.cli.audit.findings import Location, ObjectRef
from fabrikam.cli.audit.sources import (
    ApiStatus,
    SourceError,
    collect,
    locations,
    parse,
    read_manifests,
)

CONFIG_MAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"


def test_a_folder_is_read_recursively_in_order_with_each_documents_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "two.yml").write_text(CONFIG_MAP.format(name="two"))
    (tmp_path / "a.yaml").write_text(
        "# comment\n---\n" + CONFIG_MAP.format(name="one") + "---\n" + CONFIG_MAP.format(name="x")
    )
    (tmp_path / "notes.md").write_text("not a manifest")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "skip.yaml").write_text("{{ not yaml")
    read = read_manifests([str(tmp_path)])
    assert [(d.object["metadata"]["name"], d.location) for d in read.documents] == [
        ("one", Location(str(tmp_path / "a.yaml"), 3)),
        ("x", Location(str(tmp_path / "a.yaml"), 8)),
        ("two", Location(str(tmp_path / "b" / "two.yml"), 1)),
    ]


def test_helm_template_on_stdin_points_each_object_at_its_chart_template() -> None:
    rendered = (
        "---\n# Source: fabrikam/templates/a.yaml\n"
        + CONFIG_MAP.format(name="a")
        + "---\n# Source: fabrikam/templates/b.yaml\n"
        + CONFIG_MAP.format(name="b")
    )
    read = read_manifests(["-"], stdin=io.StringIO(rendered))
    assert [d.location for d in read.documents] == [
        Location("fabrikam/templates/a.yaml"),
        Location("fabrikam/templates/b.yaml"),
    ]


def test_a_list_yields_its_items_each_at_its_own_line() -> None:
    text = """apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: ConfigMap
    metadata: {name: a}
  - apiVersion: v1
    kind: ConfigMap
    metadata: {name: b}
"""
    assert [(d.object["metadata"]["name"], d.location) for d in parse(text, "list.yaml")] == [
        ("a", Location("list.yaml", 4)),
        ("b", Location("list.yaml", 7)),
    ]


def test_json_manifests_are_read_too(tmp_path: Path) -> None:
    (tmp_path / "cm.json").write_text('{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "j"}}')
    assert read_manifests([str(tmp_path)]).objects[0]["metadata"]["name"] == "j"


def test_namespace_fills_in_objects_that_name_none_only(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(
        CONFIG_MAP.format(name="a")
        + "---\n"
        + CONFIG_MAP.format(name="b")
        + "  namespace: mine\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: n\n"
    )
    objects = read_manifests([str(tmp_path)], namespace="team").objects
    assert [o["metadata"].get("namespace") for o in objects] == ["team", "mine", None]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: [", "bad.yaml: document 1: not valid YAML"),
        (CONFIG_MAP.format(name="a") + "---\n- 1\n", "bad.yaml: document 2 (line 6): not a Kubernetes object"),
        ("apiVersion: v1\nmetadata:\n  name: a\n", "bad.yaml: document 1 (line 1): not a Kubernetes object: no kind"),
        ("apiVersion: v1\nkind: ConfigMap\n", "no metadata.name"),
        ("kind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\n", "a Helm template? render it"),
    ],
)
def test_bad_input_names_the_file_and_document(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "bad.yaml").write_text(text)
    with pytest.raises(SourceError) as raised:
        read_manifests([str(tmp_path / "bad.yaml")])
    assert message in str(raised.value)


def test_a_missing_path_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file or folder"):
        read_manifests([str(tmp_path / "absent.yaml")])


def test_a_namespace_the_input_does_not_declare_points_at_its_first_object(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(CONFIG_MAP.format(name="a") + "  namespace: team\n")
    where = locations(read_manifests([str(tmp_path)]).documents)
    assert where[ObjectRef("Namespace", None, "team", "v1")] == Location(str(tmp_path / "m.yaml"), 1)


class FakeApi:
    """The API server as `collect` sees it: paths to list pages, or HTTP statuses."""

    def __init__(self, pages: dict[str, list[dict[str, Any]]], statuses: dict[str, int] | None = None) -> None:
        self.pages, self.statuses = pages, statuses or {}
        self.calls: list[tuple[str, dict[str, str]]] = []

    def __call__(self, path: str, query: dict[str, str]) -> dict[str, Any]:
        self.calls.append((path, dict(query)))
        if path in self.statuses:
            raise ApiStatus(self.statuses[path], "Forbidden" if self.statuses[path] == 403 else "Not Found")
        if path.startswith("/api/v1/namespaces/") and path.count("/") == 4:
            return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": path.rsplit("/", 1)[1]}}
        pages = self.pages.get(path, [])
        index = int(query.get("continue", "0"))
        kind = {"configmaps": "ConfigMap", "namespaces": "Namespace"}.get(path.rsplit("/", 1)[1], "Other")
        page: dict[str, Any] = {"apiVersion": "v1", "kind": f"{kind}List", "items": pages[index : index + 1]}
        page["metadata"] = {"continue": str(index + 1)} if index + 1 < len(pages) else {}
        return page


def _item(name: str, namespace: str | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "managedFields": [{"manager": "kubectl"}]}
    if namespace:
        metadata["namespace"] = namespace
    return {"metadata": metadata}


def test_a_live_cluster_is_listed_page_by_page_without_kube_system_and_without_managed_fields() -> None:
    api = FakeApi(
        {
            "/api/v1/configmaps": [_item("a", "default"), _item("b", "kube-system"), _item("c", "team")],
            "/api/v1/namespaces": [_item("default"), _item("kube-system")],
        },
        statuses={"/api/v1/secrets": 403, "/apis/cert-manager.io/v1/issuers": 404},
    )
    read = collect(api, None)
    names = [(d.object["kind"], d.object["metadata"]["name"]) for d in read.documents]
    assert names == [("ConfigMap", "a"), ("ConfigMap", "c"), ("Namespace", "default")]
    assert all("managedFields" not in d.object["metadata"] for d in read.documents)
    assert all(d.location is None for d in read.documents)
    assert read.notes == ["not audited: secrets (403 Forbidden)"]
    assert ("/api/v1/configmaps", {"limit": "500", "continue": "1"}) in api.calls


def test_a_namespace_narrows_the_namespaced_lists_and_reads_that_namespace() -> None:
    api = FakeApi({"/api/v1/namespaces/team/configmaps": [_item("a", "team")]})
    read = collect(api, "team")
    assert [(d.object["kind"], d.object["metadata"]["name"]) for d in read.documents] == [
        ("ConfigMap", "a"),
        ("Namespace", "team"),
    ]
    assert "/api/v1/nodes" in [path for path, _ in api.calls]
