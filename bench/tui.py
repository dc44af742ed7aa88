"""The terminal app on the 100,000-ticket replica: first screen, search, filter, page down.

The measurement itself is ``bench/bench_tui.py`` (owned by the terminal app's authors, who
know its screens); this runs it in its own process on a copy of the replica the first pull
made, and turns its JSON into figures with the SPEC §7 budgets.
"""

from __future__ import annotations

import re
import subprocess
import sys

from bench.context import Context
from bench.fixtures import copy_replica
from bench.harness import ROOT, Figure

NAME = "tui"
#: SPEC §7: first screen under 1.5 s; filter, search, page down each under 100 ms.
BUDGETS_MS = {"first_screen": 1500.0, "search": 100.0, "filter": 100.0, "page_down": 100.0}


def run(ctx: Context) -> list[Figure]:
    script = ROOT / "bench" / "bench_tui.py"
    if not script.exists():
        return [Figure(NAME, "terminal app", None, "", note="bench/bench_tui.py not there yet")]
    db = copy_replica(ctx.synced(), ctx.work.sub(NAME) / "replica.db")
    runs = max(1, ctx.settings.runs)
    argv = [sys.executable, "-m", "bench.bench_tui", "--db", str(db), "--runs", str(runs)]
    res = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=900)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {res.returncode}:\n{res.stderr[-3000:]}")
    figures = []
    # Its lines read "  first screen    812.3 ms  [  901.2]  budget 1500 ms  ok".
    for m in re.finditer(r"^\s+([a-z ]+?)\s+([\d.]+) ms\s+\[\s*([\d.]+)\]", res.stdout, re.M):
        key, value, p90 = m.group(1), float(m.group(2)), float(m.group(3))
        budget = BUDGETS_MS.get(key.replace(" ", "_"))
        figures.append(
            Figure(
                NAME,
                f"{key} ({ctx.big_unit().tickets:,} tickets)",
                value,
                "ms",
                budget=f"< {budget:.0f} ms" if budget else "",
                limit=budget,
                runs=runs,
                note=f"p90 {p90:.0f} ms",
            )
        )
    if not figures:
        raise RuntimeError(f"no figures in bench_tui's output:\n{res.stdout[-2000:]}")
    return figures
