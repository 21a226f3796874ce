"""`fabrikam simulate`: a drone fleet flying deliveries against the running local services."""

import asyncio
from pathlib import Path

import httpx
import typer
from rich.console import Console

from fabrikam.cli.dashboard import Tracker, summary
from fabrikam.cli.localstate import DEFAULT_DIRECTORY, running
from fabrikam.workloads.simulator.engine import FleetSimulator, SimulatorConfig

app = typer.Typer(help="Simulate a drone fleet against the local services.", invoke_without_command=True)


@app.callback()
def simulate(
    directory: Path = typer.Option(DEFAULT_DIRECTORY, help="The directory given to `fabrikam services up`."),
    drones: int = typer.Option(20, min=1, help="Fleet size (drones registered at bases around the centre)."),
    rate: float = typer.Option(1.0, min=0.01, help="Delivery requests per wall second."),
    seconds: float = typer.Option(30.0, min=1, help="Wall seconds of new delivery requests."),
    speed_up: float = typer.Option(10.0, min=1, help="Simulated seconds per wall second."),
    speed_mps: float = typer.Option(15.0, min=1, max=60, help="Drone ground speed, simulated m/s."),
    confirmation_share: float = typer.Option(0.2, min=0, max=1, help="Share of deliveries needing a signature."),
) -> None:
    """Request deliveries, fly the assigned drones base → pickup → drop-off, report telemetry each simulated
    second, confirm at the drop-off; print a summary when every delivery landed (or a minute after)."""
    urls, tokens = running(directory)
    config = SimulatorConfig(
        drones=drones,
        requests_per_second=rate,
        speed_up=speed_up,
        speed_mps=speed_mps,
        confirmation_share=confirmation_share,
    )

    async def go() -> None:
        snapshot = await FleetSimulator(urls, config, tokens).run(seconds, drain_seconds=60)
        tracker = Tracker(urls, tokens)
        async with httpx.AsyncClient(timeout=10) as http:
            await tracker.refresh(http, list(snapshot.requested))
        Console().print(summary(snapshot, tracker))

    asyncio.run(go())
