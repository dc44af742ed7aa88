"""Bulk close: 10,000 marked tickets resolved locally in one action, then pushed.

Each run takes 10,000 tickets 办理中 (in progress) in the replica — when fewer are left, it first
signs for enough 待签收 ones and syncs (set-up, reported for information). Then, timed: ``resolve`` of the
10,000 ids with one reply (budget < 1 s), and the push of the 10,000 queued actions
(``sync(pull=False)``, budget < 15 s). A pull afterwards (untimed) brings the replica back in
step for the next run. Each run uses its own 10,000 tickets.
"""

from __future__ import annotations

import itertools

from bench.context import Context
from bench.fixtures import copy_replica
from bench.harness import Figure, log, median, timed

NAME = "bulk"
REPLY = "经核实，已协调相关部门处理完毕，并电话回复群众，群众表示认可。"


def run(ctx: Context) -> list[Figure]:
    from local_db.api import TicketQuery, View
    from local_db.replica import Replica
    from sync.client import SyncClient
    from sync.engine import sync

    s = ctx.settings
    central = ctx.central()
    unit = ctx.big_unit()
    db = copy_replica(ctx.synced(), ctx.work.sub(NAME) / "replica.db")
    k = s.bulk

    accept_local: list[float] = []
    accept_push: list[float] = []
    close_local: list[float] = []
    close_push: list[float] = []
    applied: list[int] = []
    replica = Replica.open(db)
    try:
        with SyncClient(central.url, unit.liaison_token, timeout=300) as client:
            for i in range(s.runs):
                ids = list(itertools.islice(replica.ids_matching(TicketQuery(view=View.IN_PROGRESS)), k))
                if len(ids) < k:
                    # Not enough 办理中 left: sign for some 待签收 ones first (set-up, timed apart).
                    more = list(
                        itertools.islice(replica.ids_matching(TicketQuery(view=View.ASSIGNED)), k - len(ids))
                    )
                    with timed() as t:
                        results = replica.accept(more)
                    accept_local.append(t())
                    _all_ok(results, "accept")
                    with timed() as t:
                        sync(replica, client)
                    accept_push.append(t())
                    ids += more
                if len(ids) < k:
                    raise RuntimeError(f"only {len(ids)} open tickets left for a bulk close of {k}")

                with timed() as t:
                    results = replica.resolve(ids, REPLY)
                close_local.append(t())
                _all_ok(results, "resolve")
                with timed() as t:
                    report = sync(replica, client, pull=False)
                close_push.append(t())
                applied.append(report.applied)
                if report.applied != k:
                    raise RuntimeError(
                        f"push of {k} resolves: {report.applied} applied, {report.rejected} rejected"
                    )
                sync(replica, client)  # back in step (untimed)
                log(
                    f"{NAME}: run {i + 1}: close {close_local[-1]:.2f} s locally, push {close_push[-1]:.2f} s"
                )
    finally:
        replica.close()

    r = s.runs
    extra = []
    if accept_local:
        extra = [
            Figure(NAME, "(set-up) bulk accept, local", median(accept_local), "s", runs=len(accept_local)),
            Figure(
                NAME,
                "(set-up) sync pushing the accepts + pull",
                median(accept_push),
                "s",
                runs=len(accept_push),
            ),
        ]
    return [
        Figure(
            NAME,
            f"bulk close of {k:,} marked tickets, local",
            median(close_local),
            "s",
            budget="< 1 s",
            limit=1.0,
            runs=r,
            samples=close_local,
        ),
        Figure(
            NAME,
            f"push of the {k:,} closes",
            median(close_push),
            "s",
            budget="< 15 s",
            limit=15.0,
            runs=r,
            samples=close_push,
            note=f"applied {min(applied)}/{k}",
        ),
    ] + extra


def _all_ok(results, what: str) -> None:
    bad = [r for r in results if not r.ok]
    if bad:
        raise RuntimeError(f"{len(bad)} local {what}s refused, e.g. {bad[0]}")
