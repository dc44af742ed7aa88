"""One sync at a time per replica, across processes: the app's background sync, a cron job's
`fycli sync` and a script's `fycli push` cooperate through an OS lock on a file beside the
replica (``replica.db.sync-lock``).

Never a lock on the database file itself: POSIX record locks belong to the process, and closing
ANY descriptor of a file drops all of that process's locks on it, SQLite's included (issue 9,
defect 1). The lock file is a separate file that only this module opens. ``flock`` (POSIX) and
``msvcrt.locking`` (Windows) both lock per open file, so two threads of one process exclude
each other as two processes do; the OS drops the lock when its holder dies (a SIGKILLed sync
never leaves a stale lock behind).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

from sync.errors import SyncBusy

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]
try:  # Windows
    import msvcrt
except ImportError:
    msvcrt = None  # type: ignore[assignment]

#: How long a second sync waits for the first by default: a cron sync that starts while the
#: app's background sync finishes should not fail, one that starts during a long first pull should.
DEFAULT_WAIT = 5.0
#: How often a waiting sync tries the lock again (there is no portable event for "unlocked").
_POLL = 0.05


def lock_path(replica_path: str | os.PathLike) -> Path:
    """The lock file beside ``replica_path``."""
    path = Path(replica_path)
    return path.with_name(path.name + ".sync-lock")


def _try_lock(fd: int) -> bool:
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True
    try:  # pragma: no cover - Windows: lock the file's first byte
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except OSError:
        return False
    return True


def _unlock(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
    else:  # pragma: no cover - Windows
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)


@contextlib.contextmanager
def sync_lock(replica_path: str | os.PathLike, wait: float = DEFAULT_WAIT) -> Iterator[None]:
    """Hold this replica's sync lock for the block; raise :class:`SyncBusy` when another sync
    still holds it after ``wait`` seconds (polled every 50 ms, bounded by ``wait``)."""
    path = lock_path(replica_path)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + max(0.0, wait)
        while not _try_lock(fd):
            if time.monotonic() >= deadline:
                raise SyncBusy(
                    f"a sync is already running for {replica_path} (the app's, a scheduled one or a "
                    f"script's; waited {wait:g} s). Nothing was done here: that sync sends and "
                    "fetches the same work. Run this one again when it has finished."
                )
            time.sleep(_POLL)  # bounded by the deadline above; no event to wait on
        try:
            yield
        finally:
            _unlock(fd)
    finally:
        os.close(fd)
