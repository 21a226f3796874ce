"""Property-based fuzzing of every service's own OpenAPI with schemathesis.

The eight services run as `fabrikam services up` runs them (processes, token checks on, real Redis, FerretDB and
an SMTP sink), with the account service on PostgreSQL as in Azure. Every operation gets, with a valid token,
schemathesis's coverage cases (each field at its bounds and just past them, missing, of the wrong type: how
`latitude: 89.0` was found) and then Hypothesis-generated valid and invalid requests. Bad input must get a 4xx,
never a 5xx, invalid input must be refused, and every answer must be one the schema declares (status, content
type, headers, body).

Bounded and reproducible: the coverage cases are deterministic, the generated ones derandomized with a fixed
number per operation and mode, and not shrunk (its time is unbounded; the failing request is printed as a
curl command instead), so a failure shows again on the next run.
"""

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode

from fabrikam.devcluster.localstack import ALL_SERVICES, PostgreSQL, Stack
from fabrikam.workloads.account.issuer import LocalIssuer, load_signing_key
from fabrikam.workloads.account.service import DEMO_BUSINESS
from fabrikam.workloads.kit.auth import Role
from fabrikam.workloads.kit.settings import LOCAL_ISSUER_KEY, KeyFile

EXAMPLES = 60  # generated requests per operation and mode, after the coverage cases
CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_headers_conformance,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.negative_data_rejection,
]
# Path parameters naming what the token may act on, so valid requests get past the ownership checks.
OWN = {"business_id": DEMO_BUSINESS}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, postgres: PostgreSQL) -> Iterator[Stack]:
    env = {
        "FABRIKAM_DATABASE_URL": postgres.create_database("fuzz_accounts"),
        # One client sending hundreds of requests a second: 429s would hide the answers under test.
        "FABRIKAM_RATE_LIMIT_PER_SECOND": "100000",
        "FABRIKAM_RATE_LIMIT_BURST": "100000",
    }
    stack = Stack(tmp_path_factory.mktemp("fuzz"), extra_env=env, services=ALL_SERVICES, auth=True)
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def bearer(stack: Stack) -> dict[str, str]:
    """A token of the stack's issuer with every role, so no route refuses it for want of one."""
    key = load_signing_key(KeyFile(stack.directory / "keys" / LOCAL_ISSUER_KEY, create=False))
    issuer = LocalIssuer(stack.services["account"].url, "fabrikam", key, lifetime_seconds=3600)
    token, _ = issuer.issue("client:fuzzer", DEMO_BUSINESS, [role.value for role in Role])
    return {"Authorization": f"Bearer {token}"}


class Caller:
    """Sends a case with the token and runs the checks on its answer."""

    def __init__(self, bearer: dict[str, str]) -> None:
        self._bearer = bearer
        self._session = requests.Session()
        self.sent = 0

    def __call__(self, case: schemathesis.Case) -> None:
        valid = case.meta is None or case.meta.generation.mode is GenerationMode.POSITIVE
        if valid and isinstance(case.body, dict) and "owner" in case.body:
            case.body["owner"] = DEMO_BUSINESS  # ingestion takes requests only for the caller's business
        self.sent += 1
        case.call_and_validate(session=self._session, headers=dict(self._bearer), checks=CHECKS, timeout=10)

    def close(self) -> None:
        self._session.close()


def report(operation: schemathesis.APIOperation, phase: str, error: BaseException) -> str:
    return f"{operation.label} ({phase}): {error}"


def cover(schema: schemathesis.BaseSchema, operation: schemathesis.APIOperation, call: Caller) -> str | None:
    """Every coverage case of `operation`; the first failure's report, or None."""
    cases = schema.iter_coverage_cases(
        operation, generation_modes=list(GenerationMode), generation_config=schema.config.generation
    )
    for case in cases:
        try:
            call(case)
        except (Exception, BaseExceptionGroup) as error:
            return report(operation, "coverage", error)
    return None


def fuzz(operation: schemathesis.APIOperation, mode: GenerationMode, call: Caller) -> str | None:
    """`EXAMPLES` generated requests of `mode`; the first failure's report, or None."""
    known = {name: value for name, value in OWN.items() if f"{{{name}}}" in operation.path}
    valid = mode is GenerationMode.POSITIVE
    strategy = operation.as_strategy(generation_mode=mode, path_parameters=known if valid else None)

    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    def run(case: schemathesis.Case) -> None:
        call(case)

    try:
        run()
    except (Exception, BaseExceptionGroup) as error:
        return report(operation, mode.value, error)
    return None


def modes(operation: schemathesis.APIOperation) -> list[GenerationMode]:
    """Invalid requests too, for an operation that takes anything that can be invalid."""
    takes_input = operation.body or any(True for _ in operation.iter_parameters())
    return list(GenerationMode) if takes_input else [GenerationMode.POSITIVE]


def log_tail(path: Path, lines: int = 20) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@pytest.mark.parametrize("service", ALL_SERVICES)
def test_bad_input_gets_a_4xx_and_every_answer_matches_the_declared_schema(
    stack: Stack, bearer: dict[str, str], service: str
) -> None:
    url = stack.services[service].url
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    schema.config.update(base_url=url)
    # The token goes with every request; generated Authorization headers would only test the token check.
    schema.config.generation.update(with_security_parameters=False)
    operations = [result.ok() for result in schema.get_all_operations()]
    call = Caller(bearer)
    started = time.monotonic()
    try:
        failures = [failure for operation in operations if (failure := cover(schema, operation, call))]
        failures += [
            failure
            for operation in operations
            for mode in modes(operation)
            if (failure := fuzz(operation, mode, call)) is not None
        ]
    finally:
        call.close()
    print(f"{service}: {len(operations)} operations, {call.sent} requests in {time.monotonic() - started:.1f} s")
    assert call.sent > 20 * len(operations)
    assert not failures, "\n\n".join([*failures, f"{service} log:\n{log_tail(stack.services[service].log_path)}"])
