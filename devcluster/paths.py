"""Where the control plane keeps its binaries (per machine) and its running state (per cluster)."""

import os
from pathlib import Path


def cache_dir() -> Path:
    """Binaries are cached by version outside the repository so they are built once per machine."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "fabrikam"
    return Path(os.environ.get("FABRIKAM_CACHE_DIR", default))


def state_dir() -> Path:
    """The running cluster's certificates, data, logs and pids; removed by `fabrikam cluster down`."""
    default = Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state")) / "fabrikam" / "cluster"
    return Path(os.environ.get("FABRIKAM_CLUSTER_DIR", default))


def repository_root() -> Path:
    """The checkout holding `toolchain/`; found from this file (editable install) or the working directory."""
    for candidate in (Path(__file__).resolve().parent.parent, Path.cwd()):
        if (candidate / "toolchain").is_dir():
            return candidate
    raise FileNotFoundError("toolchain/ not found: run from a checkout of the repository")
