"""The pull is pipelined: page k+1 is fetched while page k is stored — without giving up
"each page is committed with its cursor, in order" (docs/protocol.md, SPEC §4).

Against a real ``fycli serve`` over HTTP; a transport wrapper records the requests as they
leave, a replica wrapper watches (or breaks) the stores.
"""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest

from central.service import decode_cursor
from local_db.api import TicketQuery, View
from local_db.replica import Replica
from sync.client import RetryPolicy, SyncClient
from sync.engine import DEFAULT_PAGE, _PageSizer, sync
from sync.errors import ServerError
from tests.servers import CentralServer

TICKETS = 30
PAGE = 10
PAGES = 3  # the last one says has_more: false and carries the metrics


class RecordingTransport(httpx.HTTPTransport):
    """Real HTTP; remembers each pull's cursor and limit as the request leaves."""

    def __init__(self) -> None:
        super().__init__()
        self.pulls: list[tuple[str | None, str | None]] = []
        self.sent = threading.Condition()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/sync/pull":
            with self.sent:
                self.pulls.append((request.url.params.get("cursor"), request.url.params.get("limit")))
                self.sent.notify_all()
        return super().handle_request(request)

    def wait_for_pulls(self, n: int, timeout: float = 10.0) -> bool:
        with self.sent:
            return self.sent.wait_for(lambda: len(self.pulls) >= n, timeout=timeout)


class WatchedReplica:
    """The replica; ``on_store(n, page)`` runs before the n-th page (1-based) is stored."""

    def __init__(self, replica: Replica, on_store) -> None:
        self._replica, self._on_store, self.stored = replica, on_store, 0

    def __getattr__(self, name: str):
        return getattr(self._replica, name)

    def apply_pull_page_raw(self, page: dict) -> None:
        self._on_store(self.stored + 1, page)
        self._replica.apply_pull_page_raw(page)
        self.stored += 1


@pytest.fixture
def unit(central_server: CentralServer) -> str:
    central_server.add_unit("u1")
    central_server.register_and_assign("u1", TICKETS)
    return central_server.add_liaison("u1")


def _count(replica) -> int:
    return replica.count(TicketQuery(view=View.ALL))


def test_next_page_is_requested_while_the_page_is_stored_and_cursors_stay_in_order(
    central_server: CentralServer, unit: str, tmp_path: Path
) -> None:
    transport = RecordingTransport()
    overlapped: list[bool] = []
    cursors: list[str] = []

    def on_store(n: int, page: dict) -> None:
        if page["has_more"]:
            # The request for page n+1 leaves before page n is stored (it waits for nothing).
            overlapped.append(transport.wait_for_pulls(n + 1))
        cursors.append(page["cursor"])

    with (
        Replica.open(tmp_path / "r.db", create=True) as inner,
        SyncClient(central_server.url, unit, transport=transport) as client,
    ):
        replica = WatchedReplica(inner, on_store)
        report = sync(replica, client, page_limit=PAGE)
        assert _count(inner) == TICKETS
        assert inner.state().cursor == cursors[-1]

    assert report.pages == len(cursors) == PAGES
    assert overlapped == [True] * (PAGES - 1)
    # Each request carried the cursor of the page stored just before it: none skipped, none
    # repeated, and no prefetched page was dropped and asked for again.
    assert [c for c, _limit in transport.pulls] == [None, *cursors[:-1]]
    assert len(transport.pulls) == report.pages
    seqs = [decode_cursor(c)[1] for c in cursors]
    assert seqs == sorted(seqs)


def test_a_page_that_fails_to_store_drops_the_prefetched_one_and_the_next_sync_resumes(
    central_server: CentralServer, unit: str, tmp_path: Path
) -> None:
    transport = RecordingTransport()
    stored_cursor: list[str] = []

    def on_store(n: int, page: dict) -> None:
        if n == 2:
            assert transport.wait_for_pulls(3)  # page 3 is on its way while page 2 fails
            raise ValueError("pulled ticket #0 is malformed: injected")
        stored_cursor.append(page["cursor"])

    with Replica.open(tmp_path / "r.db", create=True) as inner:
        with (
            SyncClient(
                central_server.url, unit, transport=transport, retry=RetryPolicy(attempts=1)
            ) as client,
            pytest.raises(ServerError, match="injected"),
        ):
            sync(WatchedReplica(inner, on_store), client, page_limit=PAGE)
        # Page 1 and its cursor are stored; neither page 2 nor the prefetched page 3.
        assert _count(inner) == PAGE
        assert inner.state().cursor == stored_cursor[0]

        with SyncClient(central_server.url, unit) as client:
            report = sync(inner, client, page_limit=PAGE)
        assert report.pulled_tickets == TICKETS - PAGE
        assert _count(inner) == TICKETS


def _full(n: int) -> dict:
    return {"has_more": True, "tickets": [{}] * n}


def test_page_size_grows_on_a_fast_link_and_stays_put_on_a_slow_one() -> None:
    fast = _PageSizer(None)
    assert fast.next_limit() is None  # the server's default first
    fast.observe(None, _full(DEFAULT_PAGE), 0.1)
    assert DEFAULT_PAGE < fast.next_limit() <= 4 * DEFAULT_PAGE
    fast.observe(fast.next_limit(), _full(fast.next_limit()), 0.1)
    assert fast.next_limit() == 5000  # the protocol's maximum
    fast.observe(5000, {"has_more": False, "tickets": []}, 0.1)
    assert fast.next_limit() is None  # caught up: the next pull starts small again

    slow = _PageSizer(None)
    slow.observe(None, _full(DEFAULT_PAGE), 12.0)  # ~2G: 12 s for a default page
    assert slow.next_limit() is None

    fixed = _PageSizer(PAGE)
    fixed.observe(PAGE, _full(PAGE), 0.001)
    assert fixed.next_limit() == PAGE
