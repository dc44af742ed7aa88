"""fycli's benchmark suite: one command, every budget of SPEC §7, a table of medians.

    python -m bench.run                      # the whole suite (~10-15 min on 2 cores)
    python -m bench.run --quick              # ~1-minute smoke version (small N, one run each)
    python -m bench.run --only first_pull --only bulk --json out.json

Benchmarks (run in this order; each builds only the set-up it needs):

============  ==============================================================================
first_pull    100,000 tickets into a new replica vs the raw limit (decode + bulk insert) of
              the same run; bytes per ticket, requests per 1,000 tickets, client peak memory
incremental   a sync after 1% changed centrally; a sync with nothing changed (requests, bytes)
bulk          bulk close of 10,000 marked tickets locally, and their push
tui           the terminal app on the 100,000-ticket replica (bench/bench_tui.py)
links         a sync of 20 changed tickets on 2G, 3G, a flaky link, and 2G over a netns tbf link
pg_load       the central service on PostgreSQL: N concurrent liaisons over several servers
============  ==============================================================================

The table goes to stdout (also Markdown), progress to stderr. The exit status is 0 when every
benchmark ran (a missed budget is reported, not an error), 1 when one failed to run.
``docs/performance.md`` explains each figure and its budget.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from bench.context import Context, Settings
from bench.harness import Figure, Workdir, log, render_table

BENCHMARKS: dict[str, str] = {
    "first_pull": "bench.first_pull",
    "incremental": "bench.incremental",
    "bulk": "bench.bulk",
    "tui": "bench.tui",
    "links": "bench.links",
    "pg_load": "bench.pg_load",
}


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = f"{int(line.split()[1]) / 2**20:.1f} GiB"
                break
    except OSError:
        pass
    return {
        "cpus": str(os.cpu_count()),
        "cpu": cpu,
        "ram": ram,
        "python": platform.python_version(),
        "sqlite": __import__("sqlite3").sqlite_version,
        "os": platform.platform(),
    }


def _load(name: str) -> Callable[[Context], list[Figure]]:
    import importlib

    return importlib.import_module(BENCHMARKS[name]).run


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a ~1-minute smoke run (small N, one run each)")
    ap.add_argument("--only", action="append", choices=sorted(BENCHMARKS), help="run only this (repeatable)")
    ap.add_argument("--json", type=Path, help="also write the figures and the machine as JSON here")
    ap.add_argument("--tickets", type=int, help="size of the big unit (default 100,000; quick 3,000)")
    ap.add_argument("--runs", type=int, help="repetitions per timed figure (default 3; quick 1)")
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory (printed)")
    args = ap.parse_args(argv)

    settings = Settings.quick_settings(args.tickets or 3_000) if args.quick else Settings()
    if args.tickets and not args.quick:
        settings.tickets = args.tickets
        settings.bulk = min(settings.bulk, args.tickets // 4)
    if args.runs:
        settings.runs = args.runs
    settings.keep = args.keep
    names = args.only or list(BENCHMARKS)
    names = [n for n in BENCHMARKS if n in names]  # always in the documented order

    work = Workdir(keep=args.keep)
    ctx = Context(settings, work)
    figures: list[Figure] = []
    failed: dict[str, str] = {}
    started = time.monotonic()
    info = machine()
    log(f"{info['cpus']} × {info['cpu']}, {info['ram']}, Python {info['python']}; scratch {work.path}")
    try:
        for name in names:
            log(f"--- {name}")
            t0 = time.monotonic()
            try:
                got = _load(name)(ctx)
            except Exception as exc:  # one broken benchmark must not hide the others' figures
                traceback.print_exc(file=sys.stderr)
                last = str(exc).strip().splitlines()[-1:] or [""]
                failed[name] = f"{type(exc).__name__}: {last[0]}"
                figures.append(Figure(name, "FAILED TO RUN", None, "", note=failed[name][:150]))
                continue
            log(f"--- {name}: {time.monotonic() - t0:.0f} s")
            figures += got
    finally:
        ctx.close()
    total = time.monotonic() - started

    command = "python -m bench.run " + " ".join(argv if argv is not None else sys.argv[1:])
    print(f"fycli benchmarks — {command.strip()}")
    print(
        f"machine: {info['cpus']} CPUs ({info['cpu']}), {info['ram']} RAM, Python {info['python']}, "
        f"SQLite {info['sqlite']}"
    )
    print(f"settings: {settings}")
    print()
    print(render_table(figures))
    print()
    missed = [f for f in figures if f.ok is False]
    print(f"total {total:.0f} s; {len(missed)} budget(s) missed; {len(failed)} benchmark(s) failed to run")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "command": command.strip(),
                    "machine": info,
                    "settings": settings.__dict__,
                    "seconds": total,
                    "figures": [f.as_dict() for f in figures],
                    "failed": failed,
                },
                ensure_ascii=False,
                indent=2,
                default=str,
            )
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
