"""An in-memory copy of the search text, for substring search in milliseconds.

Why not SQL: ``instr()`` over the ``search`` table steps through 33 MB of UTF-8 one character
at a time (55–65 ms for 100,000 tickets on the 2-core machine, under load), and an index that
finds one- and two-character Chinese words (路, 路灯) would be a bigram posting list of tens of
millions of rows — far too dear for the first pull. Python's ``str.find`` over the same text
held as one string (UCS-2: 24 MB) runs the same search 3–5× faster (5–18 ms), so the replica
keeps that string in memory once something is searched, and keeps it current cheaply:

* new tickets get new, larger ``rid``s: only rows past the last one loaded are read;
* a changed or removed search text bumps ``meta.search_version`` (see Replica): rebuild.

What it answers: the ``rid``s whose text contains every given word, case-sensitively (the
meaning of ``instr``). Words with Latin letters (matched ignoring ASCII case, like ``LIKE``)
stay in SQL; see local_db/queries.py.
"""

from __future__ import annotations

import bisect
import itertools
import sqlite3
from array import array

#: Joins ticket texts in the big string; str.split() treats it as a space, so no word holds it.
_GAP = "\x1e"


class TextIndex:
    """The search text of every ticket, as one string, with where each ticket starts."""

    def __init__(self) -> None:
        self._version: str | None = None  # meta.search_version when loaded (None: never loaded)
        self._max_rid = 0
        self._rids = array("q")  # the rid of each ticket, ascending
        self._starts = array("q")  # where each ticket's text starts in _parts' join, and the end
        self._parts: list[str] = []  # chunks of joined text, appended to; joined on demand
        self._text = ""
        self._dirty = False
        self._cache: dict[tuple[str, ...], list[int]] = {}

    def refresh(self, conn: sqlite3.Connection, version: str, max_rid: int) -> None:
        """Bring the copy up to date with the ``search`` table (given its version and top rid)."""
        if version != self._version or max_rid < self._max_rid:
            self._load(conn, version, 0)
        elif max_rid > self._max_rid:
            self._load(conn, version, self._max_rid)

    def _load(self, conn: sqlite3.Connection, version: str, after_rid: int) -> None:
        if after_rid == 0:
            self._rids, self._starts, self._parts, self._text = array("q"), array("q", [0]), [], ""
        rows = conn.execute(
            "SELECT rid, text FROM search WHERE rid > ? ORDER BY rid", (after_rid,)
        ).fetchall()
        if rows:
            texts = [text for _, text in rows]
            end = self._starts[-1]
            self._rids.extend(rid for rid, _ in rows)
            ends = itertools.accumulate((len(t) + 1 for t in texts), initial=end)
            next(ends)  # ``end`` is already the last start
            self._starts.extend(ends)
            self._parts.append(_GAP.join(texts) + _GAP)
            self._dirty = True
            self._max_rid = rows[-1][0]
        elif after_rid == 0:
            self._max_rid = 0
        self._version = version
        self._cache.clear()

    def _joined(self) -> str:
        if self._dirty:
            self._text = "".join(self._parts)
            self._parts = [self._text]
            self._dirty = False
        return self._text

    def hits(self, words: list[str], cap: int | None = None) -> list[int] | None:
        """The rids (ascending) whose text contains every word (case-sensitive substrings).

        With ``cap``: None as soon as the first word is in more than ``cap`` tickets — a page of
        a common word (路: 43,703 of 100,000) need not list them all (35 ms) to find 50 rows.
        """
        self._joined()
        key = tuple(sorted(set(words)))
        if not key:
            return []
        found = self._cache.get(key)
        if found is None:
            # The rarest word first would be ideal; the longest is a cheap guess at it.
            first, *rest = sorted(key, key=len, reverse=True)
            where = self._find(first, cap)
            if where is None:
                return None
            found = [self._rids[i] for i in where if all(w in self._of(i) for w in rest)]
            if len(self._cache) > 64:
                self._cache.clear()
            self._cache[key] = found
        return found if cap is None or len(found) <= cap else None

    def _of(self, i: int) -> str:
        return self._text[self._starts[i] : self._starts[i + 1]]

    def _find(self, word: str, cap: int | None) -> list[int] | None:
        """Indexes of the tickets whose text contains ``word`` (None: more than ``cap``)."""
        text, starts, out = self._text, self._starts, []
        find, locate = text.find, bisect.bisect_right
        limit = len(self._rids) if cap is None else cap
        at = find(word)
        while at != -1:
            if len(out) == limit:
                return None
            i = locate(starts, at) - 1
            out.append(i)
            at = find(word, starts[i + 1])
        return out
