"""The raw limit of a first pull: decode the pages' JSON and bulk-insert them into SQLite.

This is the floor any replica is measured against (SPEC §7): the same bytes the server sent,
un-gzipped, decoded, and inserted row by row in ONE transaction into plain tables — no
validation, no derived columns, no full-text index, no views. A real pull also pays for the
server building the pages, HTTP, validation and the replica's indexes; the budget says how much
all of that may cost on top.

Tables: one per list in a page (``tickets``, ``notes``, ``events``), one column per top-level
key, nested values stored as JSON text (which is what a replica must at least do with them).
"""

from __future__ import annotations

import gzip
import json
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

try:
    import orjson
except ImportError:  # pragma: no cover - orjson is a dependency, but the limit works without it
    orjson = None  # type: ignore[assignment]

LISTS = ("tickets", "notes", "events")


@dataclass
class Page:
    """One pull answer as it came off the wire."""

    raw: bytes  # the body as transferred (gzip when content_encoding says so)
    content_encoding: str
    header_bytes: int  # status line + headers, approximately as sent

    def body(self) -> bytes:
        return gzip.decompress(self.raw) if self.content_encoding == "gzip" else self.raw


def fetch_pages(base_url: str, token: str, *, limit: int | None = None, timeout: float = 120.0) -> list[Page]:
    """Pull every page once from the beginning, keeping the bytes exactly as transferred."""
    pages: list[Page] = []
    cursor: str | None = None
    headers = {"Authorization": f"Bearer {token}", "Accept-Encoding": "gzip"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=timeout) as client:
        while True:
            params: dict[str, str | int] = {}
            if cursor:
                params["cursor"] = cursor
            if limit:
                params["limit"] = limit
            with client.stream("GET", "/v1/sync/pull", params=params) as resp:
                resp.raise_for_status()
                raw = b"".join(resp.iter_raw())
                head = sum(len(k) + len(v) + 4 for k, v in resp.headers.raw) + 17
                page = Page(raw, resp.headers.get("content-encoding", ""), head)
            pages.append(page)
            data = json.loads(page.body())
            cursor = data["cursor"]
            if not data.get("has_more"):
                return pages


def _cell(value: object, dumps: Callable[[object], str]) -> object:
    if isinstance(value, dict | list):
        return dumps(value)
    if isinstance(value, bool):
        return int(value)
    return value


def decode_and_insert(pages: Sequence[Page], db_path: Path, *, decoder: str = "orjson") -> dict[str, float]:
    """Un-gzip, decode and insert ``pages`` into a new SQLite file in one transaction.

    Returns {"seconds", "tickets", "rows"}. ``decoder`` is "orjson" or "json" (stdlib).
    """
    if decoder == "orjson" and orjson is not None:
        loads: Callable[[bytes], object] = orjson.loads

        def dumps(v: object) -> str:
            return orjson.dumps(v).decode()
    else:
        loads = json.loads

        def dumps(v: object) -> str:
            return json.dumps(v, ensure_ascii=False, separators=(",", ":"))

    db_path.unlink(missing_ok=True)
    start = time.perf_counter()
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        columns: dict[str, list[str]] = {}
        rows = 0
        tickets = 0
        conn.execute("BEGIN")
        for page in pages:
            data = loads(page.body())
            assert isinstance(data, dict)
            for name in LISTS:
                items = data.get(name) or []
                if not items:
                    continue
                cols = columns.get(name)
                if cols is None:
                    cols = list(items[0].keys())
                    columns[name] = cols
                    key = " PRIMARY KEY" if name == "tickets" else ""
                    defs = ", ".join(f'"{c}"' + (key if c == "id" else "") for c in cols)
                    conn.execute(f"CREATE TABLE {name} ({defs})")
                marks = ", ".join("?" * len(cols))
                sql = f"INSERT OR REPLACE INTO {name} VALUES ({marks})"
                conn.executemany(sql, [[_cell(item.get(c), dumps) for c in cols] for item in items])
                rows += len(items)
                if name == "tickets":
                    tickets += len(items)
        conn.execute("COMMIT")
    finally:
        conn.close()
    return {"seconds": time.perf_counter() - start, "tickets": tickets, "rows": rows}
