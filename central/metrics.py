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
    start, end = month_bounds(month)
    today_s = today.isoformat()
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    c = t.tickets.c
    query = sa.select(
        c.unit_id, c.assigned_on, c.accepted_on, c.sign_due, c.handle_due, c.resolved_on,
        c.satisfaction, c.reworks,
    ).where(
        c.unit_id.is_not(None),
        sa.or_(
            sa.and_(c.assigned_on >= start, c.assigned_on < end),
            sa.and_(c.handle_due >= start, c.handle_due < end),
        ),
    )  # fmt: skip
    for row in conn.execute(query):
        n = counts[row.unit_id]
        if row.assigned_on and start <= row.assigned_on < end:
            n["assigned"] += 1
            if row.accepted_on and row.sign_due and row.accepted_on <= row.sign_due:
                n["signed_on_time"] += 1
        if row.handle_due and start <= row.handle_due < end and (row.handle_due < today_s or row.resolved_on):
            n["due"] += 1
            if row.resolved_on:
                n["resolved"] += 1
                if row.resolved_on <= row.handle_due:
                    n["resolved_on_time"] += 1
            if row.satisfaction:
                n["evaluated"] += 1
                if row.satisfaction in SATISFIED:
                    n["satisfied"] += 1
            if row.reworks:
                n["reworks"] += 1
    returns = sa.select(t.events.c.unit_id, sa.func.count()).where(
        t.events.c.action == "request_return", t.events.c.at >= start, t.events.c.at < end
    )
    for unit_id, count in conn.execute(returns.group_by(t.events.c.unit_id)):
        if unit_id:
            counts[unit_id]["returns"] += count

    out: list[UnitMetrics] = []
    for unit in conn.execute(sa.select(t.units.c.id, t.units.c.name, t.units.c.kind).order_by(t.units.c.id)):
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
    return rank(out, {u.id: u.kind for u in conn.execute(sa.select(t.units.c.id, t.units.c.kind))})


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
