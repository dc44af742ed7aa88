"""Where the central service keeps its data, and how its admin token is stored."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PORT = 8765
DEFAULT_SERVER = f"http://127.0.0.1:{DEFAULT_PORT}"


def data_dir() -> Path:
    """``$FYCLI_DATA_DIR``, else ``$XDG_DATA_HOME/fycli``, else ``~/.local/share/fycli``."""
    if env := os.environ.get("FYCLI_DATA_DIR"):
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base).expanduser() / "fycli"


def default_db_url() -> str:
    return "sqlite:///" + str((data_dir() / "central.db").resolve())


def token_file_for(sqlite_path: Path | None) -> Path:
    """The admin token lives next to a SQLite database, else in the data dir."""
    return (sqlite_path.parent if sqlite_path else data_dir()) / "admin-token"


def write_secret(path: Path, secret: str) -> None:
    """Write ``secret`` readable by the owner only (0600), never briefly world-readable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret + "\n")
    os.chmod(path, 0o600)


@dataclass(frozen=True)
class ConnectionLimits:
    """The embedded server's per-connection limits (``fycli serve --help``; central/connections.py).

    Defaults follow Apache mod_reqtimeout's (headers 20 s, body 20 s + 1 s per 500 bytes):
    generous for a 2G link (about 30 KB/s, 300 ms RTT) yet no socket is held by a client that
    trickles a byte every few seconds. 32 KiB of headers is 30 times what fycli sends.
    """

    idle_timeout: float = 5.0
    header_timeout: float = 20.0
    body_timeout: float = 20.0
    body_min_rate: int = 500
    max_header_bytes: int = 32 * 1024
    max_connections: int = 1000
