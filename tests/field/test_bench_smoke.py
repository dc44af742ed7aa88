"""The benchmark suite runs end to end: ``python -m bench.run --quick`` on a small unit.

No timing assertion: this proves the one documented command works and prints its table.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_quick_runs_and_prints_the_table(tmp_path: Path) -> None:
    out_json = tmp_path / "bench.json"
    # The PostgreSQL load and the terminal app have their own tests; the smoke run covers the
    # suite's own machinery on everything that needs only SQLite and loopback.
    only = ["first_pull", "incremental", "bulk", "links"]
    argv = [sys.executable, "-m", "bench.run", "--quick", "--tickets", "600", "--json", str(out_json)]
    for name in only:
        argv += ["--only", name]
    res = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=180, env={**os.environ})
    assert res.returncode == 0, res.stderr[-4000:]
    assert "| bench" in res.stdout and "| first_pull" in res.stdout, res.stdout
    for name in only:
        assert f"| {name}" in res.stdout, name
    assert "FAILED TO RUN" not in res.stdout
    assert out_json.exists()
