"""`fabrikam dlq` refuses what it cannot do before it reaches a broker, saying what to set or choose."""

import pytest
from typer.testing import CliRunner

from fabrikam.cli.main import app

runner = CliRunner()
UNSET = {"FABRIKAM_BROKER": None, "FABRIKAM_REDIS_URL": None, "FABRIKAM_SERVICEBUS_NAMESPACE": None}


@pytest.mark.parametrize(
    ("environment", "variable"),
    [
        ({}, "FABRIKAM_REDIS_URL"),
        ({"FABRIKAM_BROKER": "servicebus"}, "FABRIKAM_SERVICEBUS_NAMESPACE"),
    ],
)
def test_without_the_services_broker_settings_it_names_the_variable_to_set(
    environment: dict[str, str], variable: str
) -> None:
    result = runner.invoke(app, ["dlq", "list"], env={**UNSET, **environment})
    assert result.exit_code == 2
    assert f"not configured: set {variable}" in result.stderr


@pytest.mark.parametrize("choice", [[], ["--id", "m-1", "--all"]])
def test_a_redrive_must_say_either_one_message_or_all(choice: list[str]) -> None:
    result = runner.invoke(app, ["dlq", "redrive", "notification-events", *choice], env=UNSET)
    assert result.exit_code == 2
    assert "--id ID or --all" in result.stderr
