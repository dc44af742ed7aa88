"""What the sync bar shows: a plain value the app replaces whenever something changes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

Connectivity = Literal["online", "offline", "unknown", "unconfigured"]


@dataclass(frozen=True, slots=True)
class SyncStatus:
    connectivity: Connectivity = "unknown"
    unsent: int = 0
    conflicts: int = 0
    last_sync_at: dt.datetime | None = None
    running: bool = False
    phase: str | None = None  # "push" / "pull" while running
    done: int = 0
    total: int | None = None
    last_error: str | None = None
    #: Why the app's last sync failed ("unreachable", "auth", "error", "local"); None once one
    #: succeeds (the app's or another process's, e.g. cron's ``fycli sync``).
    failure: str | None = None
    failed_at: dt.datetime | None = None
    unit_name: str | None = None
    liaison_name: str | None = None
    network_cut: bool = False  # demo only: the network switch is off
