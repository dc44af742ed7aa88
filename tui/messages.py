"""Messages the app's workers post back to the UI thread (the only way results travel)."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from local_db.api import LocalResult, TicketQuery, View
from tui.core.bulk import BulkPlan
from tui.core.marks import Marks
from tui.core.pager import Window
from tui.core.sync_runner import SyncOutcome


@dataclass
class WindowLoaded(Message):
    window: Window
    cursor: int  # list position to put the cursor on
    generation: int


@dataclass
class TotalCounted(Message):
    """How many rows the query has: counted after the rows are on screen (a count can cost more)."""

    total: int
    generation: int


@dataclass
class CountsLoaded(Message):
    counts: dict[View, int]


@dataclass
class ActionsDone(Message):
    """Local actions were made (each one local transaction); they now wait to be sent."""

    kind: str
    results: list[LocalResult]
    bulk: bool
    #: Marked tickets outside the view the action acted on: they stay marked.
    kept_marked: frozenset[str] = frozenset()


@dataclass
class MarkedInView(Message):
    """How many of ``marks`` the view ``query`` shows (the bulk keys' count)."""

    marks: Marks
    query: TicketQuery
    count: int


@dataclass
class BulkPlanned(Message):
    """What a bulk action would act on, worked out before anything is asked."""

    plan: BulkPlan


@dataclass
class SyncProgressed(Message):
    phase: str
    done: int
    total: int | None


@dataclass
class SyncFinished(Message):
    outcome: SyncOutcome
    manual: bool
