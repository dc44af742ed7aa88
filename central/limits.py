"""Per-liaison rate limits that hold across every server process of a deployment.

A token bucket per liaison and budget (``pull``: pulls and ticket reads, the expensive side;
``push``), kept in the database itself (``tables.rate_buckets``) so all ``fycli serve``
processes on one PostgreSQL — or on one SQLite file — share it. Taking a token is one
conditional ``UPDATE`` (refill by the time elapsed, capped at the burst, minus one) in its own
short transaction; a refused request is answered 429 with ``Retry-After``. The admin API is
not limited. Time is the server's wall clock; processes of one deployment keep their clocks in
step (NTP), and a clock that went backwards refills nothing rather than draining the bucket.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from central.storage import tables as t

#: ``FYCLI_RATE_PULL`` / ``FYCLI_RATE_PUSH``: ``BURST/PER_SECOND`` (e.g. ``300/5``) or ``off``.
ENV = {"pull": "FYCLI_RATE_PULL", "push": "FYCLI_RATE_PUSH"}


@dataclass(frozen=True)
class Budget:
    """At most ``burst`` requests at once, refilled at ``per_second``."""

    burst: float
    per_second: float

    @classmethod
    def parse(cls, text: str, name: str) -> Budget | None:
        """``"300/5"`` → Budget(300, 5); ``"off"`` → None; raises ValueError saying what to write."""
        if text.strip().lower() == "off":
            return None
        burst, slash, rate = text.partition("/")
        try:
            budget = cls(float(burst), float(rate))
        except ValueError:
            budget = None
        if not slash or budget is None or not (budget.burst >= 1 and budget.per_second > 0):
            raise ValueError(f"{name}={text!r}: write BURST/PER_SECOND (e.g. 300/5, burst >= 1) or off")
        if not (math.isfinite(budget.burst) and math.isfinite(budget.per_second)):
            raise ValueError(f"{name}={text!r}: the numbers must be finite")
        return budget


@dataclass(frozen=True)
class RateLimits:
    """The budgets of ``fycli serve``. Defaults: a first pull of 100,000 tickets (100 pages of
    1,000) and a bulk close of 10,000 (20 pushes) pass at once; a flood is held to a few
    requests a second."""

    pull: Budget | None = Budget(300, 5)
    push: Budget | None = Budget(120, 2)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> RateLimits:
        defaults = cls()
        found = {}
        for budget, name in ENV.items():
            text = environ.get(name)
            found[budget] = getattr(defaults, budget) if text is None else Budget.parse(text, name)
        return cls(**found)


def take(conn: Connection, key: str, budget: Budget, now: float) -> float | None:
    """Take one token of ``key``'s bucket; None when granted, else the seconds until one is."""
    b = t.rate_buckets.c
    elapsed = sa.case((sa.literal(now) > b.at, sa.literal(now) - b.at), else_=0.0)
    refilled = b.tokens + elapsed * budget.per_second
    level = sa.case((refilled > budget.burst, sa.literal(budget.burst)), else_=refilled)
    spend = (
        t.rate_buckets.update()
        .where(b.key == key, level >= 1)
        .values(tokens=level - 1, at=sa.case((sa.literal(now) > b.at, sa.literal(now)), else_=b.at))
    )
    for _ in range(2):
        if conn.execute(spend).rowcount:
            return None
        current = conn.execute(sa.select(level).where(b.key == key)).scalar()
        if current is None:  # the liaison's first request: a full bucket, one taken
            conn.execute(t.rate_buckets.insert().values(key=key, tokens=budget.burst - 1, at=now))
            return None
        if current < 1:
            return (1 - current) / budget.per_second
        # Another process created the bucket between the two statements: spend from it.
    return None  # a bucket with tokens left that refuses twice: never refuse on a race


def retry_after(wait: float) -> int:
    """Whole seconds for ``Retry-After`` (at least 1)."""
    return max(1, math.ceil(wait))


class Limiter:
    """Takes tokens for a service (``run``: a write-transaction runner, e.g. ``Service.write``)."""

    def __init__(self, limits: RateLimits, run: Callable, *, clock: Callable[[], float] = time.time) -> None:
        self.limits, self.run, self.clock = limits, run, clock

    def wait_for(self, budget_name: str, liaison_id: str) -> float | None:
        """None when the liaison may go on, else how long to wait (nothing is taken then)."""
        budget = getattr(self.limits, budget_name)
        if budget is None:
            return None
        key = f"{budget_name}:{liaison_id}"

        def work(conn: Connection) -> float | None:
            if conn.dialect.name == "postgresql":  # a bucket lost in a crash costs nothing
                conn.execute(sa.text("SET LOCAL synchronous_commit = off"))
            return take(conn, key, budget, self.clock())

        return self.run(work)
