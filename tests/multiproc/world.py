"""The world of one real day: a seeded central service, a liaison replica, and the fycli
processes that run on it — each started as a real subprocess, registered so that a killer can
SIGKILL random ones and a watcher can read their open files in ``/proc/<pid>/fd``.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.servers import REPO, CentralServer

COUNTY, TOWNSHIP = "颍州区", "西湖镇"
LIAISON_NAME = "多进程联络员"
COMMAND_TIMEOUT = 120.0  # one fycli command on a loaded 2-core machine; a hang is a finding


@dataclass
class Run:
    """One finished fycli command: its exit code and output (``killed`` by our SIGKILL)."""

    role: str
    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def killed(self) -> bool:
        return self.returncode == -signal.SIGKILL

    def json(self) -> object | None:
        """Its stdout as JSON, or None when it is not (a killed command printed nothing)."""
        try:
            return json.loads(self.stdout)
        except ValueError:
            return None


@dataclass
class Liaison:
    """The liaison's side: config directory, replica file, ids."""

    config_dir: Path
    db: Path
    liaison_id: str
    unit_id: str
    env: dict[str, str]


@dataclass
class Processes:
    """Every fycli subprocess running now (pid → role), and what happened to them."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    running: dict[int, tuple[str, subprocess.Popen]] = field(default_factory=dict)
    finished: Counter = field(default_factory=Counter)  # (role, exit code) → runs
    kills: Counter = field(default_factory=Counter)  # role → SIGKILLs that landed
    findings: list[str] = field(default_factory=list)

    def pids(self) -> list[tuple[int, str]]:
        with self.lock:
            return [(pid, role) for pid, (role, _) in self.running.items()]

    def add_finding(self, text: str) -> None:
        with self.lock:
            if text not in self.findings:
                self.findings.append(text)

    def run(self, liaison: Liaison, role: str, args: list[str], stdin: str | None = None) -> Run:
        """Run ``fycli ARGS`` to its end (or our SIGKILL); notes tracebacks and damage."""
        process = subprocess.Popen(
            [sys.executable, "-m", "fycli", *args],
            cwd=REPO,
            env=liaison.env,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        with self.lock:
            self.running[process.pid] = (role, process)
        try:
            out, err = process.communicate(stdin, timeout=COMMAND_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
            self.add_finding(f"`fycli {' '.join(args)}` still running after {COMMAND_TIMEOUT:.0f} s")
        finally:
            with self.lock:
                self.running.pop(process.pid, None)
        run = Run(role, args, process.returncode, out, err)
        with self.lock:
            self.finished[(role, run.returncode)] += 1
            if run.killed:
                self.kills[role] += 1
        if not run.killed:
            self._look_for_trouble(run)
        return run

    def _look_for_trouble(self, run: Run) -> None:
        text = run.stdout + run.stderr
        if "Traceback (most recent call last)" in text:
            self.add_finding(f"`fycli {run.args[0]}` printed a traceback: {_last_line(run.stderr)}")
        lowered = text.lower()
        if "malformed" in lowered or "damaged" in lowered:
            self.add_finding(f"`fycli {run.args[0]}` says the replica is damaged: {_last_line(text)}")

    def kill_random(self, rng: random.Random) -> str | None:
        """SIGKILL one running process chosen by ``rng``; returns its role (None: none ran)."""
        with self.lock:
            choices = sorted(self.running.items())
            if not choices:
                return None
            pid, (role, process) = rng.choice(choices)
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGKILL)
        return role


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else "(no output)"


def seed_central(tmp_path: Path, tickets: int, seed: int) -> str:
    """A central SQLite database with ``tickets`` realistic tickets of one township."""
    url = f"sqlite:///{tmp_path / 'central.db'}"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "fycli",
            "central",
            "seed",
            str(tickets),
            "--db",
            url,
            "--county",
            COUNTY,
            "--township",
            TOWNSHIP,
            "--seed",
            str(seed),
        ],  # fmt: skip
        cwd=REPO,
        check=True,
        capture_output=True,
        timeout=COMMAND_TIMEOUT,
    )
    return url


def township_unit(server: CentralServer) -> str:
    units = json.loads(server.cli("--json", "units").stdout)
    return next(u["id"] for u in units if u["kind"] == "township" and u["township"] == TOWNSHIP)


def new_liaison(tmp_path: Path, server: CentralServer) -> Liaison:
    """A liaison of the township (`fycli central add-liaison`), initialised and synced."""
    unit = township_unit(server)
    made = json.loads(server.cli("--json", "add-liaison", LIAISON_NAME, "--unit", unit).stdout)
    token_file = tmp_path / "token.txt"
    token_file.write_text(made["token"])
    token_file.chmod(0o600)
    config_dir = tmp_path / "liaison"
    env = {**os.environ, "FYCLI_CONFIG_DIR": str(config_dir), "PYTHONUNBUFFERED": "1", "LANG": "C.UTF-8"}
    env.pop("FYCLI_DB", None)
    liaison = Liaison(config_dir, config_dir / "replica.db", made["liaison_id"], unit, env)
    for args in (["init", "--server", server.url, "--token-file", str(token_file)], ["sync", "-q"]):
        done = subprocess.run([sys.executable, "-m", "fycli", *args], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=COMMAND_TIMEOUT)  # fmt: skip
        assert done.returncode == 0, (args, done.stdout, done.stderr)
    return liaison


def ids_in_view(liaison: Liaison, view: str) -> list[str]:
    """The ticket ids of a view, soonest deadline first (`fycli list --json`)."""
    done = subprocess.run(
        [sys.executable, "-m", "fycli", "list", "--view", view, "--limit", "0", "--json"],
        cwd=REPO, env=liaison.env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return [row["id"] for row in json.loads(done.stdout)]


def read_only(db: Path) -> sqlite3.Connection:
    """A read-only connection (the central database is checked, never changed, by the test)."""
    return sqlite3.connect(f"file:{db}?mode=ro", uri=True)


class FdWatcher(threading.Thread):
    """Reads ``/proc/<pid>/fd`` of every fycli process (the app and every registered one) for
    replica files shown "(deleted)". There is no event for "a file got deleted under a
    process", so it polls: every 50 ms until stopped."""

    def __init__(self, replica: Path, processes: Processes, stop: threading.Event) -> None:
        super().__init__(daemon=True, name="fd-watcher")
        self.replica = str(replica)
        self.processes = processes
        self.stop = stop
        self.extra: dict[int, str] = {}  # pid → role: the app
        self.scans = 0
        self.seen: list[str] = []

    def run(self) -> None:
        while not self.stop.wait(0.05):
            self.scan()
        self.scan()

    def scan(self) -> None:
        self.scans += 1
        for pid, role in [*self.processes.pids(), *self.extra.items()]:
            for link in _open_files(pid):
                if link.startswith(self.replica) and link.endswith("(deleted)"):
                    entry = f"{role} (pid {pid}) holds {link}"
                    if entry not in self.seen:
                        self.seen.append(entry)


def _open_files(pid: int) -> Iterator[str]:
    directory = f"/proc/{pid}/fd"
    try:
        names = os.listdir(directory)
    except OSError:  # the process has ended
        return
    for name in names:
        with contextlib.suppress(OSError):
            yield os.readlink(f"{directory}/{name}")
