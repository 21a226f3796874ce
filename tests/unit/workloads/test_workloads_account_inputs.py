"""Account input rules without I/O: token requests, webhook signatures and what fits the database's columns."""

import base64
import time

import pytest
from pydantic import ValidationError

from fabrikam.workloads.account import payments
from fabrikam.workloads.account.models import ADDRESS_MAX_BYTES, BusinessRegistration
from fabrikam.workloads.account.token_request import ClientCredentials, Refused, client_credentials
from fabrikam.workloads.kit.pii import FieldCipher

FORM = b"grant_type=client_credentials&client_id=demo-business&client_secret=s3cret"


def basic(credentials: bytes) -> str:
    return "Basic " + base64.b64encode(credentials).decode()


@pytest.mark.parametrize(
    ("body", "authorization", "expected"),
    [
        (FORM, None, ClientCredentials("demo-business", "s3cret")),
        (b"grant_type=client_credentials", basic(b"demo-fleet:p:w"), ClientCredentials("demo-fleet", "p:w")),
        (FORM, "Bearer something-else", ClientCredentials("demo-business", "s3cret")),
    ],
)
def test_credentials_come_from_the_form_or_http_basic(
    body: bytes, authorization: str | None, expected: ClientCredentials
) -> None:
    assert client_credentials(body, authorization) == expected


@pytest.mark.parametrize(
    ("body", "authorization", "status", "error"),
    [
        (b"grant_type=password", None, 400, "unsupported_grant_type"),
        (b"grant_type=client_credentials&client_id=\xff", None, 400, "invalid_request"),
        (b"grant_type=client_credentials", "Basic %%%", 400, "invalid_request"),
        (b"grant_type=client_credentials", basic(b"\xff:x"), 400, "invalid_request"),
        (b"grant_type=client_credentials&client_id=a", None, 400, "invalid_request"),
        (b"grant_type=client_credentials&client_id=demo%00&client_secret=x", None, 401, "invalid_client"),
        (b"grant_type=client_credentials&client_id=" + b"a" * 129 + b"&client_secret=x", None, 401, "invalid_client"),
    ],
)
def test_a_request_that_cannot_be_read_is_an_oauth_error(
    body: bytes, authorization: str | None, status: int, error: str
) -> None:
    with pytest.raises(Refused) as refused:
        client_credentials(body, authorization)
    assert (refused.value.status, refused.value.answer.error) == (status, error)


def test_a_signature_with_non_ascii_characters_is_a_bad_signature_not_a_crash() -> None:
    now = int(time.time())
    with pytest.raises(payments.BadSignature, match="does not match"):
        payments.verify("secret", f"t={now},v1=\u00e9\u00e9", b"{}", 300)
    good = payments.sign("secret", now, b"{}")
    assert payments.verify("secret", good, b"{}", 300) == good.split("v1=")[1]


def test_an_address_of_the_largest_accepted_size_seals_into_its_column() -> None:
    cipher = FieldCipher(b"k" * 32)
    widest = "\U0001f4e6" * (ADDRESS_MAX_BYTES // 4) + "a" * (ADDRESS_MAX_BYTES % 4)
    assert len(widest.encode()) == ADDRESS_MAX_BYTES
    assert len(cipher.encrypt(widest, "businesses.address:" + "x" * 36)) <= 1024
    assert len(cipher.encrypt(widest + "a", "businesses.address:" + "x" * 36)) > 1024
    BusinessRegistration.model_validate({"name": "n", "contactEmail": "a@b.cc", "address": widest})
    with pytest.raises(ValidationError, match=f"at most {ADDRESS_MAX_BYTES} bytes"):
        BusinessRegistration.model_validate({"name": "n", "contactEmail": "a@b.cc", "address": widest + "a"})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "tab\there"),
        ("name", "nul\u0000"),
        ("contactEmail", "a\u0000b@contoso.example"),
        ("contactEmail", "ops@" + "c" * 190 + "." + "a" * 63),
    ],
)
def test_text_the_database_cannot_hold_is_refused_naming_the_field(field: str, value: str) -> None:
    with pytest.raises(ValidationError) as raised:
        BusinessRegistration.model_validate({"name": "Contoso", "contactEmail": "ops@contoso.example", field: value})
    assert [error["loc"] for error in raised.value.errors()] == [(field,)]
