"""The package service's MongoDB connection string: a variable locally, a file in Azure (the Cosmos DB account's,
key included, from Key Vault through the CSI driver); never both."""

from pathlib import Path

import pytest

from fabrikam.workloads.kit.requirements import Need, missing
from fabrikam.workloads.kit.settings import NotConfigured, SecretFileError, ServiceSettings

COSMOS = (
    "mongodb://fabrikam-dev:a2V5a2V5a2V5%3D%3D@fabrikam-dev.mongo.cosmos.azure.com:10255/"
    "?ssl=true&replicaSet=globaldb&retrywrites=false&maxIdleTimeMS=120000&appName=@fabrikam-dev@"
)
LOCAL = "mongodb://127.0.0.1:27017/"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FABRIKAM_MONGO_URL", "FABRIKAM_MONGO_URL_FILE"):
        monkeypatch.delenv(name, raising=False)


def mounted(path: Path, content: str) -> Path:
    """The file as the CSI driver writes a Key Vault secret: its value, maybe with a trailing newline."""
    path.write_text(content)
    return path


def test_the_file_named_by_the_environment_gives_the_connection_string_without_its_newline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FABRIKAM_MONGO_URL_FILE", str(mounted(tmp_path / "mongo-url", COSMOS + "\n")))
    settings = ServiceSettings()
    assert settings.mongo_connection_url() == COSMOS
    assert missing(settings, (Need.MONGO,)) == {}


def test_the_variable_alone_is_the_connection_string() -> None:
    settings = ServiceSettings(mongo_url=LOCAL)
    assert settings.mongo_connection_url() == LOCAL
    assert missing(settings, (Need.MONGO,)) == {}


def test_both_set_is_refused_naming_both_variables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FABRIKAM_MONGO_URL", LOCAL)
    monkeypatch.setenv("FABRIKAM_MONGO_URL_FILE", str(mounted(tmp_path / "mongo-url", COSMOS)))
    settings = ServiceSettings()
    conflict = "FABRIKAM_MONGO_URL and FABRIKAM_MONGO_URL_FILE are both set: set only one"
    assert missing(settings, (Need.MONGO,)) == {"mongo": f"misconfigured: {conflict}"}
    with pytest.raises(ValueError, match=conflict):
        settings.mongo_connection_url()


def test_neither_set_names_both_variables() -> None:
    settings = ServiceSettings()
    unset = "not configured: set FABRIKAM_MONGO_URL or FABRIKAM_MONGO_URL_FILE"
    assert missing(settings, (Need.MONGO,)) == {"mongo": unset}
    with pytest.raises(NotConfigured, match=unset):
        settings.mongo_connection_url()


def test_a_missing_file_leaves_the_service_unready_and_stops_a_build_naming_the_variable(tmp_path: Path) -> None:
    absent = tmp_path / "not-mounted" / "mongo-url"
    settings = ServiceSettings(mongo_url_file=str(absent))
    assert missing(settings, (Need.MONGO,)) == {
        "mongo": f"not configured: no file {absent} (FABRIKAM_MONGO_URL_FILE)",
    }
    with pytest.raises(SecretFileError, match=f"^FABRIKAM_MONGO_URL_FILE names {absent}, which is absent$"):
        settings.mongo_connection_url()


def test_an_empty_or_unreadable_file_stops_the_service_naming_the_variable_and_the_file(tmp_path: Path) -> None:
    empty = mounted(tmp_path / "empty", "\n")
    directory = tmp_path / "directory"
    directory.mkdir()
    for path, problem in ((empty, "is empty"), (directory, "cannot be read")):
        settings = ServiceSettings(mongo_url_file=str(path))
        with pytest.raises(SecretFileError, match=f"^FABRIKAM_MONGO_URL_FILE: secret file {path} {problem}"):
            settings.mongo_connection_url()
