"""SQL for the queue: the views, filters, search, sorts and keyset paging over ``tickets``.

Everything here reads the narrow ``tickets`` table, whose columns were computed at write time
(see local_db/columns.py); the deadline views compare its ``due`` column with today's date and
the next working day, so they stay right as days pass without rewriting any row.

Search looks for each space-separated word as a substring of ``search.text`` (number, title,
address, description): ``instr`` for Chinese and digits, which finds words of any length (路,
路灯, 噪音扰民), and ``LIKE`` (ASCII case-insensitive) for words with Latin letters. Measured on 100,000
seeded tickets, a full ``instr`` scan is cheaper than keeping an FTS5 trigram index, which
would not find 1- and 2-character words anyway and would slow the first pull; but at 55 ms it
is too slow for a keystroke, so the replica finds the rids of non-Latin words in an in-memory
copy of the text (local_db/textindex.py) and passes them here, or walks the sort order for a
common word (see :func:`where`).
"""

from __future__ import annotations

from local_db.api import SearchTooLong, SortKey, TicketQuery, View, search_problem

RESOLVED_STATUSES = ("resolved", "closed", "archived")

#: Each view as a condition on ``tickets`` (alias ``t``); ``:today`` and ``:soon`` are ISO dates.
VIEW_SQL: dict[View, str] = {
    View.ASSIGNED: "t.in_scope = 1 AND t.status = 'assigned'",
    View.IN_PROGRESS: "t.in_scope = 1 AND t.status = 'in_progress'",
    View.DUE_SOON: "t.in_scope = 1 AND t.due_sort >= :today AND t.due_sort <= :soon",
    View.OVERDUE: "t.in_scope = 1 AND t.due_sort < :today",
    View.RESOLVED: "t.in_scope = 1 AND t.status IN ('resolved', 'closed', 'archived')",
    View.PENDING_DECISION: "t.in_scope = 1 AND (t.status = 'return_requested' OR t.has_ext = 1)",
    View.CONFLICTS: "t.conflict > 0",
    View.ALL: "t.in_scope = 1",
    View.OUT_OF_SCOPE: "t.in_scope = 0",
}

#: ORDER BY, the key columns, and the keyset comparison (row value after the previous key).
SORT_SQL: dict[SortKey, tuple[str, tuple[str, ...], str]] = {
    SortKey.DEADLINE: ("t.due_sort, t.id", ("due_sort", "id"), "(t.due_sort, t.id) > (:k0, :k1)"),
    SortKey.UPDATED: (
        "t.updated_us DESC, t.id DESC",
        ("updated_us", "id"),
        "(t.updated_us, t.id) < (:k0, :k1)",
    ),
    SortKey.NUMBER: ("t.id", ("id",), "t.id > :k0"),
}


def search_words(search: str) -> list[str]:
    """The words of a search; raises SearchTooLong for one SQLite could not run (or too slowly)."""
    problem = search_problem(search)
    if problem is not None:
        raise SearchTooLong(problem)
    return [w for w in search.split() if w]


def is_latin(word: str) -> bool:
    """Words with Latin letters match ignoring ASCII case (``LIKE``); others exactly (``instr``)."""
    return word.isascii() and any(ch.isalpha() for ch in word)


def _word_tests(words: list[str], params: dict) -> list[str]:
    tests = []
    for word in words:
        name = f"w{len(params)}"
        if is_latin(word):
            # Latin letters: LIKE ignores ASCII case (fy25 finds FY25...); escape its wildcards.
            escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            params[name] = f"%{escaped}%"
            tests.append(f"s.text LIKE :{name} ESCAPE '\\'")
        else:
            # Chinese and digits: a plain substring test, any length (路, 路灯, 噪音扰民).
            params[name] = word
            tests.append(f"instr(s.text, :{name}) > 0")
    return tests


def where(q: TicketQuery, params: dict, *, hits: list[int] | None = None, walk: bool = False) -> str:
    """The WHERE clause of ``q`` (no keyset part); adds its parameters to ``params``.

    Search, three ways (the replica picks one; all give the same rows):

    * ``hits`` (the rids the in-memory text index found for the words without Latin letters):
      ``t.rid IN`` that list, plus a per-row test of any Latin word — cheap when it is short;
    * ``walk``: a per-row test of every word on each row the sort order reaches — cheap for a
      page of a common word, where LIMIT stops the walk after a few thousand rows;
    * neither: one scan of ``search`` into a set of rids (the outer query keeps its sort index).
    """
    parts = [VIEW_SQL[q.view]]
    for column in ("category", "channel", "complexity", "village"):
        value = getattr(q, column)
        if value is not None:
            params[column] = value
            parts.append(f"t.{column} = :{column}")
    words = search_words(q.search)
    if words:
        if walk:
            tests = _word_tests(words, params)
            parts.append(f"EXISTS (SELECT 1 FROM search s WHERE s.rid = t.rid AND {' AND '.join(tests)})")
        elif hits is not None:
            params["hits"] = "[" + ",".join(map(str, hits)) + "]"
            parts.append("t.rid IN (SELECT value FROM json_each(:hits))")
            latin = [w for w in words if is_latin(w)]
            if latin:
                tests = _word_tests(latin, params)
                parts.append(f"EXISTS (SELECT 1 FROM search s WHERE s.rid = t.rid AND {' AND '.join(tests)})")
        else:
            tests = _word_tests(words, params)
            parts.append(f"t.rid IN (SELECT s.rid FROM search s WHERE {' AND '.join(tests)})")
    return " AND ".join(parts)


def page_sql(
    q: TicketQuery,
    params: dict,
    *,
    after: tuple | None,
    limit: int,
    select: str,
    hits: list[int] | None = None,
    walk: bool = False,
) -> str:
    order, key_columns, keyset = SORT_SQL[q.sort]
    if q.village is not None:
        # A village holds a few hundred of 100,000 tickets: walking the sort index and looking up
        # each row's village crossed the whole table (40-190 ms); a scan of the narrow table then
        # sorting the few matches takes 15 ms. The unary + keeps the planner off the index.
        order = "+" + order
    sql_where = where(q, params, hits=hits, walk=walk)
    if after is not None:
        if len(after) != len(key_columns):
            raise ValueError(f"`after` must be a row key of the {q.sort.value} sort, got {after!r}")
        for i, value in enumerate(after):
            params[f"k{i}"] = value
        sql_where += f" AND {keyset}"
    sql = f"SELECT {select} FROM tickets t WHERE {sql_where} ORDER BY {order}"
    if limit >= 0:
        params["limit"] = limit
        sql += " LIMIT :limit"
    return sql
