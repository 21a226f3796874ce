"""`fabrikam-svc <service>`: the one entrypoint of the workloads image."""

import argparse
import importlib
import os

from fabrikam.workloads.kit.requirements import Need
from fabrikam.workloads.kit.service import ServiceBuilder, run
from fabrikam.workloads.kit.settings import ServiceSettings

SERVICES = {
    "ingestion": "fabrikam.workloads.ingestion.service",
    "workflow": "fabrikam.workloads.workflow.service",
    # The operator runs each bundled service by its component name; the local stack calls this one `scheduler`.
    "drone-scheduler": "fabrikam.workloads.scheduler.service",
    "scheduler": "fabrikam.workloads.scheduler.service",
    "delivery": "fabrikam.workloads.delivery.service",
    "package": "fabrikam.workloads.package.service",
    "account": "fabrikam.workloads.account.service",
    "notification": "fabrikam.workloads.notification.service",
    "drone-telemetry": "fabrikam.workloads.telemetry.service",
}


def builder(service: str) -> tuple[ServiceBuilder, tuple[Need, ...]]:
    """The `build` function of a service and what it needs configured besides the Runtime's Redis and broker,
    imported only when that service runs."""
    module = importlib.import_module(SERVICES[service])
    build: ServiceBuilder = module.build
    needs: tuple[Need, ...] = getattr(module, "NEEDS", ())
    return build, needs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="fabrikam-svc", description="Run one Fabrikam workload.")
    parser.add_argument("service", choices=sorted(SERVICES))
    parser.add_argument("--port", type=int, help="overrides FABRIKAM_PORT")
    arguments = parser.parse_args(argv)
    os.environ["FABRIKAM_SERVICE"] = arguments.service
    settings = ServiceSettings()
    if arguments.port is not None:
        settings = settings.model_copy(update={"port": arguments.port})
    run(settings, *builder(arguments.service))


if __name__ == "__main__":
    main()
