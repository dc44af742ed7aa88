"""The set-up the benchmarks share: a seeded central service and a synced replica.

Everything is made lazily and at most once per suite run, so ``--only NAME`` builds just what
that benchmark needs, and the full suite seeds the 100,000 tickets once.
"""

from __future__ import annotations

import datetime as dt
import secrets
import shutil
import sqlite3
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.harness import Server, Workdir, log, start_server, timed

#: The township whose unit gets the big seeded load (any real township of central.seed_data).
BIG_COUNTY, BIG_TOWNSHIP = "临泉县", "杨桥镇"
#: A second, small unit on the same server, for the link benchmarks.
SMALL_COUNTY, SMALL_TOWNSHIP = "颍上县", "谢桥镇"


@dataclass
class Unit:
    """A unit seeded on the server, with one liaison's token."""

    unit_id: str
    liaison_token: str
    tickets: int


@dataclass
class Central:
    """A running central service and how to talk to it as the platform."""

    server: Server
    admin_token: str
    units: dict[str, Unit] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url

    def admin(self, timeout: float = 600.0) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.admin_token}"}, timeout=timeout
        )

    def seed_unit(self, county: str, township: str, n: int, *, seed: int = 1) -> Unit:
        """Seed about ``n`` tickets into one township's unit and make a liaison for it.

        The seeding (``POST /v1/admin/seed``) leaves ~3% of appeals registered but not yet
        assigned to any unit; it is asked for enough appeals that the unit gets about ``n``.
        """
        asked = -(-n * 100 // 97) if n >= 100 else n
        with self.admin() as admin:
            before = {u["id"] for u in _ok(admin.get("/v1/admin/units"))}
            with timed() as t:
                body = {"tickets": asked, "seed": seed, "county": county, "township": township}
                summary = _ok(admin.post("/v1/admin/seed", json=body))
            in_unit = asked - int(summary.get("by_status", {}).get("registered", 0))
            log(f"seeded {asked} appeals of {township} ({in_unit} in its unit) in {t():.1f} s")
            units = _ok(admin.get("/v1/admin/units"))
            unit_id = _unit_of(units, township, before)
            made = _ok(
                admin.post("/v1/admin/liaisons", json={"name": f"bench {township}", "unit_id": unit_id})
            )
        unit = Unit(unit_id, made["token"], in_unit)
        self.units[township] = unit
        return unit

    def ticket_ids(self, unit_id: str, limit: int, status: str | None = None) -> list[str]:
        """Up to ``limit`` ticket ids of a unit, in id order (the admin list API, paged)."""
        ids: list[str] = []
        after: str | None = None
        with self.admin() as admin:
            while len(ids) < limit:
                params: dict[str, str | int] = {"unit_id": unit_id, "limit": min(1000, limit - len(ids))}
                if status:
                    params["status"] = status
                if after:
                    params["after"] = after
                page = _ok(admin.get("/v1/admin/tickets", params=params))
                ids += [tk["id"] for tk in page["tickets"]]
                after = page.get("next")
                if not after:
                    break
        return ids[:limit]

    def open_ticket_ids(self, unit_id: str, limit: int) -> list[str]:
        """Up to ``limit`` open tickets (assigned or in progress): the ones an urge applies to."""
        ids = self.ticket_ids(unit_id, limit, status="in_progress")
        if len(ids) < limit:
            ids += self.ticket_ids(unit_id, limit - len(ids), status="assigned")
        return ids

    def act(self, actions: Iterable[tuple[str, dict]], *, threads: int = 4) -> int:
        """Post central actions ``(ticket_id, action body)``; returns how many were applied."""
        items = list(actions)

        def one(admin: httpx.Client, item: tuple[str, dict]) -> bool:
            ticket_id, body = item
            body = {"ticket_id": ticket_id, "created_at": dt.datetime.now(dt.UTC).isoformat(), **body}
            answer = _ok(admin.post(f"/v1/admin/tickets/{ticket_id}/actions", json=body))
            return answer.get("outcome") == "applied"

        with self.admin() as admin, ThreadPoolExecutor(threads) as pool:
            return sum(pool.map(lambda item: one(admin, item), items))

    def urge(self, ticket_ids: Iterable[str], comment: str = "请加快办理") -> int:
        """催办 each ticket: a central change that every replica of the unit must pull."""
        return self.act((tid, {"kind": "urge", "ticket_id": tid, "comment": comment}) for tid in ticket_ids)


def _ok(resp: httpx.Response):
    if resp.status_code >= 400:
        raise RuntimeError(
            f"{resp.request.method} {resp.request.url} -> {resp.status_code}: {resp.text[:500]}"
        )
    return resp.json()


def _unit_of(units: list[dict], township: str, before: set[str]) -> str:
    for unit in units:
        if unit.get("township") == township:
            return str(unit["id"])
    fresh = [u for u in units if u["id"] not in before]
    if len(fresh) == 1:
        return str(fresh[0]["id"])
    raise RuntimeError(f"cannot tell which unit holds {township}'s tickets among {units[:5]}…")


def start_central(work: Workdir, db_url: str | None = None, name: str = "central") -> Central:
    """A fresh ``fycli serve`` on a new SQLite file (or ``db_url``), with a known admin token."""
    token = "bench-admin-" + secrets.token_hex(8)
    if db_url is None:
        db_url = f"sqlite:///{work.sub(name) / 'central.db'}"
    server = start_server(db_url, work.sub(name), env={"FYCLI_ADMIN_TOKEN": token})
    return Central(server, token)


def copy_replica(src: Path, dst: Path) -> Path:
    """Copy a closed replica file (with its WAL, if any) to ``dst``."""
    for suffix in ("", "-wal", "-shm"):
        source = Path(str(src) + suffix)
        target = Path(str(dst) + suffix)
        if source.exists():
            shutil.copyfile(source, target)
        else:
            target.unlink(missing_ok=True)
    return dst


def checkpoint(path: Path) -> None:
    """Fold a closed SQLite file's WAL back into it, so one file is the whole replica."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
