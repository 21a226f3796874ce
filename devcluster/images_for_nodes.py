"""The images the real nodes run before any workload: the pause container and the add-ons, from the local registry.

Each is built here (`images.py`: pause from Kubernetes' own pause.c, the add-ons from their pinned Go modules, the
volume helper pods' image is the Debian base) and referenced by digest, so a node pulls exactly what was built; an
unchanged input is not rebuilt.
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fabrikam.devcluster import images, registry, toolchain
from fabrikam.devcluster.addons import AddonImages

Progress = Callable[[str], None]


@dataclass(frozen=True)
class NodeImages:
    registry: str
    """`127.0.0.1:PORT`: the host part of every reference below."""
    pause: str
    addons: AddonImages

    @property
    def registry_port(self) -> int:
        return int(self.registry.rsplit(":", 1)[1])


def build(binaries: toolchain.Binaries, progress: Progress) -> NodeImages:
    address = registry.up(progress).address

    def static(repository: str, binary: Path) -> str:
        return images.static_image(
            repository, {f"/{binary.name}": binary}, [f"/{binary.name}"], "65532:65532", progress
        )

    progress("building the node images (pause, CoreDNS, metrics-server, local-path-provisioner) unless cached")
    return NodeImages(
        registry=address,
        pause=images.pause_image(progress),
        addons=AddonImages(
            coredns=static("fabrikam/coredns", binaries.coredns),
            metrics_server=static("fabrikam/metrics-server", binaries.metrics_server),
            local_path_provisioner=static("fabrikam/local-path-provisioner", binaries.local_path_provisioner),
            volume_helper=images.base_image(progress),
        ),
    )
