"""A real `fycli tui` in tmux (140×40), driven as a liaison would: keys in, the screen read back.

Every step waits on what the screen shows (the dialog that opens, the outcome list that comes
back), never on a timer. A terminal has no event to subscribe to, so waiting means reading the
screen again every 50 ms until the expected text is there or a deadline passes.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.multiproc.world import Liaison
from tests.servers import REPO

WIDTH, HEIGHT = 140, 40
STEP_TIMEOUT = 30.0  # a key's answer on a loaded 2-core machine; past it the step gives up
POLL = 0.05
QUIT_SYNC_TIMEOUT = 10.0  # r in the quit question: the day's last sync, then the app ends
OUTCOME_ROWS_SHOWN = 20  # at least this many rows of a long outcome list fit at 140×40

_ROW = re.compile(r"^ ([● ])\s+(FY\d+)\s", re.M)
#: A bulk action's outcome list (what was saved, what needed nothing, what was not done) and a
#: sync's (what the platform applied, what it did not).
_LOCAL_TITLE = re.compile(r"执行结果：已保存 (\d+)，无需操作 (\d+)，未执行 (\d+)")
_SYNC_TITLE = re.compile(r"执行结果：成功 (\d+)，未执行 (\d+)")
#: The bulk confirmation: how many, by status, and (50+) the count to type.
_CONFIRM = re.compile(r"对已选的 (\d+) 件工单执行「(\S+?)」？")
_BY_STATUS = re.compile(r"按状态：(.+?)\s*█")
_TYPE_COUNT = "输入件数"
SAVED = "已保存，待发送"  # an outcome line of an action queued (a no-op line says 无需操作)
_OUTCOME_LINE = re.compile(r"█\s+([✓✗])\s+(FY\d+)\s+(\S+)\s+(.+?)\s+█")
_MARKED = re.compile(r"已选 (\d+)")
_UNSENT = re.compile(r"待发送 (\d+)")
_KEY_BAR = "space  选择"
#: Words only an open dialog shows (the outcome list, a prompt, a confirmation or reply box).
_DIALOG = ("执行结果", "添加办理记录", "办结答复", "(Esc)", "Esc/回车", "(y)")
DAMAGE = ("malformed", "损坏", "damaged", "Traceback")
BUSY = "另一同步正在进行"  # another process's sync holds the replica (the one-sync lock)
RUNNING = "同步中"  # the bar while a sync runs (同步中… or 同步中 n/m), and r's toast then
SYNC_NEWS = ("同步完成", "同步失败", "平台拒绝", RUNNING, "执行结果", BUSY)


def tmux_available() -> bool:
    return shutil.which("tmux") is not None


@dataclass
class Outcome:
    """What the app's outcome list said: per ticket, ok or not, and its words."""

    title: tuple[int, ...]  # (已保存, 无需操作, 未执行) of an action; (成功, 未执行) of a sync
    lines: list[tuple[bool, str, str, str]]  # (ok, ticket id, action, result)

    def saved(self) -> list[str]:
        """The tickets whose action was queued (not the no-ops: nothing was queued for them)."""
        return [ticket for ok, ticket, _, result in self.lines if ok and result.startswith(SAVED)]


@dataclass
class Confirmation:
    """What the bulk confirmation asked: how many, and the count by status it showed."""

    count: int
    by_status: str
    typed: bool  # the count had to be typed (50 and more)


class TmuxApp:
    """``fycli tui`` in its own tmux server (a socket in the test's directory)."""

    def __init__(self, liaison: Liaison, on_screen: Callable[[str], None]) -> None:
        # A socket path must fit in 108 bytes: a short directory of its own, not tmp_path.
        self.socket = Path(tempfile.mkdtemp(prefix="fyday")) / "tmux.sock"
        self.liaison = liaison
        self.on_screen = on_screen  # every screen read is shown to it (it looks for damage)
        self.pid: int | None = None
        self.last_screen = ""
        self.gave_up = ""  # why the last submit() returned None
        self.confirmation: Confirmation | None = None  # what the last submit() was asked

    # -- tmux --------------------------------------------------------------------------------
    def _tmux(self, *args: str, check: bool = True) -> str:
        done = subprocess.run(
            ["tmux", "-S", str(self.socket), "-u", "-f", "/dev/null", *args],
            env=self.liaison.env, capture_output=True, text=True, timeout=STEP_TIMEOUT,
        )  # fmt: skip
        if check and done.returncode != 0:
            raise RuntimeError(f"tmux {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def start(self) -> None:
        command = "exec " + " ".join(
            shlex.quote(part)
            for part in [
                "env",
                "-u",  # a COLUMNS/LINES inherited (pytest-xdist workers have 80×24) would
                "COLUMNS",  # override the window's 140×40 in Textual
                "-u",
                "LINES",
                f"FYCLI_CONFIG_DIR={self.liaison.config_dir}",
                "LANG=C.UTF-8",
                sys.executable,
                "-m",
                "fycli",
                "tui",
            ]  # fmt: skip
        )
        self._tmux(
            "new-session", "-d", "-s", "day", "-x", str(WIDTH), "-y", str(HEIGHT), "-c", str(REPO), command
        )
        self.pid = int(self._tmux("list-panes", "-t", "day", "-F", "#{pane_pid}").split()[0])
        ready = self.wait_for(lambda s: _KEY_BAR in s and "待发送" in s and _ROW.search(s) is not None)
        if ready is None:
            raise RuntimeError("fycli tui did not show its queue:\n" + self.last_screen)

    def alive(self) -> bool:
        return self.pid is not None and os.path.exists(f"/proc/{self.pid}")

    def stop(self) -> str:
        """Quit with q as a liaison does; with unsent actions the app asks, and the liaison says
        r (sync, then quit) or, when that did not end it (r while a sync runs only says 同步中…
        and stays), y: they stay in the replica for the next sync. Killed only if still there
        after that (every action it reported was committed: nothing may be lost either way).
        Returns how it ended: "q", "r", "y" or "killed"."""
        how, answers = "q", iter(("r", "y", "y"))
        for _ in range(3):  # again if q closed a dialog that opened meanwhile (q closes a list)
            if not self.alive() or not self.to_queue():
                break
            self.keys("q")
            asked = self.wait_for(lambda s: not self.alive() or "尚未发送" in s, timeout=10)
            if asked is None or not self.alive():
                continue
            how = next(answers)
            self.keys(how)
            if self._ended(timeout=QUIT_SYNC_TIMEOUT):
                break
        if self.alive():
            how = "killed"
            os.kill(self.pid, 9)
        self._tmux("kill-server", check=False)
        shutil.rmtree(self.socket.parent, ignore_errors=True)
        return how

    def _ended(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.alive() and time.monotonic() < deadline:
            time.sleep(POLL)  # no event for "another process ended": poll, bounded
        return not self.alive()

    def screen(self) -> str:
        text = self._tmux("capture-pane", "-p", "-t", "day", check=False)
        self.last_screen = text
        self.on_screen(text)
        return text

    def keys(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", "day", *keys)

    def type_text(self, text: str) -> None:
        self._tmux("send-keys", "-t", "day", "-l", text)

    def wait_for(self, predicate: Callable[[str], bool], timeout: float = STEP_TIMEOUT) -> str | None:
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen()
            if predicate(text):
                return text
            if time.monotonic() > deadline or not self.alive():
                return None
            time.sleep(POLL)  # the terminal has no event: read it again, bounded by the deadline

    # -- reading the screen ---------------------------------------------------------------------
    @staticmethod
    def marked_ids(text: str) -> list[str]:
        return [m.group(2) for line in text.splitlines() if (m := _ROW.match(line)) and m.group(1) == "●"]

    @staticmethod
    def rows(text: str) -> list[str]:
        return [line for line in text.splitlines() if _ROW.match(line)]

    @staticmethod
    def outcome(text: str) -> Outcome | None:
        title = _LOCAL_TITLE.search(text) or _SYNC_TITLE.search(text)
        if title is None:
            return None
        lines = [
            (m.group(1) == "✓", m.group(2), m.group(3), m.group(4))
            for line in text.splitlines()
            if (m := _OUTCOME_LINE.search(line))
        ]
        return Outcome(tuple(int(n) for n in title.groups()), lines)

    @staticmethod
    def confirmation_of(text: str) -> Confirmation | None:
        asked = _CONFIRM.search(text)
        if asked is None:
            return None
        by_status = _BY_STATUS.search(text)
        return Confirmation(int(asked.group(1)), by_status.group(1) if by_status else "", _TYPE_COUNT in text)

    @staticmethod
    def unsent(text: str) -> int | None:
        found = _UNSENT.findall(text.splitlines()[-1] if text.strip() else "")
        return int(found[-1]) if found else None

    # -- a liaison's moves ----------------------------------------------------------------------
    def to_queue(self) -> bool:
        """Back to the bare queue: no dialog open, nothing marked. Escape goes alone: sent
        together with the next key, the terminal reads the pair as alt+key."""
        for _ in range(4):
            text = self.screen()
            if _KEY_BAR in text and not any(w in text for w in _DIALOG) and not _MARKED.search(text):
                return True
            self.keys("Escape")
            self.wait_for(lambda s, before=text: s != before, timeout=3)
        return False

    def open_view(self, key: str, status: str) -> bool:
        """Switch to view ``key`` (1 待签收, 2 办理中 …) and wait for its rows; False if empty."""
        self.keys(key)
        text = self.wait_for(lambda s: bool(self.rows(s)) and status in self.rows(s)[0] or "共 0 条" in s)
        return text is not None and bool(self.rows(text)) and status in self.rows(text)[0]

    def mark(self, down: int, count: int) -> list[str]:
        """Move ``down`` rows, mark ``count`` rows with space; the ids the screen shows marked,
        once the bar's count and the rows shown marked agree ([] if they never do: a loaded
        app may take seconds for the keys, and ids read before then would be too few)."""
        if down:
            self.keys(*["Down"] * down)
        self.keys(*["space"] * count)
        text = self.wait_for(lambda s: f"已选 {count}" in s and len(self.marked_ids(s)) == count)
        return self.marked_ids(text) if text else []

    def mark_range(self, rows: int) -> int:
        """From the top of the view, mark ``rows`` rows at once: space on the first (the
        anchor), down to the last, v; the count the bar says is marked (0: none came)."""
        self.keys("space", *["Down"] * (rows - 2), "v")

        def count(screen: str) -> int:
            found = _MARKED.search(screen)
            return int(found.group(1)) if found else 0

        text = self.wait_for(lambda s: count(s) > 1, timeout=10)  # past the anchor's 1
        return count(text) if text else 0

    def submit(self, kind: str, text: str | None) -> Outcome | None:
        """Press the action key for the marked set, answer the bulk confirmation (y, or the count
        typed from 50 on), fill the action's dialog, and return the outcome list the app shows
        (None when it did not come before the deadline: ``gave_up`` says where it stopped)."""
        key, dialog = {"note": ("n", "添加办理记录"), "resolve": ("c", "办结答复"), "accept": ("s", None)}[
            kind
        ]
        self.gave_up, self.confirmation = "", None
        self.keys(key)
        asked = self.wait_for(
            lambda s: self.confirmation_of(s) is not None and ("(y)" in s or "(Enter)" in s)
        )
        if asked is None:
            self.gave_up = "no bulk confirmation"
            return None
        self.confirmation = self.confirmation_of(asked)
        assert self.confirmation is not None
        if self.confirmation.typed:
            self.type_text(str(self.confirmation.count))
            if self.wait_for(lambda s: _TYPE_COUNT not in s, timeout=5) is None:  # its placeholder
                self.gave_up = "the typed count never showed in the confirmation"
                return None
            self.keys("Enter")
        else:
            self.keys("y")
        if dialog is not None:
            if self.wait_for(lambda s: dialog in s) is None:
                self.gave_up = f"no {dialog} dialog"
                return None
            if not self._fill(text or "", tab=kind == "resolve"):
                self.gave_up = "the typed text never showed in the dialog"
                return None
            self.keys("C-s" if kind == "resolve" else "Enter")
        screen = self.wait_for(self._outcome_shown)
        if screen is None:
            self.gave_up = "no outcome list"
            return None
        return self.outcome(screen)

    def _outcome_shown(self, screen: str) -> bool:
        """The outcome list with its lines: its table fills in a frame after its title, and a
        long one shows only its first rows (OUTCOME_ROWS_SHOWN of them at 140×40)."""
        if _LOCAL_TITLE.search(screen) is None:
            return False
        outcome = self.outcome(screen)
        return outcome is not None and len(outcome.lines) >= min(sum(outcome.title), OUTCOME_ROWS_SHOWN)

    def _fill(self, text: str, *, tab: bool) -> bool:
        """Type ``text`` into the dialog's box the moment the dialog shows, as a liaison does
        (after a Tab, for the reply box behind the template list), and see it there. Typed once:
        keys the app drops are its bug (it dropped them once, tests/tui/test_reply_typing.py),
        so the day reports them instead of typing again."""
        if tab:
            self.keys("Tab")
        self.type_text(text)
        return self.wait_for(lambda s: text in s) is not None

    def close_dialog(self) -> None:
        self.keys("Escape")
        self.wait_for(lambda s: "执行结果" not in s, timeout=5)

    def sync_now(self) -> Outcome | str | None:
        """Press r and wait for the sync's end: the outcome list if one came, else the news
        word of its toast (None: nothing before the deadline). 同步中… says a sync runs (this
        one, or the app's background one that r then leaves alone): its end is when that is
        gone from the screen — by then the outcome list, if any, is there (the same handler)."""
        before = self.screen()
        ends = [w for w in SYNC_NEWS if w != RUNNING]
        counts = {word: before.count(word) for word in ends}
        seen_running = False

        def ended(screen: str) -> bool:
            nonlocal seen_running
            if any(screen.count(w) > counts[w] for w in ends):
                return True
            seen_running = seen_running or RUNNING in screen
            return seen_running and RUNNING not in screen

        self.keys("r")
        text = self.wait_for(ended)
        if text is None:
            return None
        if "执行结果" in text and counts["执行结果"] == 0:
            return self.outcome(text)
        return next((w for w in ends if text.count(w) > counts[w]), RUNNING)
