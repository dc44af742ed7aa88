"""The liaison's replica: a local SQLite copy of the unit's tickets, worked fully offline.

Implementation of the operations listed on :class:`Replica`. See local_db/api.py for the types.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from local_db.api import (
    Conflict,
    LocalResult,
    OutboxEntry,
    SyncState,
    TicketDetail,
    TicketQuery,
    TicketRow,
    View,
)
from schemas.calendar import WorkCalendar
from schemas.wire import ActionResult, Me, PullResponse, UnitMetrics


class Replica:
    """One replica file. Every liaison action is one local transaction and is queued."""

    @classmethod
    def open(cls, path: Path | str, *, create: bool = False, clock: Callable | None = None) -> Replica:
        """Open (or with ``create`` make) a replica. Raises ReplicaError for an unusable file."""
        raise NotImplementedError

    def close(self) -> None: ...

    # -- identity and sync state --------------------------------------------------------
    def state(self) -> SyncState: ...
    def set_identity(self, me: Me, server_url: str) -> None: ...
    def record_sync(self, *, ok: bool, error: str | None = None) -> None: ...

    # -- the liaison's actions: each one local transaction, queued in the outbox ----------
    def accept(self, ticket_ids: list[str]) -> list[LocalResult]: ...
    def add_note(self, ticket_id: str, text: str, kind: str = "note") -> LocalResult: ...
    def resolve(self, ticket_ids: list[str], reply: str) -> list[LocalResult]: ...
    def request_return(self, ticket_id: str, reason: str) -> LocalResult: ...
    def request_extension(self, ticket_id: str, days: int, reason: str) -> LocalResult: ...
    def undo(self, action_id: str) -> bool:
        """Remove an unsent action and recompute the ticket's view. False if already sent."""
        ...

    # -- queries (keyset-paged; milliseconds on 100,000 tickets) -------------------------
    def query(self, q: TicketQuery, *, after: tuple | None = None, limit: int = 50) -> list[TicketRow]: ...
    def count(self, q: TicketQuery) -> int: ...
    def counts_by_view(self) -> dict[View, int]: ...
    def ids_matching(self, q: TicketQuery) -> Iterator[str]: ...
    def detail(self, ticket_id: str) -> TicketDetail | None: ...

    # -- the outbox, for the sync engine --------------------------------------------------
    def outbox(self, limit: int = 500) -> list[OutboxEntry]: ...
    def pending_count(self) -> int: ...
    def apply_push_results(self, results: list[ActionResult]) -> None:
        """Drop decided actions from the outbox; refused ones go to the conflict inbox."""
        ...

    # -- pulled pages ---------------------------------------------------------------------
    def apply_pull_page(self, page: PullResponse) -> None:
        """Store one page and its cursor in one transaction; recompute affected views."""
        ...

    def reset_pulled_state(self) -> None:
        """Forget everything pulled (cursor too) but keep the outbox and the conflict inbox."""
        ...

    # -- the conflict inbox ---------------------------------------------------------------
    def conflicts(self, *, open_only: bool = True) -> list[Conflict]: ...
    def resolve_conflict(self, action_id: str, how: str) -> LocalResult:
        """``how``: "reapply" (queue it again, based on the current state), "note" (keep the
        text as a note), or "drop"."""
        ...

    # -- calendar and metrics (offline) ---------------------------------------------------
    def calendar(self) -> WorkCalendar: ...
    def metrics(self) -> list[UnitMetrics]: ...
