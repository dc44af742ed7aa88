"""What every benchmark shares: the figures it reports, statistics, and the processes it runs.

A benchmark is a function ``run(ctx: Context) -> list[Figure]`` (see :mod:`bench.run`). It
measures with real parts only — a real ``fycli serve`` on loopback, real SQLite files, the real
sync engine over HTTP — and reports each figure with its budget, so the table says at a glance
what holds and what does not.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
FYCLI = [sys.executable, "-m", "fycli"]


# ------------------------------------------------------------------ figures and statistics


@dataclass
class Figure:
    """One line of the table.

    ``value`` is the median over ``runs`` runs (or a single measurement when runs == 1);
    ``limit`` is an upper bound the budget allows (``ok`` = value <= limit) unless ``ok`` is set
    explicitly. ``budget`` is the budget as a person reads it ("≤ 2× limit", "< 1 s").
    """

    bench: str
    name: str
    value: float | None
    unit: str
    budget: str = ""
    limit: float | None = None
    ok: bool | None = None
    runs: int = 1
    note: str = ""
    samples: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.ok is None and self.limit is not None and self.value is not None:
            self.ok = self.value <= self.limit

    @property
    def verdict(self) -> str:
        if self.ok is None:
            return "—" if not self.budget else "?"
        return "ok" if self.ok else "MISSED"

    def as_dict(self) -> dict:
        data = asdict(self)
        data["verdict"] = self.verdict
        return data


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100), nearest-rank: an observed value, never an interpolation."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-p * len(ordered) // 100))))
    return float(ordered[rank - 1])


def fmt_value(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if float(value).is_integer() and unit in ("", "B", "ms", "req/s", "/s"):
        text = f"{value:,.0f}"
    elif unit in ("", "×") or abs(value) >= 100:
        text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.3g}"
    return f"{text} {unit}".strip()


def _one_line(text: str, width: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def render_table(figures: Sequence[Figure]) -> str:
    """A plain-text table (also valid Markdown) of the figures."""
    head = ["bench", "figure", "median", "budget", "verdict", "runs", "note"]
    rows = [
        [
            f.bench,
            f.name,
            fmt_value(f.value, f.unit),
            f.budget or "—",
            f.verdict,
            str(f.runs),
            _one_line(f.note),
        ]
        for f in figures
    ]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    out = [line(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in rows]
    return "\n".join(out)


def log(message: str) -> None:
    """Progress goes to stderr: stdout carries only the table."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def timed() -> Iterator[Callable[[], float]]:
    """``with timed() as t: ...`` then ``t()`` is the elapsed seconds (frozen at block exit)."""
    start = time.perf_counter()
    end: list[float] = []
    yield lambda: (end[0] if end else time.perf_counter()) - start
    end.append(time.perf_counter())


# ------------------------------------------------------------------ processes and ports


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_http_ready(url: str, deadline_s: float, proc: subprocess.Popen | None = None) -> None:
    """Readiness poll of ``GET url`` until 200, the process dies, or the deadline passes."""
    deadline = time.monotonic() + deadline_s
    last: Exception | str = "no answer yet"
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode} before it was ready")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.05)  # back-off between readiness polls
    raise TimeoutError(f"{url} not ready after {deadline_s} s: {last}")


@dataclass
class Server:
    """A running ``fycli serve`` process."""

    proc: subprocess.Popen
    host: str
    port: int
    db_url: str
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def serve_argv(db_url: str, host: str, port: int, *, workers: int | None = None) -> list[str]:
    """The command line of ``fycli serve`` (one place to change if its options change)."""
    argv = [*FYCLI, "serve", "--db", db_url, "--host", host, "--port", str(port)]
    if workers:
        argv += ["--workers", str(workers)]
    return argv


def start_server(
    db_url: str,
    log_dir: Path,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    env: dict[str, str] | None = None,
    prefix: Sequence[str] = (),
    ready_timeout: float = 60.0,
) -> Server:
    """Start ``fycli serve`` on ``db_url`` and wait until ``/v1/health`` answers.

    ``prefix`` runs it under another command (``ip netns exec NS`` for a village link).
    """
    port = port or free_port(host if not prefix else "127.0.0.1")
    log_path = log_dir / f"serve-{host}-{port}.log"
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            [*prefix, *serve_argv(db_url, host, port)],
            cwd=ROOT,
            env=full_env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(proc, host, port, db_url, log_path)
    try:
        wait_http_ready(f"{server.url}/v1/health", ready_timeout, proc)
    except BaseException:
        server.stop()
        tail = log_path.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"fycli serve did not start ({db_url}); its log ends with:\n{tail}") from None
    return server


def run_json(argv: Sequence[str], *, timeout: float, env: dict[str, str] | None = None) -> dict:
    """Run a helper process that prints one JSON object as the last line of its stdout."""
    import json

    res = subprocess.run(
        list(argv),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {res.returncode}:\n{res.stderr[-3000:]}")
    last = res.stdout.strip().splitlines()[-1]
    return json.loads(last)


class Workdir:
    """A scratch directory for one suite run, removed at the end unless ``keep``."""

    def __init__(self, keep: bool = False, base: Path | None = None) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="fybench-", dir=base))
        self.keep = keep

    def sub(self, name: str) -> Path:
        path = self.path / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def cleanup(self) -> None:
        if not self.keep:
            shutil.rmtree(self.path, ignore_errors=True)
