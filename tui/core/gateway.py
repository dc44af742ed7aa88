"""One thread owns the replica: the UI thread never touches SQLite.

A Textual thread worker calls :meth:`ReplicaGateway.call`, which runs the function on the
gateway's single database thread and waits for it. One connection, one thread: SQLite's
rules are kept without locks, and queries from several workers queue up instead of racing.
The sync engine opens its own connection in its own worker (it waits on the network;
queries must not wait behind it); SQLite's WAL lets both work at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from local_db.replica import Replica

P = ParamSpec("P")
T = TypeVar("T")


class ReplicaGateway:
    def __init__(self, opener: Callable[[], Replica]) -> None:
        self._opener = opener
        self._replica: Replica | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fycli-db")
        self._closed = threading.Event()

    def _replica_here(self) -> Replica:
        if self._replica is None:
            self._replica = self._opener()
        return self._replica

    def call(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        """``fn(replica, *args, **kwargs)`` on the database thread; blocks the calling thread."""
        if self._closed.is_set():
            raise RuntimeError("the replica is closed")
        return self._executor.submit(lambda: fn(self._replica_here(), *args, **kwargs)).result()

    def open(self) -> Replica:
        """Open now (so a broken file is reported at start, not at the first keypress)."""
        return self.call(lambda r: r)

    def close(self) -> None:
        if self._closed.is_set():
            return

        def _close() -> None:
            if self._replica is not None:
                self._replica.close()
                self._replica = None

        try:
            self._executor.submit(_close).result()
        finally:
            self._closed.set()
            self._executor.shutdown(wait=True)
