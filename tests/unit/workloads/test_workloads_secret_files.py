"""Key Vault objects mounted as files (Secrets Store CSI driver): settings and the PII key read them."""

import base64
import os
from pathlib import Path

import pytest

from fabrikam.workloads.kit.pii import FieldCipher
from fabrikam.workloads.kit.settings import SecretFileError, ServiceSettings

SECRET_ENV = ("FABRIKAM_SECRETS_DIR", "FABRIKAM_SENDGRID_API_KEY", "FABRIKAM_TWILIO_AUTH_TOKEN")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*SECRET_ENV, "FABRIKAM_PAYMENTS_WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)


def mounted(directory: Path, **objects: str) -> Path:
    """Files as the CSI driver writes them: one per Key Vault object, named after it."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, value in objects.items():
        (directory / name.replace("_", "-")).write_text(value)
    return directory


def test_secrets_come_from_their_key_vault_object_files_without_the_trailing_newline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = mounted(
        tmp_path / "secrets",
        sendgrid_api_key="SG.abc\n",
        twilio_auth_token="twilio-token",
        payments_webhook_secret="whsec_123\r\n",
    )
    monkeypatch.setenv("FABRIKAM_SECRETS_DIR", str(secrets))
    settings = ServiceSettings()
    assert (settings.sendgrid_api_key, settings.twilio_auth_token, settings.payments_webhook_secret) == (
        "SG.abc",
        "twilio-token",
        "whsec_123",
    )


def test_an_environment_variable_wins_over_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = mounted(tmp_path / "secrets", sendgrid_api_key="from-file")
    monkeypatch.setenv("FABRIKAM_SECRETS_DIR", str(secrets))
    monkeypatch.setenv("FABRIKAM_SENDGRID_API_KEY", "from-env")
    assert ServiceSettings().sendgrid_api_key == "from-env"
    assert ServiceSettings(sendgrid_api_key="explicit").sendgrid_api_key == "explicit"


def test_a_missing_directory_or_file_leaves_the_secret_unset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert ServiceSettings().twilio_auth_token is None
    monkeypatch.setenv("FABRIKAM_SECRETS_DIR", str(tmp_path / "not-mounted"))
    assert ServiceSettings().twilio_auth_token is None
    secrets = mounted(tmp_path / "secrets", sendgrid_api_key="SG.abc")
    settings = ServiceSettings(secrets_dir=str(secrets))
    assert (settings.sendgrid_api_key, settings.twilio_auth_token) == ("SG.abc", None)


def test_an_empty_secret_file_stops_startup_naming_the_file(tmp_path: Path) -> None:
    secrets = mounted(tmp_path / "secrets", twilio_auth_token="\n")
    with pytest.raises(SecretFileError, match=f"{secrets / 'twilio-auth-token'} is empty"):
        ServiceSettings(secrets_dir=str(secrets))


def test_an_unreadable_secret_file_stops_startup_naming_the_file(tmp_path: Path) -> None:
    """Not text (a binary object), or not a file at all: either way the service must not start."""
    binary = mounted(tmp_path / "binary")
    (binary / "payments-webhook-secret").write_bytes(b"\xff\xfe\x00secret")
    not_a_file = mounted(tmp_path / "directory")
    (not_a_file / "payments-webhook-secret").mkdir()
    for secrets in (binary, not_a_file):
        with pytest.raises(SecretFileError, match=f"{secrets / 'payments-webhook-secret'} cannot be read"):
            ServiceSettings(secrets_dir=str(secrets))


def test_a_key_vault_secret_value_works_as_the_pii_key_file(tmp_path: Path) -> None:
    """The CSI driver writes the secret's value as text: the base64 of 32 random bytes, maybe with a newline."""
    key = os.urandom(32)
    (tmp_path / "pii-key").write_text(base64.b64encode(key).decode() + "\n")
    mounted_cipher = FieldCipher.from_key_file(tmp_path / "pii-key", create=False)
    same_key = FieldCipher(key)
    assert same_key.decrypt(mounted_cipher.encrypt("+14255550100", "users.phone:1"), "users.phone:1") == "+14255550100"


@pytest.mark.parametrize(
    ("content", "error"),
    [
        ("", "holds 0 bytes"),
        (os.urandom(32).hex(), "holds 48 bytes; it must be the base64 of 32 random bytes"),
        ("not base64!", "is not base64 text"),
    ],
)
def test_a_pii_key_in_the_wrong_format_stops_startup_naming_the_file(tmp_path: Path, content: str, error: str) -> None:
    (tmp_path / "pii-key").write_text(content)
    with pytest.raises(ValueError, match=f"PII key file {tmp_path / 'pii-key'} .*{error}"):
        FieldCipher.from_key_file(tmp_path / "pii-key", create=False)
