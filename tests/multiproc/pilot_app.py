"""The app's side of the day when tmux is missing: the real FycliApp (as ``fycli tui`` builds it,
with the configured server) headless under Textual's pilot, in its own process.

``python -m tests.multiproc.pilot_app CONFIG_DIR SECONDS SEED`` prints one JSON object a line:
``{"ready": pid}``, then ``{"claim": {...}}`` for every ticket the app's outcome list showed
as saved, ``{"step": kind}`` per step, ``{"unsent": n}`` at the end. Waits are on the app's
workers and messages (``settle``), never on timers. The tmux driver is the real thing; this
reads the outcome list from the dialog object instead of the screen.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

from tests.servers import REPO


class PilotApp:
    """This module run as a subprocess; what it printed is read at the end of its day."""

    def __init__(self, liaison, seconds: float, seed: int) -> None:
        self.liaison = liaison
        self.seconds = seconds
        self.seed = seed
        self.process: subprocess.Popen | None = None
        self.pid: int | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.multiproc.pilot_app", str(self.liaison.config_dir),
             str(self.seconds), str(self.seed)],  # fmt: skip
            cwd=REPO, env=self.liaison.env, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        first = self.process.stdout.readline()  # the event: its first line says it is ready
        if not first:
            raise RuntimeError("the pilot app ended before it was ready")
        self.pid = json.loads(first)["ready"]

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def finish(self, timeout: float) -> list[dict]:
        assert self.process is not None
        try:
            out, _ = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, _ = self.process.communicate()
            return [{"finding": f"the pilot app was still running {timeout:.0f} s after its day"}]
        items = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        if self.process.returncode != 0:
            items.append({"finding": f"the pilot app exited {self.process.returncode}"})
        return items

    def stop(self) -> None:
        if self.alive():
            self.process.kill()
            self.process.wait(10)


def emit(**item: object) -> None:
    print(json.dumps(item, ensure_ascii=False), flush=True)


async def settle(pilot) -> None:
    """Until every worker is done and what they posted is handled (bounded: 200 rounds)."""
    app = pilot.app
    for _ in range(200):
        await app.workers.wait_for_complete()
        await pilot.pause()
        if not any(w.is_running for w in app.workers):
            return


async def step(pilot, rng: random.Random, n: int) -> None:
    from textual.widgets import Input, TextArea

    from tui.screens.dialogs.bulk_confirm import BulkConfirmDialog
    from tui.screens.dialogs.outcome import OutcomeDialog

    app = pilot.app
    while app.screen is not app.queue_screen:  # back to the queue
        await pilot.press("escape")
        await settle(pilot)
    if not app.queue_screen.marks.empty:
        await pilot.press("escape")
    kind = rng.choices(["note", "resolve", "accept", "sync"], weights=[35, 30, 25, 10])[0]
    emit(step=kind)
    if kind == "sync":
        await pilot.press("r")
        await settle(pilot)
        return
    await pilot.press("1" if kind == "accept" else "2")
    await settle(pilot)
    await pilot.press(*["down"] * rng.randint(0, 8), *["space"] * rng.randint(1, 3))
    await settle(pilot)
    marked = sorted(app.queue_screen.marks.include)
    if not marked:
        return
    text = f"多进程 app{'记录' if kind == 'note' else '办结'} {n}" if kind != "accept" else None
    await pilot.press({"note": "n", "resolve": "c", "accept": "s"}[kind])
    await settle(pilot)
    if not isinstance(app.screen, BulkConfirmDialog):  # asked once, with the count by status
        emit(finding=f"app {kind}: no bulk confirmation for {marked}")
        return
    if app.screen.plan.targets != tuple(marked) and sorted(app.screen.plan.targets) != marked:
        emit(
            finding=f"app {kind}: marked {marked}, the confirmation is about {list(app.screen.plan.targets)}"
        )
    await pilot.press("y")
    await settle(pilot)
    if kind == "note":
        app.screen.query_one(Input).value = text
        await pilot.press("enter")
    elif kind == "resolve":
        app.screen.query_one("#reply", TextArea).text = text
        await pilot.press("ctrl+s")
    await settle(pilot)
    if not isinstance(app.screen, OutcomeDialog):
        emit(step="unreported")
        return
    lines = app.screen.lines
    if sorted(line.ticket_id for line in lines) != marked:
        emit(finding=f"app {kind}: marked {marked}, the outcome list is about {[x.ticket_id for x in lines]}")
    for line in lines:
        if line.ok and line.result == app.t("outcome.ok"):  # a no-op line queued nothing
            emit(claim={"kind": kind, "ticket_id": line.ticket_id, "text": text})


async def day(config_dir: Path, seconds: float, seed: int) -> None:
    from tui.app import FycliApp
    from tui.core.config import load_app_config
    from tui.core.sync_runner import SyncRunner, client_factory_from_config

    path, factory = client_factory_from_config(config_dir)
    app = FycliApp(path, config=load_app_config(config_dir), sync_runner=SyncRunner(path, factory))
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        emit(ready=os.getpid())
        rng = random.Random(seed)
        started, n = time.monotonic(), 0
        while time.monotonic() - started < seconds:
            await step(pilot, rng, n)
            n += 1
        emit(unsent=app.sync_status.unsent)


if __name__ == "__main__":
    asyncio.run(day(Path(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])))
