"""Quick figures for the replica on N realistic tickets (not a test; bench/ holds the real suite).

    python -m tests.local_db.measure [N [REPEAT]]

Prints: the first full pull (pages of 1,000 through ``apply_pull_page_raw``) beside the
baseline "orjson-decode the same bytes + insert (id, json) rows in one transaction", the
queue queries, search and count, and a bulk resolve of 10,000 tickets.
"""

from __future__ import annotations

import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import orjson

from local_db.api import SortKey, TicketQuery, View
from local_db.replica import Replica
from schemas.wire import Me
from tests.local_db.factory import fixed_clock, make_pages


def _best(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _baseline(blobs: list[bytes], path: Path) -> float:
    """Decode the same bytes and insert (id, json) rows in one transaction (WAL, like the replica)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("CREATE TABLE t (id TEXT PRIMARY KEY, json TEXT)")
    t0 = time.perf_counter()
    conn.execute("BEGIN")
    for blob in blobs:
        page = orjson.loads(blob)
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(t["id"], orjson.dumps(t)) for t in page["tickets"]])
    conn.execute("COMMIT")
    took = time.perf_counter() - t0
    conn.close()
    return took


def main(n: int = 100_000, repeat: int = 3) -> None:
    tmp = Path(tempfile.mkdtemp())
    blobs = [orjson.dumps(p) for p in make_pages(n)]
    print(
        f"loadavg {Path('/proc/loadavg').read_text().split()[0]}; {n} tickets, {len(blobs)} pages, {sum(map(len, blobs)) / 1e6:.1f} MB of JSON"
    )

    ratios = []
    for rep in range(repeat):
        baseline = _baseline(blobs, tmp / f"baseline{rep}.db")
        replica = Replica.open(tmp / f"replica{rep}.db", create=True, clock=fixed_clock)
        replica.set_identity(
            Me(liaison_id="L", name="联络员", unit_id="U1", unit_name="U", server_id="S"), "x"
        )
        t0 = time.perf_counter()
        for blob in blobs:
            replica.apply_pull_page_raw(orjson.loads(blob))
        pull = time.perf_counter() - t0
        ratios.append(pull / baseline)
        print(
            f"first pull: {pull:.2f} s; baseline decode+insert: {baseline:.2f} s; ratio {pull / baseline:.2f}"
        )
        if rep < repeat - 1:
            replica.close()
    print(f"median ratio of {repeat}: {statistics.median(ratios):.2f}")

    cases = {
        "counts_by_view": lambda: replica.counts_by_view(),
        "query all (deadline)": lambda: replica.query(TicketQuery()),
        "query overdue": lambda: replica.query(TicketQuery(view=View.OVERDUE)),
        "query due_soon": lambda: replica.query(TicketQuery(view=View.DUE_SOON)),
        "query assigned, updated": lambda: replica.query(
            TicketQuery(view=View.ASSIGNED, sort=SortKey.UPDATED)
        ),
        "query category+village": lambda: replica.query(TicketQuery(category="城市管理", village="王庄村")),
        # counts are remembered until the file changes: measure the first one
        "count all": lambda: (_forget(replica), replica.count(TicketQuery())),
        "count in_progress": lambda: (_forget(replica), replica.count(TicketQuery(view=View.IN_PROGRESS))),
        "count category": lambda: (_forget(replica), replica.count(TicketQuery(category="教育"))),
        "page 100 (keyset)": lambda: _page_deep(replica),
    }
    for name, fn in cases.items():
        print(f"{name:32s} {_best(fn) * 1000:7.1f} ms")
    t0 = time.perf_counter()
    replica.warm_search()
    print(f"{'warm_search (text into memory)':32s} {(time.perf_counter() - t0) * 1000:7.1f} ms")
    # Each search as a new keystroke: nothing remembered from the previous run of the same word.
    for word in ("路", "路灯", "噪音", "噪音扰民", "fy2500999", "不存在的词"):
        for label, fn in (
            ("page", lambda w=word: replica.query(TicketQuery(search=w), limit=81)),
            ("count", lambda w=word: replica.count(TicketQuery(search=w))),
            (
                "page+count",
                lambda w=word: (
                    replica.query(TicketQuery(search=w), limit=81),
                    replica.count(TicketQuery(search=w)),
                ),
            ),
            (
                "page in_progress",
                lambda w=word: replica.query(TicketQuery(view=View.IN_PROGRESS, search=w), limit=81),
            ),
        ):
            print(
                f"{f'search {word} {label}':32s} {_best(lambda f=fn: (_forget(replica), f())) * 1000:7.1f} ms"
            )
    ids = list(replica.ids_matching(TicketQuery(view=View.IN_PROGRESS)))[:7000]
    ids += list(replica.ids_matching(TicketQuery(view=View.ASSIGNED)))[:3000]
    t0 = time.perf_counter()
    results = replica.resolve(ids, "已联系反映人并处理完毕。")
    print(f"bulk resolve {len(ids)} ({sum(r.ok for r in results)} ok): {time.perf_counter() - t0:.2f} s")
    print(f"counts_by_view after: {_best(replica.counts_by_view) * 1000:.1f} ms")
    print(f"file size: {replica.path.stat().st_size / 1e6:.0f} MB")


def _forget(replica: Replica) -> None:
    """Drop the replica's remembered search hits and counts (a new keystroke has none)."""
    replica._text._cache.clear()
    replica._counted.clear()


def _page_deep(replica: Replica) -> None:
    after = None
    for _ in range(100):
        rows = replica.query(TicketQuery(), after=after)
        if not rows:
            return
        after = rows[-1].key


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
