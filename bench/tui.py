"""The terminal app on the 100,000-ticket replica: first screen, search, filter, page down.

The measurement itself is ``bench/bench_tui.py`` (owned by the terminal app's authors, who
know its screens); this runs it in its own process on a copy of the replica the first pull
made, and turns its JSON into figures with the SPEC §7 budgets.
"""

from __future__ import annotations

import sys

from bench.context import Context
from bench.fixtures import copy_replica
from bench.harness import ROOT, Figure, run_json

NAME = "tui"
#: SPEC §7: first screen under 1.5 s; filter, search, page down each under 100 ms.
BUDGETS_MS = {"first_screen": 1500.0, "search": 100.0, "filter": 100.0, "page_down": 100.0}


def run(ctx: Context) -> list[Figure]:
    script = ROOT / "bench" / "bench_tui.py"
    if not script.exists():
        return [Figure(NAME, "terminal app", None, "", note="bench/bench_tui.py not there yet")]
    db = copy_replica(ctx.synced(), ctx.work.sub(NAME) / "replica.db")
    argv = [
        sys.executable,
        "-m",
        "bench.bench_tui",
        "--db",
        str(db),
        "--runs",
        str(max(3, ctx.settings.runs)),
        "--json",
    ]
    out = run_json(argv, timeout=600)
    figures = []
    for key, value in out.get("figures_ms", out).items():
        if not isinstance(value, int | float):
            continue
        budget = BUDGETS_MS.get(key)
        figures.append(
            Figure(
                NAME,
                key.replace("_", " "),
                value,
                "ms",
                budget=f"< {budget:.0f} ms" if budget else "",
                limit=budget,
                runs=int(out.get("runs", 1)),
            )
        )
    return figures
