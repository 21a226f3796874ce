"""`fabrikam adopt`: DroneServices and a DeliveryPlatform's team mapping that reproduce running Deployments.

`convert` is pure (objects in, manifests and notes out); `sources` reads manifests and clusters, `registry` asks
registries for digests, `output` writes the files, `command` is the typer command tying them together.
"""

from fabrikam.cli.adopt.convert import Adoption, adopt
from fabrikam.cli.adopt.notes import Note

__all__ = ["Adoption", "Note", "adopt"]
