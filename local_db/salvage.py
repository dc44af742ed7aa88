"""Saving the liaison's unsent work to a file, and queuing it again in another replica.

No advice fycli prints may throw away unsent work (SPEC §4). Before a damaged replica is moved
aside, ``fycli outbox export FILE`` saves its outbox (the unsent actions, as they were queued)
and its conflict inbox (the refused actions with the texts someone typed) to a JSON file;
``fycli outbox import FILE`` puts them into a fresh replica, which sends them at its next sync.

The actions keep their ids: the server de-duplicates by action id, so an action that did reach
the server before (sent, its answer lost) is answered "duplicate" and not applied twice.
Importing the same file twice queues nothing the second time.

The export reads the file through SQLite, read-only, without the checks that opening a replica
makes, so a replica too damaged to open still gives whatever of its outbox SQLite can read.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from local_db.api import ReplicaError
from schemas.actions import LiaisonActionT
from schemas.enums import Reason
from schemas.ticket import Ticket

#: What the file says it is; an import refuses anything else.
FORMAT = "fycli-unsent-work"
VERSION = 1

_ACTION = TypeAdapter(LiaisonActionT)
_OUTBOX = ("seq", "action_id", "group_id", "ticket_id", "kind", "json", "created_at", "sent")
_CONFLICT = (
    "action_id",
    "ticket_id",
    "kind",
    "json",
    "reason",
    "message",
    "server_ticket",
    "changed_by",
    "changed_at",
    "refused_at",
)


@dataclass(frozen=True, slots=True)
class SavedWork:
    """A checked export: the outbox entries and the open conflicts, each a dict of columns."""

    unit_id: str | None
    outbox: list[dict[str, Any]]
    conflicts: list[dict[str, Any]]


def export_unsent(path: Path, now: dt.datetime | None = None) -> dict[str, Any]:
    """The unsent work of the replica at ``path`` as a JSON-ready document. Writes nothing.

    Raises ReplicaError, saying what to try, when SQLite cannot read the outbox at all.
    """
    if not path.is_file():
        raise ReplicaError(f"no replica at {path}; give the path of the replica file (--db)")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=10.0)
    except sqlite3.Error as e:
        raise ReplicaError(f"cannot open {path} to save its unsent work ({e})") from e
    try:
        try:
            outbox = _rows(conn, f"SELECT {', '.join(_OUTBOX)} FROM outbox ORDER BY seq", _OUTBOX)
        except sqlite3.DatabaseError as e:
            raise ReplicaError(
                f"SQLite cannot read the unsent actions in {path} ({e}); keep the file, and try "
                f"`sqlite3 {path.name} .recover` (its outbox table holds them)."
            ) from e
        try:
            conflicts = _rows(
                conn, f"SELECT {', '.join(_CONFLICT)} FROM conflicts WHERE state = 'open'", _CONFLICT
            )
        except sqlite3.DatabaseError:
            conflicts = None  # the outbox is what matters most; the export says what is missing
        meta = _meta(conn)
    finally:
        conn.close()
    return {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": (now or dt.datetime.now(dt.UTC)).isoformat(),
        "replica": str(path),
        "unit_id": meta.get("unit_id"),
        "client_id": meta.get("client_id"),
        "outbox": outbox,
        "conflicts": conflicts if conflicts is not None else [],
        "conflicts_unreadable": conflicts is None,
    }


def _rows(conn: sqlite3.Connection, sql: str, columns: tuple[str, ...]) -> list[dict[str, Any]]:
    return [dict(zip(columns, row, strict=True)) for row in conn.execute(sql)]


def _meta(conn: sqlite3.Connection) -> dict[str, str | None]:
    try:
        return dict(conn.execute("SELECT key, value FROM meta WHERE key IN ('unit_id', 'client_id')"))
    except sqlite3.DatabaseError:
        return {}


def check_saved(doc: Any, source: str) -> SavedWork:
    """Check an exported document completely (every action against the schema) before anything
    is queued; raise ReplicaError naming what is wrong in ``source``."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ReplicaError(f"{source} is not a file written by `fycli outbox export`")
    if doc.get("version") != VERSION:
        raise ReplicaError(f"{source} was written by another fycli version (format {doc.get('version')!r})")
    outbox, conflicts = doc.get("outbox"), doc.get("conflicts")
    if not isinstance(outbox, list) or not isinstance(conflicts, list):
        raise ReplicaError(f"{source}: 'outbox' and 'conflicts' must be lists")
    for what, items, columns in (("outbox", outbox, _OUTBOX[1:]), ("conflicts", conflicts, _CONFLICT)):
        for i, item in enumerate(items):
            if not isinstance(item, dict) or any(c not in item for c in columns):
                raise ReplicaError(
                    f"{source}: {what} entry #{i + 1} is incomplete (needs {', '.join(columns)})"
                )
            try:
                action = _ACTION.validate_json(item["json"])
            except (ValidationError, TypeError) as e:
                raise ReplicaError(f"{source}: {what} entry #{i + 1} is not a valid action ({e})") from None
            if action.action_id != item["action_id"] or action.ticket_id != item["ticket_id"]:
                raise ReplicaError(f"{source}: {what} entry #{i + 1} does not match its action")
            if what == "conflicts":
                _check_conflict(item, f"{source}: conflicts entry #{i + 1}")
    unit = doc.get("unit_id")
    return SavedWork(unit if isinstance(unit, str) else None, outbox, conflicts)


def _check_conflict(item: dict[str, Any], where: str) -> None:
    """A saved conflict must read back as the inbox reads it (reason, the server's ticket)."""
    try:
        Reason(item["reason"])
        if item["server_ticket"] is not None:
            Ticket.model_validate_json(item["server_ticket"])
        if item["changed_at"] is not None:
            dt.datetime.fromisoformat(item["changed_at"])
        dt.datetime.fromisoformat(item["refused_at"])
    except (ValueError, TypeError) as e:
        raise ReplicaError(f"{where} is malformed ({str(e).splitlines()[0]})") from None
