"""`fabrikam services dashboard`: a minute of simulated traffic on the local services, watched live.

Deliveries by stage, drones in flight with their ETAs counting down, notifications sent; then a summary
with the ETA error against the simulator's real arrival times.
"""

import asyncio
import statistics
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

from fabrikam.cli.localstate import DEFAULT_DIRECTORY, running
from fabrikam.workloads.simulator.engine import FleetSimulator, SimulatorConfig, Snapshot, Tokens

STAGES = ("requested", "scheduled", "headed_to_pickup", "headed_to_dropoff", "completed", "cancelled", "failed")
FINAL = {"completed", "cancelled", "failed"}


@dataclass
class Tracker:
    """Follows every requested delivery through the delivery service, as a customer's app would."""

    urls: dict[str, str]
    tokens: Tokens
    views: dict[str, dict[str, Any]] = field(default_factory=dict)
    dropoff_eta: dict[str, datetime] = field(default_factory=dict)  # first ETA seen on the drop-off leg
    notifications: dict[str, int] = field(default_factory=dict)

    async def refresh(self, http: httpx.AsyncClient, requested: list[str]) -> None:
        headers = {"Authorization": f"Bearer {self.tokens.business}"}
        pending = [d for d in requested if self.views.get(d, {}).get("stage") not in FINAL]
        gate = asyncio.Semaphore(8)

        async def one(delivery_id: str) -> None:
            async with gate:
                response = await http.get(f"{self.urls['delivery']}/v1/deliveries/{delivery_id}", headers=headers)
            if response.status_code != 200:
                return
            view = response.json()
            self.views[delivery_id] = view
            if view["stage"] == "headed_to_dropoff" and view.get("deliveryEta") and delivery_id not in self.dropoff_eta:
                self.dropoff_eta[delivery_id] = datetime.fromisoformat(view["deliveryEta"])

        await asyncio.gather(*(one(d) for d in pending))
        if "notification" in self.urls:
            stats = await http.get(f"{self.urls['notification']}/v1/notifications/stats", headers=headers)
            if stats.status_code == 200:
                self.notifications = stats.json()

    def stage(self, delivery_id: str) -> str:
        return str(self.views.get(delivery_id, {}).get("stage", "requested"))


def render(snapshot: Snapshot, tracker: Tracker, elapsed: float, seconds: float) -> Group:
    counts = {stage: 0 for stage in STAGES}
    for delivery_id in snapshot.requested:
        counts[tracker.stage(delivery_id)] = counts.get(tracker.stage(delivery_id), 0) + 1
    stages = Table(title="Deliveries by stage")
    for stage in STAGES:
        stages.add_column(stage.replace("_", " "), justify="right")
    stages.add_row(*(str(counts[stage]) for stage in STAGES))

    flights = Table(title=f"Drones in flight ({len(snapshot.flying)})")
    for column in ("drone", "delivery", "stage", "ETA (s)", "battery %"):
        flights.add_column(column, justify="right" if column in ("ETA (s)", "battery %") else "left")
    now = datetime.now(UTC)
    for flying in sorted(snapshot.flying.values(), key=lambda f: f.drone_id)[:15]:
        view = tracker.views.get(flying.delivery_id, {})
        eta = view.get("deliveryEta")
        countdown = f"{(datetime.fromisoformat(eta) - now).total_seconds():.1f}" if eta else "-"
        battery = f"{flying.last.battery:.1f}" if flying.last else "-"
        stage = view.get("stage", "-")
        flights.add_row(flying.drone_id, flying.delivery_id[:8], stage, countdown, battery)

    sent = tracker.notifications.get("sent", 0)
    failed = tracker.notifications.get("failed", 0)
    status = (
        f"traffic {min(elapsed, seconds):.0f}/{seconds:.0f} s · telemetry reports {snapshot.reports:,} · "
        f"notifications sent {sent} (refused {failed})"
    )
    return Group(Panel(status, title="Fabrikam Drone Delivery — live"), stages, flights)


def summary(snapshot: Snapshot, tracker: Tracker) -> Table:
    table = Table(title="Summary")
    table.add_column("figure")
    table.add_column("value", justify="right")
    completed = [d for d in snapshot.requested if tracker.stage(d) == "completed"]
    errors = [
        abs((tracker.dropoff_eta[d] - snapshot.arrived[d]).total_seconds())
        for d in completed
        if d in tracker.dropoff_eta and d in snapshot.arrived
    ]
    durations = [
        (snapshot.arrived[d] - snapshot.requested[d]).total_seconds() for d in completed if d in snapshot.arrived
    ]
    table.add_row("deliveries requested", str(len(snapshot.requested)))
    table.add_row("deliveries completed", str(len(completed)))
    for failure, count in sorted(snapshot.refused.items()):
        table.add_row(f"failed step ({failure})", str(count))
    table.add_row("telemetry reports", f"{snapshot.reports:,}")
    if durations:
        table.add_row("request → drop-off, median (wall s)", f"{statistics.median(durations):.1f}")
    if errors:
        table.add_row(
            "drop-off ETA error, median / max (wall s)", f"{statistics.median(errors):.2f} / {max(errors):.2f}"
        )
    table.add_row("notifications sent (since services up)", str(tracker.notifications.get("sent", 0)))
    return table


async def watch(
    urls: dict[str, str], tokens: Tokens, config: SimulatorConfig, seconds: float, console: Console
) -> tuple[Snapshot, Tracker]:
    simulator = FleetSimulator(urls, config, tokens)
    tracker = Tracker(urls, tokens)
    started = time.monotonic()
    run = asyncio.create_task(simulator.run(seconds, drain_seconds=60))
    async with httpx.AsyncClient(timeout=10) as http:
        with Live(render(simulator.state, tracker, 0, seconds), console=console, refresh_per_second=4) as live:
            while not run.done():
                await tracker.refresh(http, list(simulator.state.requested))
                live.update(render(simulator.state, tracker, time.monotonic() - started, seconds))
                await asyncio.wait({run}, timeout=0.5)
            snapshot = await run
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and any(
                tracker.stage(d) not in FINAL for d in snapshot.requested if d in snapshot.arrived
            ):
                await tracker.refresh(http, list(snapshot.requested))
                live.update(render(snapshot, tracker, time.monotonic() - started, seconds))
                await asyncio.sleep(0.5)
            await tracker.refresh(http, list(snapshot.requested))
    return snapshot, tracker


def dashboard(
    directory: Path = typer.Option(DEFAULT_DIRECTORY, help="The directory given to `fabrikam services up`."),
    seconds: float = typer.Option(60.0, min=1, help="Wall seconds of new delivery requests."),
    rate: float = typer.Option(1.0, min=0.01, help="Delivery requests per wall second."),
    speed_up: float = typer.Option(10.0, min=1, help="Simulated seconds per wall second."),
    drones: int = typer.Option(30, min=1, help="Drones the simulator registers and flies."),
) -> None:
    """A live dashboard over simulated traffic on the running services, then a summary."""
    urls, tokens = running(directory)
    config = SimulatorConfig(drones=drones, requests_per_second=rate, speed_up=speed_up)
    console = Console()
    snapshot, tracker = asyncio.run(watch(urls, tokens, config, seconds, console))
    console.print()
    console.print(summary(snapshot, tracker))
