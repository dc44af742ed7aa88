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


def admin_token_path() -> Path:
    """The one place the generated admin token is kept, and where ``fycli central`` looks:
    ``admin-token`` in the data dir (never beside the database, which may sit in /tmp)."""
    return data_dir() / "admin-token"


class SecretFileError(Exception):
    """A secret file cannot be used safely; the message says what to do."""


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)  # absent on Windows, where symlinks need privileges


def write_secret(path: Path, secret: str) -> None:
    """Write ``secret`` readable by the owner only (0600), never briefly world-readable.

    A symlink at ``path`` is refused (it could point anywhere: another user's file, a
    world-readable place). The secret goes to a new file (O_EXCL: never an existing one) that
    then replaces ``path``, so a reader sees the old secret or the new, never half of one.
    """
    if path.is_symlink():
        raise SecretFileError(f"{path} is a symbolic link; remove it and try again (a secret is "
                              "written only to a plain file)")  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fresh = path.with_name(f".{path.name}.{os.getpid()}.new")
    fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(secret + "\n")
        os.chmod(fresh, 0o600)  # whatever the umask
        os.replace(fresh, path)
    except BaseException:
        fresh.unlink(missing_ok=True)
        raise


def read_secret(path: Path) -> str:
    """The secret in ``path``, refusing a symlink and (on POSIX) a file group or others can read."""
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
    except FileNotFoundError:
        raise SecretFileError(f"{path} does not exist") from None
    except OSError as exc:
        if path.is_symlink():
            raise SecretFileError(f"{path} is a symbolic link; give the file itself") from None
        raise SecretFileError(f"cannot read {path} ({exc.strerror})") from None
    with os.fdopen(fd) as handle:
        mode = os.fstat(handle.fileno()).st_mode
        if os.name != "nt" and mode & 0o077:
            raise SecretFileError(f"{path} is readable by others (mode {mode & 0o777:o}); the token in "
                                  f"it may have leaked. Run: chmod 600 {path}")  # fmt: skip
        secret = handle.read().strip()
    if not secret:
        raise SecretFileError(f"{path} is empty; put the admin token in it")
    return secret


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
