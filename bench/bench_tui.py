"""Benchmark (not a test): the terminal app on a 100,000-ticket replica.

Measures, end to end through the real app (headless, 140×40), the medians of:

- first screen: from creating the app to the queue's first rows drawn;
- search: from a new search text to its rows drawn (Chinese two-character words);
- filter: from a new category/channel/complexity filter to its rows drawn;
- page down: from the key of a page-down that leaves the loaded window (a keyset query) to
  the new window's rows drawn.

"Drawn" is when the table's ``render_line`` produced a line of the new rows (see PaintProbe).

Budgets (SPEC §7): first screen < 1.5 s; search, filter, page down < 100 ms each.

    python -m bench.bench_tui [--tickets 100000] [--runs 5] [--db PATH]

The replica is built once (cached at --db, default /tmp/fycli-bench-tui-<n>.db).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from local_db.api import TicketQuery, View  # noqa: E402
from tests.local_db.factory import fixed_clock, make_replica  # noqa: E402

SIZE = (140, 40)
SEARCHES = ["路灯", "噪音", "电梯", "拖欠工资", "垃圾"]
FILTERS = [
    {"category": "城市管理"},
    {"category": "生态环境"},
    {"complexity": "urgent"},
    {"channel": "wechat"},
    {"category": "教育", "complexity": "general"},
]


def build(path: Path, n: int) -> None:
    if path.exists():
        return
    started = time.perf_counter()
    make_replica(path, n, seed=3).close()
    print(f"built a {n:,}-ticket replica in {time.perf_counter() - started:.1f} s at {path}", file=sys.stderr)


async def wait_until(pilot, condition, timeout: float = 30.0) -> None:
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            raise TimeoutError("the app did not get there")
        await asyncio.sleep(0.001)


class PaintProbe:
    """Records when the table last drew a row of a given window: "on screen" means drawn.

    Wraps ``TicketTable.render_line`` (the Line API call the compositor makes for each visible
    line), so a figure covers the key, the worker's query, the message back and the drawing.
    """

    def __init__(self, table_cls) -> None:
        self.painted: dict[int, float] = {}  # id(window) -> when its rows were drawn
        original = table_cls.render_line
        probe = self

        def render_line(table, y: int):
            strip = original(table, y)
            if y > 0 and table.window is not None:
                probe.painted.setdefault(id(table.window), time.perf_counter())
            return strip

        table_cls.render_line = render_line

    def drawn(self, table) -> bool:
        return table.window is not None and id(table.window) in self.painted


async def one_run(path: Path, results: dict[str, list[float]]) -> None:
    from textual import events

    from tui.app import FycliApp
    from tui.widgets.queue.ticket_table import TicketTable

    probe = PaintProbe(TicketTable)
    started = time.perf_counter()
    app = FycliApp(path, clock=fixed_clock, auto_sync=None, sync_on_start=False)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(
            pilot, lambda: app.screen.query(TicketTable) and probe.drawn(app.screen.query_one(TicketTable))
        )
        results["first screen"].append(time.perf_counter() - started)
        queue = app.screen
        table = queue.query_one(TicketTable)
        await pilot.press("8")  # the "all" view: 100,000 rows
        await wait_until(pilot, lambda: table.window is not None and table.window.query.view == View.ALL)
        await app.workers.wait_for_complete()

        def shown(q: TicketQuery) -> bool:
            return table.window is not None and table.window.query == q and probe.drawn(table)

        async def change(q: TicketQuery, label: str) -> None:
            t0 = time.perf_counter()
            queue._set_query(q)
            await wait_until(pilot, lambda: shown(q))
            results[label].append(probe.painted[id(table.window)] - t0)
            await app.workers.wait_for_complete()

        base = TicketQuery(view=View.ALL)
        for word in SEARCHES:
            await change(replace(base, search=word), "search")
        for f in FILTERS:
            await change(replace(base, **f), "filter")
        await change(base, "filter")
        # page down past the loaded window, several times
        for _ in range(6):
            await pilot.press("pagedown")
            await app.workers.wait_for_complete()
            await pilot.pause()
        for _ in range(5):
            window = table.window
            # the cursor on the window's last row, then page down: a new window is queried
            table.move_cursor(row=len(window.rows) - 1)
            await pilot.pause()
            t0 = time.perf_counter()
            app.post_message(events.Key("pagedown", None))  # as the terminal driver delivers a key
            await wait_until(pilot, lambda w=window: table.window is not w and probe.drawn(table))
            results["page down"].append(probe.painted[id(table.window)] - t0)
            await app.workers.wait_for_complete()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--db", type=Path, default=None)
    args = parser.parse_args()
    path = args.db or Path(f"/tmp/fycli-bench-tui-{args.tickets}.db")
    build(path, args.tickets)
    results: dict[str, list[float]] = {"first screen": [], "search": [], "filter": [], "page down": []}
    for _ in range(args.runs):
        asyncio.run(one_run(path, results))
    budgets = {"first screen": 1.5, "search": 0.1, "filter": 0.1, "page down": 0.1}
    print(f"terminal app on a {args.tickets:,}-ticket replica, {args.runs} runs (medians; p90 in brackets)")
    for name, values in results.items():
        values.sort()
        median = statistics.median(values)
        p90 = values[min(len(values) - 1, int(len(values) * 0.9))]
        ok = "ok" if median < budgets[name] else "OVER BUDGET"
        print(
            f"  {name:<13} {median * 1000:8.1f} ms  [{p90 * 1000:7.1f}]  budget {budgets[name] * 1000:.0f} ms  {ok}"
        )


if __name__ == "__main__":
    main()
