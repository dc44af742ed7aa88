"""An interrupted first sync resumes where it stopped instead of starting again (SPEC §4, §7).

The link is cut in the middle of a first pull — once between two pages, once in the middle of
a page's transfer — then restored; the next sync must fetch only what remained: the pages
stored before the cut are not asked for again, and the bytes after the cut are about what was
left, clearly less than a whole pull.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from bench.netem.fault_proxy import FaultProxy, LinkProfile
from local_db.api import TicketQuery, View
from local_db.replica import Replica
from sync.client import RetryPolicy, SyncClient
from sync.engine import sync
from sync.errors import SyncError
from tests.field.conftest import Village

N = 2_000
PAGE = 100  # 20 pages
#: A 3G-like link without random faults: the only fault in these tests is the cut.
LINK = LinkProfile(latency_ms=40, jitter_ms=10)
#: Give up quickly while the link is cut (the real policy waits longer; the test needs no more).
FAST_GIVE_UP = RetryPolicy(attempts=2, base=0.05, cap=0.1)


def _pull_bytes(proxy: FaultProxy) -> int:
    stats = proxy.stats
    return stats.bytes_up + stats.bytes_down


def _full_pull_bytes(village: Village, token: str, tmp_path: Path, n: int) -> int:
    """The bytes of a whole first pull over the same link: what a restart would cost."""
    with FaultProxy(village.upstream, LINK, seed=1) as proxy:
        replica = Replica.open(tmp_path / "reference.db", create=True)
        try:
            with SyncClient(f"http://127.0.0.1:{proxy.port}", token) as client:
                report = sync(replica, client, page_limit=PAGE)
        finally:
            replica.close()
        assert report.pulled_tickets == n
        assert proxy.wait_until(lambda s: s.active == 0)
        return _pull_bytes(proxy)


@pytest.mark.netns
@pytest.mark.parametrize("where", ["between_pages", "mid_page"])
def test_interrupted_first_sync_resumes(village: Village, tmp_path: Path, where: str) -> None:
    _unit, token, n = village.seed_unit(N)
    full = _full_pull_bytes(village, token, tmp_path, n)

    replica = Replica.open(tmp_path / "replica.db", create=True)
    try:
        with FaultProxy(village.upstream, LINK, seed=2) as proxy:
            url = f"http://127.0.0.1:{proxy.port}"
            cursors: list[str | None] = []
            cut_done = threading.Event()

            def progress(phase: str, done: int, total: int | None) -> None:
                if phase == "pull" and done > 0:
                    cursors.append(replica.state().cursor)  # committed with its page
                    if where == "between_pages" and done == 8 and not cut_done.is_set():
                        proxy.cut()
                        cut_done.set()

            watcher = None
            if where == "mid_page":
                # Cut by the bytes on the wire, whatever page is in flight: ~45% of a pull.
                def cut_when_far_enough() -> None:
                    if proxy.wait_until(lambda s: s.bytes_down >= full * 0.45, timeout=30):
                        proxy.cut()
                    cut_done.set()

                watcher = threading.Thread(target=cut_when_far_enough, daemon=True)
                watcher.start()

            with SyncClient(url, token, retry=FAST_GIVE_UP) as client, pytest.raises(SyncError):
                sync(replica, client, progress=progress, page_limit=PAGE)
            if watcher is not None:
                watcher.join(timeout=30)
            assert cut_done.is_set() and proxy.is_cut

            kept = replica.count(TicketQuery(view=View.ALL))
            pages_kept = len(cursors)
            assert 0 < kept < n, "the cut must fall inside the pull"
            assert kept == pages_kept * PAGE  # every page that arrived was stored whole
            assert replica.state().cursor == cursors[-1]  # ...with its cursor
            before_restore = _pull_bytes(proxy)

            proxy.restore()
            with SyncClient(url, token) as client:
                report = sync(replica, client, page_limit=PAGE)
            assert proxy.wait_until(lambda s: s.active == 0)
            after = _pull_bytes(proxy) - before_restore
    finally:
        final = replica.count(TicketQuery(view=View.ALL))
        replica.close()

    assert final == n
    # Nothing stored before the cut was fetched again: the resumed sync pulled exactly the rest.
    assert report.pulled_tickets == n - kept
    assert report.resets == 0
    remaining_share = (n - kept) / n
    # The bytes after the cut are about what remained (headers and the metrics page aside)...
    assert after <= full * (remaining_share + 0.1), (after, full, remaining_share)
    # ...and clearly less than a restart would cost.
    assert after < full * 0.8, (after, full)
