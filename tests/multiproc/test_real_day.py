"""A liaison's real day on one replica, in the normal suite (issue 9, "What must be shown").

The app (a real `fycli tui` in tmux) makes actions while `fycli sync`, `status`, `close` and
`note` run in loops on the same replica file with SIGKILLs among them; then every action the
app or a command reported as saved is on the server exactly once, the replica passes
``PRAGMA integrity_check`` and equals the server, and no fycli process ever held a deleted
replica WAL/SHM. See day.py for how; ``FYCLI_MULTIPROC_SECONDS=600`` runs the long day.
"""

from __future__ import annotations

import os

import pytest

from tests.multiproc.app_driver import tmux_available
from tests.multiproc.day import run_day

SECONDS = float(os.environ.get("FYCLI_MULTIPROC_SECONDS", "35"))
SEED = int(os.environ.get("FYCLI_MULTIPROC_SEED", "20261202"))


def _tmux() -> bool:
    """tmux drives the real `fycli tui`; without it the app runs under Textual's pilot in a
    process of its own — except under CI=true, where .ci/run installs tmux: fail there."""
    if tmux_available():
        return True
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("tmux is not installed and CI=true: .ci/run installs it (apt-get install tmux)")
    return False


@pytest.mark.multiproc
def test_a_real_day_loses_doubles_and_damages_nothing(tmp_path):
    tickets = max(400, int(SECONDS * 5))  # enough for the day's closes and sign-fors
    tmux = _tmux()
    report = run_day(tmp_path, seconds=SECONDS, tickets=tickets, seed=SEED, tmux=tmux)
    print(report.summary())  # with -s: the day's figures
    # The day must really have happened, or the checks below prove nothing.
    assert sum(n for (source, _), n in report.claims.items() if source == "app") >= 3, report.summary()
    assert sum(n for (source, _), n in report.claims.items() if source != "app") >= 3, report.summary()
    if tmux:  # the tmux driver types a 50+ count once a day (the pilot fallback does not)
        assert report.app_steps["bulk note: count typed"] >= 1, report.summary()
    assert sum(report.kills.values()) >= 1, report.summary()
    assert report.fd_scans >= 10, report.summary()
    assert report.findings == [], report.summary()
