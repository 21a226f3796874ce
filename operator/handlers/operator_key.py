"""The operator's own secret key, from a file: what the in-cluster Redis's passwords are derived from.

A file rather than a Secret the operator reads: its role never gets `get` on Secrets. The chart creates the Secret
once (kept across upgrades and uninstalls, so passwords stay stable) and mounts it; a process run outside the
cluster keeps its key under its state directory, created on first use.
"""

import os
import secrets
from functools import cache
from pathlib import Path

MIN_KEY_BYTES = 32


def default_path() -> Path:
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "fabrikam" / "operator.key"


@cache
def load(path: str | None) -> bytes:
    """The key in `path` (which must exist), or in the default path, created there with 256 random bits."""
    file = Path(path) if path else default_path()
    if path is None and not file.exists():
        file.parent.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another operator process created it first
        else:
            with os.fdopen(descriptor, "w") as out:
                out.write(secrets.token_urlsafe(MIN_KEY_BYTES) + "\n")
    key = file.read_bytes().strip()
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"the operator key in {file} is {len(key)} bytes; it needs at least {MIN_KEY_BYTES}")
    return key
