"""One liaison's day on one replica, for real (issue 9, "What must be shown").

A seeded township on a real `fycli serve`, a liaison replica, and at the same time:

- the app: a real `fycli tui` in tmux at 140×40, signing for, adding notes and resolving marked
  tickets by keys, now and then `r`; what its outcome list says was saved is recorded;
- `fycli sync`, `fycli status`, `fycli close --from-file` (sometimes the same file twice, as a
  cron job would) and `fycli note` in loops, what their ``--json`` says was queued recorded;
- a killer SIGKILLing a random one of those commands now and then (seeded RNG);
- a watcher reading ``/proc/<pid>/fd`` of every fycli process, the app included, for replica
  files shown "(deleted)".

Then the app quits, one clean `fycli sync` runs, and the checks in checks.py decide. The loops
pace themselves like cron and a script author would (a random pause between runs: the cadence
of the day, not a wait for work); the app's steps each wait on the screen.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tests.multiproc import checks
from tests.multiproc.app_driver import BUSY, DAMAGE, TmuxApp, tmux_available
from tests.multiproc.checks import Claim
from tests.multiproc.pilot_app import PilotApp
from tests.multiproc.world import FdWatcher, Liaison, Processes, ids_in_view, new_liaison, seed_central
from tests.servers import CentralServer

#: How the note that keeps a second reply begins (docs/cli.md, `fycli close`: ↪ lines).
KEPT_REPLY = "【未能提交的答复】"
#: Rows of the app's bulk note: past bulk.TYPED_CONSENT_FROM (50), so the count is typed.
BULK_ROWS = 55


@dataclass
class Ledger:
    """Every claim of the day, and every text any process was given (reported or not)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    claims: list[Claim] = field(default_factory=list)
    texts: set[str] = field(default_factory=set)
    counts: list[checks.CountedClaim] = field(default_factory=list)

    def text(self, text: str) -> str:
        with self.lock:
            self.texts.add(text)
        return text

    def claim(self, claim: Claim) -> None:
        with self.lock:
            self.claims.append(claim)

    def counted(self, claim: checks.CountedClaim) -> None:
        with self.lock:
            self.counts.append(claim)


@dataclass
class DayReport:
    seconds: float
    tickets: int
    seed: int
    claims: Counter  # (source, kind) → claims
    app_steps: Counter  # what the app driver did: kind → steps, "unreported", "syncs" …
    runs: Counter  # (command, exit code) → runs
    kills: Counter  # command → SIGKILLs that landed
    fd_scans: int
    deleted_seen: list[str]
    findings: list[str]

    def summary(self) -> str:
        return json.dumps(
            {
                "seconds": round(self.seconds, 1),
                "tickets": self.tickets,
                "seed": self.seed,
                "claims": {f"{s} {k}": n for (s, k), n in sorted(self.claims.items())},
                "app": dict(sorted(self.app_steps.items())),
                "runs": {f"{c} exit {rc}": n for (c, rc), n in sorted(self.runs.items())},
                "kills": dict(sorted(self.kills.items())),
                "fd_scans": self.fd_scans,
                "deleted_seen": self.deleted_seen,
                "findings": self.findings,
            },
            ensure_ascii=False,
            indent=2,
        )


class Day:
    def __init__(self, liaison: Liaison, seconds: float, seed: int, tmp_path: Path, *, tmux: bool) -> None:
        self.liaison = liaison
        self.seconds = seconds
        self.seed = seed
        self.tmp_path = tmp_path
        self.stop = threading.Event()
        self.processes = Processes()
        self.ledger = Ledger()
        self.app_steps: Counter = Counter()
        # The real app in tmux; without tmux, the same app under Textual's pilot in a process.
        self.app: TmuxApp | PilotApp = (
            TmuxApp(liaison, self._look_at_screen) if tmux else PilotApp(liaison, seconds, seed)
        )
        self.app_steps["driver: tmux" if tmux else "driver: pilot"] = 1
        self.watcher = FdWatcher(liaison.db, self.processes, threading.Event())
        working = ids_in_view(liaison, "in_progress")
        waiting = ids_in_view(liaison, "assigned")
        self.everything = ids_in_view(liaison, "all")
        # The app works from the top of its views; the close script from the bottom (they may
        # still meet: the replica must keep them apart, and that is part of the test).
        pool = working[len(working) // 2 :] + waiting[len(waiting) // 2 :]
        random.Random(seed).shuffle(pool)
        self.close_pool = pool

    _damage_seen: set[str] = set()

    def _look_at_screen(self, text: str) -> None:
        for word in DAMAGE:
            if word in text and word not in self._damage_seen:  # once per word: it stays a while
                self._damage_seen = self._damage_seen | {word}
                line = next(line for line in text.splitlines() if word in line).strip()
                self.processes.add_finding(f"the app shows «{word}»: {line[:160]}")

    # -- the commands ---------------------------------------------------------------------------
    def _loop(self, name: str, rng: random.Random, pause: tuple[float, float], once) -> threading.Thread:
        def run() -> None:
            n = 0
            while not self.stop.is_set():
                once(rng, n)
                n += 1
                self.stop.wait(rng.uniform(*pause))  # the cadence of cron / a script author

        return threading.Thread(target=run, daemon=True, name=name)

    def _sync_once(self, rng: random.Random, n: int) -> None:
        self.processes.run(self.liaison, "sync", ["sync", "--json", "-q"])

    def _status_once(self, rng: random.Random, n: int) -> None:
        self.processes.run(self.liaison, "status", ["status", "--json"])

    def _note_once(self, rng: random.Random, n: int) -> None:
        ticket = rng.choice(self.everything)
        text = self.ledger.text(f"多进程 脚本记录 note-{n}")
        run = self.processes.run(self.liaison, "note", ["note", ticket, "--text", text, "--json"])
        for result in run.json() or []:
            if result.get("ok") and result.get("queued"):
                self.ledger.claim(Claim("note", "note", result["ticket_id"], text, tuple(result["queued"])))

    _last_close: tuple[Path, str] | None = None

    def _close_once(self, rng: random.Random, n: int) -> None:
        if self._last_close is not None and (rng.random() < 0.2 or not self.close_pool):
            file, reply = self._last_close  # cron runs the same file again
        elif self.close_pool:
            file = self.tmp_path / f"close-{n}.txt"
            ids = [self.close_pool.pop() for _ in range(min(rng.randint(1, 3), len(self.close_pool)))]
            file.write_text("# today's closes\n" + "\n".join(ids) + "\n")
            reply = self.ledger.text(f"多进程 脚本办结 close-{n}：已现场处理。")
            self._last_close = (file, reply)
        else:
            return
        run = self.processes.run(
            self.liaison, "close", ["close", "--from-file", str(file), "--reply", reply, "--json"]
        )
        # A second reply on a ticket resolved meanwhile is queued as a note with this text.
        kept = self.ledger.text(KEPT_REPLY + reply)
        for result in run.json() or []:
            if result.get("ok") and result.get("queued") and result.get("kept_as_note"):
                self.ledger.claim(Claim("close", "note", result["ticket_id"], kept, tuple(result["queued"])))
            elif result.get("ok") and result.get("queued"):
                self.ledger.claim(
                    Claim("close", "resolve", result["ticket_id"], reply, tuple(result["queued"]))
                )
            elif "kept as a note" in (result.get("message") or ""):  # by an earlier run of the file
                self.ledger.claim(Claim("close", "note", result["ticket_id"], kept))

    def _killer(self, rng: random.Random, n: int) -> None:
        self.processes.kill_random(rng)

    # -- the app --------------------------------------------------------------------------------
    def _app_step(self, rng: random.Random, n: int) -> None:
        kind = rng.choices(["note", "resolve", "accept", "sync", "bulk note"], weights=[35, 30, 25, 10, 4])[0]
        kind = "bulk note" if n == 1 else kind  # every day, even a short one, types a count once
        if not self.app.to_queue():
            self.app_steps["stuck"] += 1
            return
        if kind == "bulk note":
            self._bulk_note(n)
            return
        if kind == "sync":
            got = self.app.sync_now()
            self.app_steps["sync"] += 1
            if got == BUSY:  # a `fycli sync` held the replica: a normal moment of the day
                self.app_steps["sync busy"] += 1
            if got is not None and not isinstance(got, str):
                refused = [line for line in got.lines if not line[0]]
                for _, ticket, what, why in refused:
                    self.processes.add_finding(f"app sync: {what} {ticket} not sent: {why}")
                self.app.close_dialog()
            return
        view, status = ("1", "待签收") if kind == "accept" else ("2", "办理中")
        if not self.app.open_view(view, status):
            self.app_steps[f"{kind} (view empty)"] += 1
            (self.tmp_path / f"app-view-empty-{n}.txt").write_text(self.app.last_screen)
            return
        marked = self.app.mark(rng.randint(0, 8), rng.randint(1, 3))
        if not marked:
            self.app_steps["nothing marked"] += 1
            return
        text = (
            self.ledger.text(f"多进程 app{'记录' if kind == 'note' else '办结'} {n}")
            if kind != "accept"
            else None
        )
        outcome = self.app.submit(kind, text)
        if outcome is None:  # kept for a person to look at: the screen when the driver gave up
            self.app_steps["unreported"] += 1
            if self.app.gave_up.startswith("the typed text"):
                self.processes.add_finding(f"app {kind}: the text typed into its dialog never showed")
            (self.tmp_path / f"app-unreported-{n}.txt").write_text(
                f"{kind} {marked}: {self.app.gave_up}\n{self.app.last_screen}"
            )
            return
        self.app_steps[kind] += 1
        asked = self.app.confirmation
        if asked is not None and asked.count != len(marked):  # every mark is in this view
            self.processes.add_finding(
                f"app {kind}: marked {sorted(marked)} on screen, the confirmation asked about {asked.count}"
            )
        if asked is not None and asked.by_status != f"{status} {len(marked)}":  # one view, one status
            self.processes.add_finding(
                f"app {kind}: {len(marked)} marked in the {status} view, the confirmation says «{asked.by_status}»"
            )
        reported = {line[1] for line in outcome.lines}
        if reported != set(marked):
            self.processes.add_finding(
                f"app {kind}: marked {sorted(marked)} on screen, the outcome list is about {sorted(reported)}"
            )
        if sum(outcome.title) != len(outcome.lines):
            self.processes.add_finding(
                f"app {kind}: the outcome title {outcome.title} and its lines disagree"
            )
        saved = outcome.saved()  # a no-op line (already done) queued nothing: no claim
        self.app_steps[f"{kind}: no-op lines"] += sum(1 for ok, *_ in outcome.lines if ok) - len(saved)
        for ticket in saved:
            self.ledger.claim(Claim("app", kind, ticket, text))
        self.app.close_dialog()

    def _bulk_note(self, n: int) -> None:
        """A note on BULK_ROWS tickets at once: the count has to be typed (50 and more). The
        screen shows only part of so many rows, so the claim is the count the outcome list
        says was saved, held against the server's notes with that text."""
        assert isinstance(self.app, TmuxApp)
        if not self.app.open_view("2", "办理中"):
            self.app_steps["bulk note (view empty)"] += 1
            return
        marked = self.app.mark_range(BULK_ROWS)
        if marked == 0:
            self.app_steps["nothing marked"] += 1
            return
        text = self.ledger.text(f"多进程 app批量记录 {n}")
        outcome = self.app.submit("note", text)
        if outcome is None:
            self.app_steps["unreported"] += 1
            if self.app.gave_up.startswith("the typed"):  # the count or the note's text
                self.processes.add_finding(f"app bulk note: {self.app.gave_up}")
            (self.tmp_path / f"app-unreported-{n}.txt").write_text(
                f"bulk note of {marked}: {self.app.gave_up}\n{self.app.last_screen}"
            )
            return
        asked = self.app.confirmation
        self.app_steps["bulk note"] += 1
        self.app_steps["bulk note: count typed"] += bool(asked and asked.typed)
        if asked is None or asked.count != marked or sum(outcome.title) != marked:
            self.processes.add_finding(
                f"app bulk note: {marked} marked, the confirmation asked about "
                f"{asked.count if asked else None}, the outcome title says {outcome.title}"
            )
        saved = outcome.title[0]
        self.ledger.counted(checks.CountedClaim("app", text, saved))
        self.app.close_dialog()

    # -- the day --------------------------------------------------------------------------------
    def run(self, server: CentralServer, central_db: Path) -> DayReport:
        started = time.monotonic()
        try:
            self.app.start()
        except BaseException:
            self.app.stop()
            raise
        assert self.app.pid is not None
        self.watcher.extra[self.app.pid] = "the app"
        self.watcher.start()
        loops = [
            self._loop("sync", random.Random(self.seed + 1), (0.5, 2.0), self._sync_once),
            self._loop("status", random.Random(self.seed + 2), (0.5, 2.0), self._status_once),
            self._loop("close", random.Random(self.seed + 3), (1.0, 3.0), self._close_once),
            self._loop("note", random.Random(self.seed + 4), (0.5, 2.0), self._note_once),
            self._loop("killer", random.Random(self.seed + 5), (2.0, 6.0), self._killer),
        ]
        for loop in loops:
            loop.start()
        try:
            if isinstance(self.app, TmuxApp):
                self._tmux_day(started)
            else:
                self._pilot_day()
        finally:
            self.stop.set()
            self.app_steps["s: the day"] = round(time.monotonic() - started)
            for loop in loops:
                loop.join(timeout=180)
            self.app_steps["s: loops ended"] = round(time.monotonic() - started)
            if isinstance(self.app, TmuxApp):
                self.app_steps["unsent on the bar at the end"] = self.app.unsent(self.app.screen()) or 0
            ended = self.app.stop()
            if ended:
                self.app_steps[f"app quit: {ended}"] = 1
            self.watcher.stop.set()
            self.watcher.join(timeout=10)
        elapsed = time.monotonic() - started
        self.app_steps["s: app quit"] = round(elapsed)
        # --now: the app's last actions may still be in their undo window, which a plain sync honours.
        final = self.processes.run(self.liaison, "final sync", ["sync", "--json", "--now"])
        if final.returncode != 0:
            self.processes.add_finding(
                f"the final clean sync exited {final.returncode}: {final.stderr.strip()[-300:]}"
            )
        return self._report(elapsed, central_db)

    def _tmux_day(self, started: float) -> None:
        assert isinstance(self.app, TmuxApp)
        app_rng = random.Random(self.seed)
        step = 0
        while time.monotonic() - started < self.seconds:
            if not self.app.alive():
                self.processes.add_finding("the app ended during the day:\n" + self.app.last_screen)
                break
            self._app_step(app_rng, step)
            step += 1
        self.app_steps["steps"] = step

    def _pilot_day(self) -> None:
        assert isinstance(self.app, PilotApp)
        for item in self.app.finish(self.seconds + 180):
            if "claim" in item:
                c = item["claim"]
                self.ledger.claim(Claim("app", c["kind"], c["ticket_id"], c["text"]))
                if c["text"]:
                    self.ledger.text(c["text"])
            elif "step" in item:
                self.app_steps[item["step"]] += 1
            elif "finding" in item:
                self.processes.add_finding(item["finding"])
            elif "unsent" in item:
                self.app_steps["unsent at the end"] = item["unsent"]

    def _report(self, elapsed: float, central_db: Path) -> DayReport:
        findings = list(self.processes.findings)
        findings += [f"deleted replica file seen: {entry}" for entry in self.watcher.seen]
        findings += checks.integrity(self.liaison.db)
        view = checks.ServerView.read(central_db, self.liaison.liaison_id)
        findings += checks.claims_on_server(view, self.ledger.claims)
        findings += checks.counted_claims_on_server(view, self.ledger.counts)
        findings += checks.nothing_doubled(view, self.ledger.texts)
        findings += checks.replica_equals_server(self.liaison.db, central_db, self.liaison.unit_id)
        return DayReport(
            seconds=elapsed,
            tickets=len(self.everything),
            seed=self.seed,
            claims=Counter((c.source, c.kind) for c in self.ledger.claims)
            + Counter({("app", "bulk note"): sum(c.count for c in self.ledger.counts)}),
            app_steps=self.app_steps,
            runs=self.processes.finished,
            kills=self.processes.kills,
            fd_scans=self.watcher.scans,
            deleted_seen=list(self.watcher.seen),
            findings=findings,
        )


def run_day(
    tmp_path: Path, *, seconds: float, tickets: int, seed: int, tmux: bool | None = None
) -> DayReport:
    """Seed, serve, make the liaison, live the day, check it (the app in tmux when there is
    tmux, else under the pilot)."""
    tmux = tmux_available() if tmux is None else tmux
    db_url = seed_central(tmp_path, tickets, seed)
    central_db = Path(db_url.removeprefix("sqlite:///"))
    with CentralServer.start(tmp_path, db_url) as server:
        liaison = new_liaison(tmp_path, server)
        return Day(liaison, seconds, seed, tmp_path, tmux=tmux).run(server, central_db)
