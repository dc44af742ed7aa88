"""The long day, run by hand: ``python -m tests.multiproc.run_day --seconds 600``.

Prints the day's figures (claims, runs per command and exit code, kills, findings) as JSON and
exits 1 when there are findings. Its files stay in ``--dir`` (default: a new temp directory).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from tests.multiproc.app_driver import tmux_available
from tests.multiproc.day import run_day


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument(
        "--tickets", type=int, default=0, help="default: 5 per second of the day, at least 400"
    )
    parser.add_argument("--seed", type=int, default=20261202)
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--pilot", action="store_true", help="the app under Textual's pilot, not in tmux")
    args = parser.parse_args()
    if not args.pilot and not tmux_available():
        print("run_day: tmux is not installed (apt-get install tmux), or use --pilot", file=sys.stderr)
        return 2
    directory = args.dir or Path(tempfile.mkdtemp(prefix="fycli-day-"))
    tickets = args.tickets or max(400, int(args.seconds * 5))
    report = run_day(directory, seconds=args.seconds, tickets=tickets, seed=args.seed, tmux=not args.pilot)
    print(report.summary())
    print(f"files: {directory}", file=sys.stderr)
    return 1 if report.findings else 0


if __name__ == "__main__":
    sys.exit(main())
