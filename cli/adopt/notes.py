"""What adoption could not carry over as it was, said per Deployment and field, with what to do about it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Note:
    """One change adoption made, or could not make, to what a Deployment ran: `workload` is `namespace/name` of the
    Deployment (or `team <name>`), `field` the part of it concerned, `message` what happened and what to do."""

    workload: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.workload}: {self.field}: {self.message}"
