"""Every alert leads a person to what to do: each runbook_url of every rule the operator renders, and of the chart's
own rule, points to a runbook of docs/runbooks that exists, at a heading that exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from fabrikam.operator.api import DeliveryPlatform, DroneService
from fabrikam.operator.api.observability import RUNBOOK_BASE_URL
from fabrikam.operator.render import bundled_services
from fabrikam.operator.render.monitoring import rule_groups

ROOT = Path(__file__).resolve().parents[3]
RUNBOOKS = ROOT / "docs" / "runbooks"
SAMPLES = ROOT / "config" / "samples"
CHART_RULE = ROOT / "charts" / "operator" / "templates" / "prometheusrule.yaml"


def anchors(markdown: str) -> set[str]:
    """GitHub's anchors of a document's headings: lower case, punctuation dropped, spaces as hyphens."""
    found = set()
    for line in markdown.splitlines():
        heading = re.match(r"^#{1,6}\s+(.*?)\s*$", line)
        if heading:
            text = re.sub(r"[^\w\- ]", "", heading.group(1).lower())
            found.add(text.replace(" ", "-"))
    return found


def _rendered_urls() -> list[str]:
    services: list[tuple[DroneService, DeliveryPlatform]] = []
    for sample in ("platform.yaml", "platform-dev.yaml", "platform-azure.yaml"):
        platform = DeliveryPlatform.model_validate(yaml.safe_load((SAMPLES / sample).read_text()))
        services += [(svc, platform) for svc in bundled_services(platform)]
    platform = DeliveryPlatform.model_validate(yaml.safe_load((SAMPLES / "platform.yaml").read_text()))
    services.append(
        (DroneService.model_validate(yaml.safe_load((SAMPLES / "team-service.yaml").read_text())), platform)
    )
    return [
        rule["annotations"]["runbook_url"]
        for svc, platform in services
        for group in rule_groups(svc, platform)
        for rule in group["rules"]
        if "alert" in rule
    ]


def _chart_urls() -> list[str]:
    """The chart's rule builds each URL as `{{ $runbook }}#<anchor>`, $runbook being <base>/operator.md."""
    template = CHART_RULE.read_text()
    page = re.search(r'printf "%s/([\w-]+\.md)"', template)
    assert page is not None
    alerts = re.findall(r"- alert: (\w+)", template)
    urls = [
        f"{RUNBOOK_BASE_URL}/{page.group(1)}#{a}"
        for a in re.findall(r"runbook_url: \{\{ \$runbook \}\}#(\S+)", template)
    ]
    assert len(urls) == len(alerts) == 5
    assert [u.rsplit("#", 1)[1] for u in urls] == [a.lower() for a in alerts]
    return urls


@pytest.mark.parametrize("url", sorted({*_rendered_urls(), *_chart_urls()}))
def test_every_runbook_url_names_an_existing_runbook_and_heading(url: str) -> None:
    assert url.startswith(RUNBOOK_BASE_URL + "/"), url
    page, anchor = url.removeprefix(RUNBOOK_BASE_URL + "/").split("#")
    runbook = RUNBOOKS / page
    assert runbook.is_file(), f"{url}: no {runbook.relative_to(ROOT)}"
    assert anchor in anchors(runbook.read_text()), f"{url}: no heading #{anchor} in {page}"


def test_every_service_alert_has_its_runbook() -> None:
    assert {url.rsplit("#", 1)[1] for url in _rendered_urls()} == {
        "fabrikamavailabilityfastburn",
        "fabrikamavailabilityslowburn",
        "fabrikamlatencyfastburn",
        "fabrikamlatencyslowburn",
        "fabrikamservicenotready",
    }


@pytest.mark.parametrize("runbook", ["service-availability.md", "service-latency.md", "operator.md"])
def test_the_runbooks_links_between_them_resolve(runbook: str) -> None:
    for target, anchor in re.findall(r"\]\(([\w-]+\.md)(?:#([\w-]+))?\)", (RUNBOOKS / runbook).read_text()):
        assert (RUNBOOKS / target).is_file(), target
        if anchor:
            assert anchor in anchors((RUNBOOKS / target).read_text()), f"{target}#{anchor}"
