"""三率: the monthly figures of every unit, computed from the stored tickets.

For unit U and month M, over the tickets U holds now (a reassigned ticket counts for the unit
that has it):

- ``assigned``: assigned in M; ``signed_on_time``: of those, signed for by the sign-for deadline;
- ``due``: handling deadline in M and either passed or already resolved;
  ``resolved``: of those, resolved (a reworked ticket is open again);
  ``resolved_on_time``: resolved by the deadline;
- ``evaluated``: of the due, those with a citizen verdict; ``satisfied``: satisfied or
  basically satisfied;
- ``returns``: return requests U made in M; ``reworks``: due tickets reopened at least once.

Rates: response = signed_on_time ÷ assigned, resolution = resolved ÷ due, on-time =
resolved_on_time ÷ due, satisfaction = satisfied ÷ evaluated, return = returns ÷ assigned,
rework = reworks ÷ due — each None ("—") when its denominator is 0, never 100%.
Rank: among units of the same kind, by the mean of the response, resolution and
satisfaction rates they have (best first); a unit with none of them is not ranked.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from central.storage import tables as t
from schemas.wire import UnitMetrics

SATISFIED = ("satisfied", "basically_satisfied")


def month_bounds(month: str) -> tuple[str, str]:
    """``("2025-03-01", "2025-04-01")`` for ``"2025-03"``; raises ValueError when malformed."""
    year, mon = (int(part) for part in month.split("-"))
    start = dt.date(year, mon, 1)
    end = dt.date(year + (mon == 12), mon % 12 + 1, 1)
    return start.isoformat(), end.isoformat()


def _rate(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def compute(conn: Connection, month: str, today: dt.date) -> list[UnitMetrics]:
    """Every unit's figures for ``month``, ranked among peers."""
    figures = figures_for(conn, month, today)
    return rank(figures, {u.id: u.kind for u in conn.execute(sa.select(t.units.c.id, t.units.c.kind))})


def figures_for(
    conn: Connection, month: str, today: dt.date, unit_id: str | None = None
) -> list[UnitMetrics]:
    """The figures (unranked) of every unit, or of ``unit_id`` only."""
    start, end = month_bounds(month)
    c = t.tickets.c
    assigned = sa.and_(c.assigned_on >= start, c.assigned_on < end)
    due = sa.and_(c.handle_due >= start, c.handle_due < end,
                  sa.or_(c.handle_due < today.isoformat(), c.resolved_on.is_not(None)))  # fmt: skip

    def count(*when) -> sa.ColumnElement:
        return sa.func.sum(sa.case((sa.and_(*when), 1), else_=0))

    # Counted by the database, from the narrow covering index only (SQLite must be told).
    query = (
        sa.select(
            c.unit_id,
            count(assigned).label("assigned"),
            count(assigned, c.accepted_on <= c.sign_due).label("signed_on_time"),
            count(due).label("due"),
            count(due, c.resolved_on.is_not(None)).label("resolved"),
            count(due, c.resolved_on <= c.handle_due).label("resolved_on_time"),
            count(due, c.satisfaction.is_not(None)).label("evaluated"),
            count(due, c.satisfaction.in_(sorted(SATISFIED))).label("satisfied"),
            count(due, c.reworks > 0).label("reworks"),
        )
        .with_hint(t.tickets, "INDEXED BY ix_tickets_unit_metrics", "sqlite")
        .where(c.unit_id.is_not(None) if unit_id is None else c.unit_id == unit_id)
        .where(sa.or_(assigned, sa.and_(c.handle_due >= start, c.handle_due < end)))
        .group_by(c.unit_id)
    )
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in conn.execute(query):
        counts[row.unit_id].update({k: int(v or 0) for k, v in row._mapping.items() if k != "unit_id"})
    e = t.events.c
    # The literal lets the planner use the partial index of return requests.
    returns = sa.select(e.unit_id, sa.func.count()).where(
        e.action == sa.literal_column("'request_return'"), e.at >= start, e.at < end
    )
    if unit_id is not None:
        returns = returns.where(e.unit_id == unit_id)
    for unit, number in conn.execute(returns.group_by(e.unit_id)):
        if unit:
            counts[unit]["returns"] += number

    units = sa.select(t.units.c.id, t.units.c.name).order_by(t.units.c.id)
    if unit_id is not None:
        units = units.where(t.units.c.id == unit_id)
    out: list[UnitMetrics] = []
    for unit in conn.execute(units):
        n = counts.get(unit.id, {})
        g = lambda key, n=n: n.get(key, 0)  # noqa: E731
        out.append(
            UnitMetrics(
                unit_id=unit.id,
                unit_name=unit.name,
                month=month,
                assigned=g("assigned"),
                signed_on_time=g("signed_on_time"),
                due=g("due"),
                resolved=g("resolved"),
                resolved_on_time=g("resolved_on_time"),
                evaluated=g("evaluated"),
                satisfied=g("satisfied"),
                returns=g("returns"),
                reworks=g("reworks"),
                response_rate=_rate(g("signed_on_time"), g("assigned")),
                resolution_rate=_rate(g("resolved"), g("due")),
                on_time_rate=_rate(g("resolved_on_time"), g("due")),
                satisfaction_rate=_rate(g("satisfied"), g("evaluated")),
                return_rate=_rate(g("returns"), g("assigned")),
                rework_rate=_rate(g("reworks"), g("due")),
            )
        )
    return out


def rank_among(own: UnitMetrics, kind: str, peers: list[UnitMetrics], kinds: dict[str, str]) -> UnitMetrics:
    """``own`` (fresh) ranked among ``peers`` (possibly older figures of every unit)."""
    others = [m for m in peers if m.unit_id != own.unit_id]
    ranked = rank([own, *others], {**kinds, own.unit_id: kind})
    return ranked[0]


def score(m: UnitMetrics) -> float | None:
    rates = [r for r in (m.response_rate, m.resolution_rate, m.satisfaction_rate) if r is not None]
    return sum(rates) / len(rates) if rates else None


def rank(figures: list[UnitMetrics], kinds: dict[str, str]) -> list[UnitMetrics]:
    """Set ``rank``/``peers`` within each kind: best mean rate first, ties by unit id."""
    by_kind: dict[str, list[UnitMetrics]] = defaultdict(list)
    for m in figures:
        if score(m) is not None:
            by_kind[kinds.get(m.unit_id, "")].append(m)
    ranks: dict[str, tuple[int, int]] = {}
    for group in by_kind.values():
        group.sort(key=lambda m: (-score(m), m.unit_id))
        for position, m in enumerate(group, start=1):
            ranks[m.unit_id] = (position, len(group))
    return [
        m.model_copy(update={"rank": ranks[m.unit_id][0], "peers": ranks[m.unit_id][1]})
        if m.unit_id in ranks
        else m
        for m in figures
    ]


def fmt_rate(rate: float | None) -> str:
    """A rate as a person reads it: ``87.5%``, or ``—`` when nothing was due."""
    return "—" if rate is None else f"{rate * 100:.1f}%"
