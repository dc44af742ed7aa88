"""The state one suite run shares between benchmarks (see :mod:`bench.run`)."""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bench.fixtures import (
    BIG_COUNTY,
    BIG_TOWNSHIP,
    SMALL_COUNTY,
    SMALL_TOWNSHIP,
    Central,
    Unit,
    checkpoint,
    start_central,
)
from bench.harness import Workdir, log, run_json


@dataclass
class Settings:
    """Sizes and repetitions. ``quick`` is the ~1-minute smoke version."""

    quick: bool = False
    tickets: int = 100_000  # the big unit (first pull, TUI)
    runs: int = 3  # repetitions of each timed figure (medians)
    bulk: int = 10_000  # tickets closed in one bulk action
    changed_share: float = 0.01  # incremental sync: share of the big unit changed centrally
    small_tickets: int = 2_000  # the small unit (link profiles)
    link_changes: int = 20  # tickets changed before each link-profile sync
    pg_levels: tuple[int, ...] = (50, 150, 300)  # concurrent liaisons on PostgreSQL
    pg_units: int = 40
    pg_seconds: float = 15.0  # duration of each load level
    keep: bool = False  # keep the scratch directory

    @classmethod
    def quick_settings(cls, tickets: int = 3_000) -> Settings:
        return cls(
            quick=True,
            tickets=tickets,
            runs=1,
            bulk=min(1_000, tickets // 3),
            small_tickets=300,
            link_changes=5,
            pg_levels=(10,),
            pg_units=4,
            pg_seconds=3.0,
        )


@dataclass
class Context:
    settings: Settings
    work: Workdir
    _central: Central | None = None
    #: A replica fully synced with the big unit, closed and checkpointed: copy it, never open it.
    synced_replica: Path | None = None
    #: Figures one benchmark measured that another reports against (e.g. bytes per ticket).
    shared: dict[str, float] = field(default_factory=dict)
    _closers: list = field(default_factory=list)

    @property
    def quick(self) -> bool:
        return self.settings.quick

    def central(self) -> Central:
        """The SQLite-backed central service with the big unit seeded (made on first use)."""
        if self._central is None:
            central = start_central(self.work)
            self._closers.append(central.server.stop)
            log(f"central service at {central.url}; seeding {self.settings.tickets} tickets")
            central.seed_unit(BIG_COUNTY, BIG_TOWNSHIP, self.settings.tickets, seed=1)
            self._central = central
        return self._central

    def big_unit(self) -> Unit:
        return self.central().units[BIG_TOWNSHIP]

    def small_unit(self) -> Unit:
        central = self.central()
        if SMALL_TOWNSHIP not in central.units:
            central.seed_unit(SMALL_COUNTY, SMALL_TOWNSHIP, self.settings.small_tickets, seed=2)
        return central.units[SMALL_TOWNSHIP]

    def synced(self) -> Path:
        """The path of a replica fully synced with the big unit (pulled now if no benchmark has
        made one yet). Copy it with :func:`bench.fixtures.copy_replica`; never open it."""
        if self.synced_replica is None:
            unit = self.big_unit()
            db = self.work.sub("synced") / "replica.db"
            argv = [sys.executable, "-m", "bench.pull_client", "--url", self.central().url]
            run_json([*argv, "--token", unit.liaison_token, "--db", str(db), "--create"], timeout=900)
            checkpoint(db)
            self.synced_replica = db
        return self.synced_replica

    def on_close(self, fn) -> None:
        self._closers.append(fn)

    def close(self) -> None:
        for fn in reversed(self._closers):
            with contextlib.suppress(Exception):
                fn()
        self._closers.clear()
        self.work.cleanup()
