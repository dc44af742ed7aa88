"""The bulk selection: a set of ticket ids that survives filtering, sorting and a sync.

"Mark all that match" must not mean 100,000 ids in memory, so a selection is

    marked = include ∪ (matching(base) − exclude)

where ``base`` is the filter that was in force when the liaison marked everything (or None),
``exclude`` the ids unmarked since, and ``include`` ids marked one by one outside ``base``.
Invariants (kept by every operation): ``include ∩ matching(base) = ∅`` and
``exclude ⊆ matching(base)``, so the count is ``count(base) − |exclude| + |include|``.

Immutable values: every operation returns a new :class:`Marks`, so a worker can hold one
while the UI moves on. Operations that must look at the database take the replica's query
functions as arguments; the UI runs them in a worker thread.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace

from local_db.api import TicketQuery


@dataclass(frozen=True, slots=True)
class Marks:
    base: TicketQuery | None = None
    exclude: frozenset[str] = field(default_factory=frozenset)
    include: frozenset[str] = field(default_factory=frozenset)
    #: ``count(base)`` when ``base`` was set, so the label needs no query.
    base_count: int = 0

    @property
    def empty(self) -> bool:
        return self.base is None and not self.include

    @property
    def count(self) -> int:
        base = self.base_count - len(self.exclude) if self.base is not None else 0
        return base + len(self.include)

    @property
    def by_filter(self) -> bool:
        return self.base is not None

    def is_marked(self, ticket_id: str, *, in_base: bool) -> bool:
        """``in_base``: does the ticket match ``base`` (the caller knows for rows it shows)."""
        if ticket_id in self.include:
            return True
        return self.base is not None and in_base and ticket_id not in self.exclude

    def toggle(self, ticket_id: str, *, in_base: bool) -> Marks:
        if self.is_marked(ticket_id, in_base=in_base):
            if ticket_id in self.include:
                return replace(self, include=self.include - {ticket_id})
            return replace(self, exclude=self.exclude | {ticket_id})
        if ticket_id in self.exclude:
            return replace(self, exclude=self.exclude - {ticket_id})
        return replace(self, include=self.include | {ticket_id})

    def mark(self, ticket_ids: Iterable[str], *, in_base: Callable[[str], bool]) -> Marks:
        """Mark every id (a range): those already marked stay marked."""
        marks = self
        for ticket_id in ticket_ids:
            if not marks.is_marked(ticket_id, in_base=in_base(ticket_id)):
                marks = marks.toggle(ticket_id, in_base=in_base(ticket_id))
        return marks

    @staticmethod
    def all_matching(query: TicketQuery, count: int) -> Marks:
        """Everything the filter matches: stored as the filter, whatever the count."""
        return Marks(base=query, base_count=count)

    def invert(
        self, query: TicketQuery, count: int, matching: Callable[[TicketQuery], Iterator[str]]
    ) -> Marks:
        """Within what ``query`` matches, mark what was unmarked and unmark what was marked.

        Marks outside ``query`` are dropped (the liaison inverts what they see). ``matching``
        lists the ids of a query; it is only walked when the result must be explicit ids.
        """
        if self.base == query:
            # matching(q) − (matching(q) − exclude) − include == exclude (include ∩ matching(q) = ∅)
            return Marks(include=self.exclude)
        if self.base is None:
            inside = set(self.include)
            hits = frozenset(i for i in matching(query) if i in inside) if inside else frozenset()
            return Marks(base=query, exclude=hits, base_count=count)
        marked = set(self.ids(matching))
        return Marks(include=frozenset(i for i in matching(query) if i not in marked))

    def ids(self, matching: Callable[[TicketQuery], Iterator[str]]) -> Iterator[str]:
        """Every marked id, each once (the bulk action's list)."""
        yield from self.include
        if self.base is not None:
            for ticket_id in matching(self.base):
                if ticket_id not in self.exclude and ticket_id not in self.include:
                    yield ticket_id
