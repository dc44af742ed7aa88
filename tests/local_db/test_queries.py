"""Queue queries on a few thousand realistic tickets, checked against plain Python over the same data."""

from __future__ import annotations

import datetime as dt

import pytest

from local_db.api import SortKey, TicketQuery, View
from local_db.columns import micros
from local_db.replica import Replica
from schemas.calendar import WorkCalendar
from tests.local_db.factory import FIXED_NOW, fixed_clock, make_replica, make_tickets, page, ticket_json

N = 3000


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    r = make_replica(tmp_path_factory.mktemp("q") / "r.db", N, page_size=700)
    yield r, {t["id"]: t for t in make_tickets(N)}
    r.close()


def _due(t: dict) -> str | None:
    if t["status"] == "assigned":
        return t["sign_due"]
    return t["handle_due"] if t["status"] in ("in_progress", "return_requested") else None


def _expected(tickets: dict, q: TicketQuery) -> list[str]:
    today = FIXED_NOW.date()
    soon = WorkCalendar().add_working_days(today, 1).due.isoformat()
    today_s = today.isoformat()

    def in_view(t) -> bool:
        due = _due(t)
        return {
            View.ALL: True,
            View.ASSIGNED: t["status"] == "assigned",
            View.IN_PROGRESS: t["status"] == "in_progress",
            View.RESOLVED: t["status"] in ("resolved", "closed", "archived"),
            View.PENDING_DECISION: t["status"] == "return_requested" or t["extension"] is not None,
            View.OVERDUE: due is not None and due < today_s,
            View.DUE_SOON: due is not None and today_s <= due <= soon,
        }[q.view]

    def matches(t) -> bool:
        text = f"{t['id']}\x1f{t['title']}\x1f{t['address']}\x1f{t['description']}".lower()
        return (
            in_view(t)
            and all(getattr(q, f) in (None, t[f]) for f in ("category", "channel", "complexity", "village"))
            and all(w.lower() in text for w in q.search.split())
        )

    hits = [t for t in tickets.values() if matches(t)]
    if q.sort is SortKey.DEADLINE:
        hits.sort(key=lambda t: (_due(t) or "9999-12-31", t["id"]))
    elif q.sort is SortKey.UPDATED:
        hits.sort(key=lambda t: (micros(dt.datetime.fromisoformat(t["updated_at"])), t["id"]), reverse=True)
    else:
        hits.sort(key=lambda t: t["id"])
    return [t["id"] for t in hits]


def _all_pages(replica, q, limit) -> list[str]:
    ids, after = [], None
    while True:
        rows = replica.query(q, after=after, limit=limit)
        ids += [r.id for r in rows]
        if len(rows) < limit:
            return ids
        after = rows[-1].key


QUERIES = [
    TicketQuery(),
    TicketQuery(view=View.ASSIGNED),
    TicketQuery(view=View.IN_PROGRESS, sort=SortKey.UPDATED),
    TicketQuery(view=View.OVERDUE),
    TicketQuery(view=View.DUE_SOON, sort=SortKey.NUMBER),
    TicketQuery(view=View.RESOLVED, sort=SortKey.UPDATED),
    TicketQuery(view=View.PENDING_DECISION),
    TicketQuery(category="城市管理", sort=SortKey.NUMBER),
    TicketQuery(channel="wechat", complexity="urgent"),
    TicketQuery(search="路灯"),
    TicketQuery(search="路"),
    TicketQuery(search="噪音"),
    TicketQuery(search="噪音 扰民", view=View.ALL),
    TicketQuery(search="fy2500001", sort=SortKey.NUMBER),
    TicketQuery(search="不存在的词"),
]


@pytest.mark.parametrize(
    "q", QUERIES, ids=lambda q: f"{q.view.value}-{q.sort.value}-{q.search or q.category or q.channel or ''}"
)
def test_paging_sorting_counting(big, q):
    replica, tickets = big
    expected = _expected(tickets, q)
    assert _all_pages(replica, q, 97) == expected
    assert replica.count(q) == len(expected)
    assert list(replica.ids_matching(q)) == expected


def test_views_are_populated_and_counts_by_view_agree(big):
    replica, _ = big
    counts = replica.counts_by_view()
    for view in View:
        assert counts[view] == replica.count(TicketQuery(view=view)), view
    for view in (
        View.ASSIGNED,
        View.IN_PROGRESS,
        View.OVERDUE,
        View.DUE_SOON,
        View.RESOLVED,
        View.PENDING_DECISION,
    ):
        assert counts[view] > 0, view
    assert counts[View.ALL] == N


def test_rows_carry_days_left_and_badges(big):
    replica, tickets = big
    calendar = WorkCalendar()
    today = FIXED_NOW.date()
    for row in replica.query(TicketQuery(view=View.OVERDUE), limit=20):
        assert row.days_left is not None and row.days_left < 0
        assert row.days_left == calendar.working_days_left(today, row.due)
        assert row.badge == "synced" and row.in_scope
    for row in replica.query(TicketQuery(view=View.DUE_SOON), limit=20):
        assert row.days_left in (0, 1)
    closed = replica.query(TicketQuery(view=View.RESOLVED), limit=5)
    assert all(r.days_left is None and r.due is None for r in closed)
    assert closed[0].title == tickets[closed[0].id]["title"]


def test_bad_after_key_is_refused(big):
    replica, _ = big
    with pytest.raises(ValueError):
        replica.query(TicketQuery(), after=("only-one",))


@pytest.mark.parametrize(
    ("word", "hits"),
    [
        ("灯", {"T1", "T2"}),
        ("路灯", {"T1", "T2"}),
        ("噪音", {"T3"}),
        ("广场舞噪音", {"T3"}),
        ("wifi", {"T4"}),
        ("t5", {"T5"}),
        ("%", set()),
        ("_", set()),
    ],
)
def test_search_words_of_any_length(replica, word, hits):
    replica.apply_pull_page_raw(
        page(
            [
                ticket_json("T1", title="路灯不亮", description="", address="人民路"),
                ticket_json("T2", title="夜间出行难", description="村口路灯坏了", address="王庄村"),
                ticket_json("T3", title="扰民", description="小区广场舞噪音大", address="颍州区"),
                ticket_json("T4", title="公共WiFi无法连接", description="", address="图书馆"),
                ticket_json("T5", title="咨询", description="", address="阜阳"),
            ],
            cursor="s1",
        )
    )
    found = set(replica.ids_matching(TicketQuery(search=word))) & {"T1", "T2", "T3", "T4", "T5"}
    assert found == hits


SEARCHES = [
    TicketQuery(search="路"),
    TicketQuery(search="路灯", view=View.IN_PROGRESS),
    TicketQuery(search="噪音 扰民", sort=SortKey.UPDATED),
    TicketQuery(search="fy25 路"),
    TicketQuery(search="路", category="城市管理", sort=SortKey.NUMBER),
]


@pytest.mark.parametrize("list_hits", [0, 10**9], ids=["walk", "list"])
@pytest.mark.parametrize("q", SEARCHES, ids=lambda q: f"{q.view.value}-{q.sort.value}-{q.search}")
def test_search_plans_give_the_same_rows(big, q, list_hits, monkeypatch):
    """A page walks the sort order testing each row, or lists the text index's hits: same rows."""
    replica, tickets = big
    monkeypatch.setattr(replica, "_LIST_HITS", list_hits)
    expected = _expected(tickets, q)
    assert expected
    assert _all_pages(replica, q, 61) == expected
    assert replica.count(q) == len(expected)


def _search(replica, word: str) -> set[str]:
    return set(replica.ids_matching(TicketQuery(search=word)))


def test_search_sees_every_change(replica, tmp_path):
    """The in-memory search text follows new tickets, changed texts, resets and other connections."""
    assert _search(replica, "路灯") == {"A1", "P1", "R1"}
    replica.apply_pull_page_raw(page([ticket_json("N1", title="井盖缺失", description="")], cursor="c2"))
    assert _search(replica, "井盖") == {"N1"}
    assert replica.count(TicketQuery(search="井盖")) == 1
    changed = [
        ticket_json("P1", title="噪音扰民", description=""),
        ticket_json("N3", title="噪音", description=""),
    ]
    replica.apply_pull_page_raw(page(changed, cursor="c3"))
    assert _search(replica, "路灯") == {"A1", "R1"}  # P1's address still says 人民路, not 路灯
    assert _search(replica, "噪音") == {"P1", "N3"}
    assert replica.count(TicketQuery(search="噪音")) == 2
    # another connection on the same file writes: this one sees it at its next search
    other = Replica.open(replica.path, clock=fixed_clock)
    try:
        other.apply_pull_page_raw(page([ticket_json("A1", description="窨井盖松动")], cursor="c4"))
        other.apply_pull_page_raw(page([ticket_json("N2", title="井盖响")], cursor="c5"))
    finally:
        other.close()
    assert _search(replica, "井盖") == {"A1", "N1", "N2"}
    assert replica.count(TicketQuery(search="井盖")) == 3
    replica.reset_pulled_state()
    assert _search(replica, "井盖") == set()
    assert replica.count(TicketQuery(search="井盖")) == 0
    replica.apply_pull_page_raw(page([ticket_json("Z1", title="路灯")], cursor="c6"))
    assert _search(replica, "路灯") == {"Z1"}
