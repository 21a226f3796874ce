"""Prometheus' own promtool judges the alerting rules: `check rules` on every PrometheusRule the operator renders and on
the chart's, and `test rules` with series under which each alert fires, and others under which it stays quiet.

The tests of the services' rules are generated from the rendered rules (the objective, the threshold's bucket, the
routes left out), so they follow any change of the renderer; the operator's are written per alert.
"""

from __future__ import annotations

import math
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from fabrikam.devcluster import toolchain, versions
from fabrikam.operator.api import DeliveryPlatform, DroneService
from fabrikam.operator.render import bundled_services
from fabrikam.operator.render.monitoring import prometheus_rule
from fabrikam.operator.render.slo import latency_excluded, le, service_label

ROOT = Path(__file__).resolve().parents[3]
SAMPLES = ROOT / "config" / "samples"
NAMESPACE = "fabrikam-system"
COUNTER_START = 1_000_000
MINUTE_REQUESTS = 1000  # requests a minute to a service's API in the generated series: ratios stay exact
STREAM_REQUESTS = 50  # and to each of the delivery service's streams
READY_PROBES = 12  # readiness probes a minute of the ready pods (two pods, every 10 s)


@pytest.fixture(scope="module")
def promtool() -> Path:
    return toolchain.go_binary(versions.PROMTOOL_BINARY, progress=lambda _: None)


def _services() -> list[tuple[DroneService, DeliveryPlatform]]:
    """Every bundled service of the sample platforms, and the team's own service of the samples."""
    found: list[tuple[DroneService, DeliveryPlatform]] = []
    for sample in ("platform.yaml", "platform-azure.yaml"):
        platform = DeliveryPlatform.model_validate(yaml.safe_load((SAMPLES / sample).read_text()))
        found += [(svc, platform) for svc in bundled_services(platform)]
    custom = DroneService.model_validate(yaml.safe_load((SAMPLES / "team-service.yaml").read_text()))
    return [*found, (custom, found[0][1])]


SERVICES = _services()
OVER_DAYS = {
    "fabrikam/fabrikam-shipping/ingestion",
    "fabrikam/fabrikam-shipping/delivery",
    "fabrikam/fabrikam-shipping/delivery-analytics",
}


def _id(service: tuple[DroneService, DeliveryPlatform]) -> str:
    svc, platform = service
    return f"{platform.name}/{svc.namespace}/{svc.name}"


def _write_rules(directory: Path, name: str, rule: dict[str, Any]) -> Path:
    """A PrometheusRule's spec.groups as the rules file Prometheus reads."""
    path = directory / f"{name}.rules.yaml"
    path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}, sort_keys=False, width=1000))
    return path


def _run(promtool: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(promtool), *map(str, args)], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def chart_rule() -> dict[str, Any]:
    helm = toolchain.expected_binaries().helm
    rendered = subprocess.run(
        [str(helm), "template", "fabrikam-operator", str(ROOT / "charts" / "operator"), "-n", NAMESPACE,
         "--set", "metrics.prometheusRule.enabled=true"],
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout  # fmt: skip
    [rule] = [doc for doc in yaml.safe_load_all(rendered) if doc and doc["kind"] == "PrometheusRule"]
    return dict(rule)


def test_promtool_is_the_pinned_prometheus(promtool: Path) -> None:
    """The wrapper module requires the pinned module version, and the binary says which Prometheus it is."""
    wrapper = (ROOT / "toolchain" / "prometheus" / "go.mod").read_text()
    assert f"require github.com/prometheus/prometheus {versions.PROMETHEUS}\n" in wrapper
    version = _run(promtool, "--version")
    assert "promtool, version 3.16.0 " in version.stdout, version.stdout


def test_every_rendered_rule_and_the_charts_pass_check_rules(
    promtool: Path, chart_rule: dict[str, Any], tmp_path: Path
) -> None:
    files = [_write_rules(tmp_path, "operator", chart_rule)]
    files += [
        _write_rules(tmp_path, f"{platform.name}-{svc.namespace}-{svc.name}", prometheus_rule(svc, platform))
        for svc, platform in SERVICES
    ]
    checked = _run(promtool, "check", "rules", *files)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count("SUCCESS") == len(files), checked.stdout
    assert len(files) == 1 + 16 + 1


# ---- The services' SLO alerts ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Traffic:
    """1000 requests a minute to one service for `minutes`, sampled every `step` minutes: from minute `start` to `end`
    (None: the last), `errors` of them answered 5xx and `slow` of them slower than the latency threshold, and with
    `unready` no readiness probe passing."""

    errors: int = 0
    slow: int = 0
    unready: bool = False
    start: int = 0
    end: int | None = None
    minutes: int = 430
    step: int = 1

    @property
    def interval(self) -> str:
        return f"{self.step}m"

    def counter(self, bad: int, good: int) -> str:
        """A counter growing `good` a minute, and `bad` while the trouble lasts (expanding notation). It starts high,
        as a counter of a pod that has served for a while: Prometheus then extrapolates every series of a ratio alike
        (a counter starting at 0 is not extrapolated before its start), and a ratio is exactly that of the increases."""
        end = self.minutes if self.end is None else self.end
        segments = [(self.start, good), (end - self.start, bad), (self.minutes - end, good)]
        value = COUNTER_START
        values = [str(value)]
        for minutes, per_minute in segments:
            steps, increment = minutes // self.step, per_minute * self.step
            if steps:
                values.append(f"{value + increment}+{increment}x{steps - 1}")
                value += steps * increment
        return " ".join(values)


def _series(svc: DroneService, traffic: Traffic) -> list[dict[str, str]]:
    """What the service's pods expose, as the scraper labels it: user requests (good, 5xx; fast, slow), and the noise
    the objectives leave out: a failing readiness probe, and for delivery its streams lasting minutes."""
    labels = f'namespace="{svc.namespace}", service="{service_label(svc)}"'
    route = 'route="/v1/things/{id}"'
    bound = le(svc.spec.slo.latency.threshold_milliseconds)
    steady = Traffic(minutes=traffic.minutes, step=traffic.step)
    requests = "fabrikam_http_requests_total"
    count, bucket = "fabrikam_http_request_seconds_count", "fabrikam_http_request_seconds_bucket"
    per = MINUTE_REQUESTS
    series = [
        (f'{requests}{{{labels}, method="GET", {route}, status="200"}}', traffic.counter(per - traffic.errors, per)),
        (f'{requests}{{{labels}, method="GET", {route}, status="500"}}', traffic.counter(traffic.errors, 0)),
        (f"{count}{{{labels}, {route}}}", steady.counter(per, per)),
        (f'{bucket}{{{labels}, {route}, le="{bound}"}}', traffic.counter(per - traffic.slow, per)),
        # Left out of both objectives: the kubelet's probes, of pods that are ready (none with `unready`) and of one
        # that is not.
        (f'{requests}{{{labels}, method="GET", route="/readyz", status="200"}}',
         traffic.counter(0 if traffic.unready else READY_PROBES, READY_PROBES)),
        (f'{requests}{{{labels}, method="GET", route="/readyz", status="503"}}', steady.counter(60, 60)),
        (f'{count}{{{labels}, route="/readyz"}}', steady.counter(60, 60)),
        (f'{bucket}{{{labels}, route="/readyz", le="{bound}"}}', steady.counter(0, 0)),
    ]  # fmt: skip
    for stream in latency_excluded(svc):
        if stream.startswith("/v1/deliveries/"):  # the delivery service's streams: every request slow
            streamed = steady.counter(STREAM_REQUESTS, STREAM_REQUESTS)
            series += [
                (f'{requests}{{{labels}, method="GET", route="{stream}", status="200"}}', streamed),
                (f'{count}{{{labels}, route="{stream}"}}', streamed),
                (f'{bucket}{{{labels}, route="{stream}", le="{bound}"}}', steady.counter(0, 0)),
            ]  # fmt: skip
    return [{"series": name, "values": values} for name, values in series]


def _expected(alert: dict[str, Any], svc: DroneService, ratio: float) -> dict[str, Any]:
    """The alert as Prometheus sends it: the series' labels and the rule's, its annotations expanded (the value is
    the long window's ratio, in humanizePercentage's four significant digits)."""
    labels = {"namespace": svc.namespace, "service": service_label(svc), **alert["labels"]}
    value = f"{ratio * 100:.4g}%"
    annotations = {k: v.replace("{{ $value | humanizePercentage }}", value) for k, v in alert["annotations"].items()}
    return {"exp_labels": labels, "exp_annotations": annotations}


def _unit_tests(
    svc: DroneService, platform: DeliveryPlatform, rules_file: Path
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The tests of a service's alerts over minutes and hours, and over days (evaluated every 5 minutes: a 3-day
    window evaluated every minute for four days costs promtool ten seconds)."""
    rules = prometheus_rule(svc, platform)["spec"]["groups"]
    alerts = {r["alert"]: r for group in rules for r in group["rules"] if "alert" in r}
    # Bad requests a minute: 20 times the budget (above the page's 14.4x), or 3 times (above the ticket's 1x, below
    # the page's 6x).
    errors = [round(MINUTE_REQUESTS * (1 - svc.spec.slo.availability.target / 100) * f) for f in (20, 3)]
    slow = [round(MINUTE_REQUESTS * (1 - svc.spec.slo.latency.target / 100) * f) for f in (20, 3)]
    errors_fast, errors_slow = errors
    slow_fast, slow_slow = slow

    def case(eval_time: str, firing: dict[str, float]) -> list[dict[str, Any]]:
        """One check per alert at `eval_time`: those in `firing` (name -> expected ratio) fire, the others do not."""
        return [
            {
                "eval_time": eval_time,
                "alertname": name,
                "exp_alerts": [_expected(alert, svc, firing[name])] if name in firing else [],
            }
            for name, alert in alerts.items()
        ]

    def group(name: str, traffic: Traffic, *checks: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "name": name,
            "interval": traffic.interval,
            "input_series": _series(svc, traffic),
            "alert_rule_test": [check for at in checks for check in at],
        }

    per = float(MINUTE_REQUESTS)
    # The availability objective counts the streams too (requests like any other, whatever they last).
    requests = per + STREAM_REQUESTS * sum(1 for r in latency_excluded(svc) if r.startswith("/v1/deliveries/"))
    # Three clean days, then errors at 3x for as long as the 3-day window needs to hold a day of them (a little more
    # where the streams dilute them), plus the alert's 15m: sampled every 5 minutes, the 3-day window's increases
    # span 4315 minutes.
    burn = errors_slow / requests / (1 - svc.spec.slo.availability.target / 100)
    bad = 5 * math.ceil((4320 / burn + 30) / 5)
    history = Traffic(errors=errors_slow, start=4320, minutes=4320 + bad, step=5)
    history_ratio = errors_slow * bad / (requests * 4315)
    days = group(
        "5xx at 3x the budget after three clean days: the ticket once a day of it filled the 3-day window",
        history,
        case("84h", {}),
        case(f"{4320 + bad}m", {"FabrikamAvailabilitySlowBurn": history_ratio}),
    )
    minutes = {
        "rule_files": [rules_file.name],
        "evaluation_interval": "1m",
        "tests": [
            group("healthy: nothing fires, the failing probe and the streams aside", Traffic(minutes=430),
                  case("10m", {}), case("7h", {})),
            group("5xx at 20x the budget: the page within minutes, the ticket after its 15m",
                  Traffic(errors=errors_fast, minutes=40),
                  case("10m", {"FabrikamAvailabilityFastBurn": errors_fast / requests}),
                  case("30m", {"FabrikamAvailabilityFastBurn": errors_fast / requests,
                               "FabrikamAvailabilitySlowBurn": errors_fast / requests})),
            group("5xx at 3x the budget: a ticket, never a page",
                  Traffic(errors=errors_slow, minutes=430),
                  case("10m", {}), case("7h", {"FabrikamAvailabilitySlowBurn": errors_slow / requests})),
            group("a 30-minute outage: the page stops once its short windows are clean, the ticket stays",
                  Traffic(errors=errors_fast, end=30, minutes=80),
                  case("20m", {"FabrikamAvailabilityFastBurn": errors_fast / requests,
                               "FabrikamAvailabilitySlowBurn": errors_fast / requests}),
                  case("75m", {"FabrikamAvailabilitySlowBurn": errors_fast * 30 / (requests * 75)})),
            group("no pod passes its readiness probe from minute 5: the page after its 2m, no 5xx counted",
                  Traffic(unready=True, start=5, minutes=20),
                  case("6m", {}), case("12m", {"FabrikamServiceNotReady": 0.0})),
            group("slow requests at 20x the budget: the latency page, the streams aside",
                  Traffic(slow=slow_fast, minutes=20), case("10m", {"FabrikamLatencyFastBurn": slow_fast / per})),
            group("slow requests at 3x the budget: a latency ticket, never a page",
                  Traffic(slow=slow_slow, minutes=430),
                  case("10m", {}), case("7h", {"FabrikamLatencySlowBurn": slow_slow / per})),
        ],
    }  # fmt: skip
    return minutes, {"rule_files": [rules_file.name], "evaluation_interval": "5m", "tests": [days]}


@pytest.fixture(scope="module")
def rules_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("rules")


@pytest.mark.parametrize("service", SERVICES, ids=_id)
def test_each_slo_alert_fires_when_its_budget_burns_and_only_then(
    promtool: Path, rules_dir: Path, service: tuple[DroneService, DeliveryPlatform]
) -> None:
    """Every service over minutes and hours; over days the services whose rules differ the most (the default
    objectives, the delivery service's streams, a team's own objectives): the 3-day window is the same for all."""
    svc, platform = service
    name = f"{platform.name}-{svc.namespace}-{svc.name}"
    rules = _write_rules(rules_dir, name, prometheus_rule(svc, platform))
    minutes, days = _unit_tests(svc, platform, rules)
    files = [rules_dir / f"{name}.test.yaml"]
    files[0].write_text(yaml.safe_dump(minutes, sort_keys=False, width=1000))
    if _id(service) in OVER_DAYS:
        files.append(rules_dir / f"{name}.days.test.yaml")
        files[1].write_text(yaml.safe_dump(days, sort_keys=False, width=1000))
    result = _run(promtool, "test", "rules", *files)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(files), result.stdout


# ---- The operator's own alerts (the chart's PrometheusRule) --------------------------------------------------------


def _operator_expected(alert: dict[str, Any], labels: dict[str, str], value: str) -> dict[str, Any]:
    kind = labels.get("kind", "")

    def expand(text: str) -> str:
        text = text.replace("{{ $value | humanizePercentage }}", value).replace("{{ $value }}", value)
        return text.replace("{{ $labels.kind }}", kind)

    annotations = {key: expand(text) for key, text in alert["annotations"].items()}
    assert not any("{{" in text for text in annotations.values()), annotations
    return {"exp_labels": {**labels, **alert["labels"]}, "exp_annotations": annotations}


def _operator_tests(rules: dict[str, Any], rules_file: Path) -> dict[str, Any]:
    alerts = {r["alert"]: r for group in rules["spec"]["groups"] for r in group["rules"]}
    ns = f'namespace="{NAMESPACE}"'

    def group(
        name: str, series: dict[str, str], eval_time: str, alert: str, fires: dict[str, str] | None
    ) -> dict[str, Any]:
        expected = (
            []
            if fires is None
            else [_operator_expected(alerts[alert], {k: v for k, v in fires.items() if k != "value"}, fires["value"])]
        )
        return {
            "name": name,
            "interval": "1m",
            "input_series": [{"series": s, "values": v} for s, v in series.items()],
            "alert_rule_test": [{"eval_time": eval_time, "alertname": alert, "exp_alerts": expected}],
        }

    reconciles = "fabrikam_operator_reconciles_total"
    responses = "fabrikam_operator_azure_http_responses_total"
    objects = "fabrikam_operator_objects"
    leader = "fabrikam_operator_leader"
    return {
        "rule_files": [rules_file.name],
        "evaluation_interval": "1m",
        "tests": [
            group("a leader", {f'{leader}{{{ns}, pod="a"}}': "1x20", f'{leader}{{{ns}, pod="b"}}': "0x20"},
                  "15m", "FabrikamOperatorNoLeader", None),
            group("both replicas standing by",
                  {f'{leader}{{{ns}, pod="a"}}': "0x20", f'{leader}{{{ns}, pod="b"}}': "0x20"},
                  "15m", "FabrikamOperatorNoLeader", {"value": "0"}),
            group("no replica scraped", {f'up{{{ns}, job="other"}}': "1x20"},
                  "15m", "FabrikamOperatorNoLeader", {"value": "0"}),
            group("20 % of the reconciles fail",
                  {f'{reconciles}{{{ns}, pod="a", kind="DroneService", result="error"}}': "0+2x60",
                   f'{reconciles}{{{ns}, pod="a", kind="DroneService", result="unchanged"}}': "0+8x60"},
                  "45m", "FabrikamOperatorReconcileErrors", {"kind": "DroneService", "value": "20%"}),
            group("1 % of the reconciles fail",
                  {f'{reconciles}{{{ns}, pod="a", kind="DroneService", result="error"}}': "0+1x60",
                   f'{reconciles}{{{ns}, pod="a", kind="DroneService", result="unchanged"}}': "0+99x60"},
                  "45m", "FabrikamOperatorReconcileErrors", None),
            group("Azure answers 10 % of requests 429",
                  {f'{responses}{{{ns}, pod="a", method="PUT", status="429"}}': "0+10x60",
                   f'{responses}{{{ns}, pod="a", method="PUT", status="200"}}': "0+90x60"},
                  "45m", "FabrikamOperatorAzureThrottled", {"value": "10%"}),
            group("Azure answers 1 % of requests 429",
                  {f'{responses}{{{ns}, pod="a", method="GET", status="429"}}': "0+1x60",
                   f'{responses}{{{ns}, pod="a", method="GET", status="200"}}': "0+99x60"},
                  "45m", "FabrikamOperatorAzureThrottled", None),
            group("a stalled service (the standby counts none)",
                  {f'{objects}{{{ns}, pod="a", kind="DroneService", health="stalled"}}': "1x30",
                   f'{objects}{{{ns}, pod="b", kind="DroneService", health="stalled"}}': "0x30"},
                  "15m", "FabrikamResourcesStalled", {"kind": "DroneService", "value": "1"}),
            group("a service stalled for a moment",
                  {f'{objects}{{{ns}, pod="a", kind="DroneService", health="stalled"}}': "1x5 0x25"},
                  "15m", "FabrikamResourcesStalled", None),
            group("two platforms in progress for 40 minutes",
                  {f'{objects}{{{ns}, pod="a", kind="DeliveryPlatform", health="progressing"}}': "2x40"},
                  "35m", "FabrikamResourcesNotReady", {"kind": "DeliveryPlatform", "value": "2"}),
            group("a rollout of 20 minutes",
                  {f'{objects}{{{ns}, pod="a", kind="DroneService", health="progressing"}}': "1x20 0x20"},
                  "35m", "FabrikamResourcesNotReady", None),
        ],
    }  # fmt: skip


def test_each_operator_alert_fires_when_it_should_and_only_then(
    promtool: Path, chart_rule: dict[str, Any], tmp_path: Path
) -> None:
    rules = _write_rules(tmp_path, "operator", chart_rule)
    tests = tmp_path / "operator.test.yaml"
    document = _operator_tests(chart_rule, rules)
    covered = {t["alert_rule_test"][0]["alertname"] for t in document["tests"]}
    assert covered == {r["alert"] for g in chart_rule["spec"]["groups"] for r in g["rules"]}
    tests.write_text(yaml.safe_dump(document, sort_keys=False, width=1000))
    result = _run(promtool, "test", "rules", tests)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_chart_rules_select_the_release_namespace(chart_rule: dict[str, Any]) -> None:
    for group in chart_rule["spec"]["groups"]:
        for rule in group["rules"]:
            selectors = re.findall(r"fabrikam_operator_\w+\{([^}]*)\}", rule["expr"])
            assert selectors, rule["alert"]
            assert all(f'namespace="{NAMESPACE}"' in s for s in selectors), rule["alert"]
