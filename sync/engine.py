"""The sync loop: push the outbox, pull until quiet, repeat while work appeared meanwhile.

The engine holds no state of its own: everything it must remember (the outbox, the cursor, the
client id) is in the replica and changes only in the replica's own transactions. That is what
makes a sync cut at any point — a dropped link, a killed process — resume where it stopped:

- a push whose answer was lost is simply sent again; the server answers ``duplicate`` for
  what it already decided, and the outbox is trimmed only once the outcomes are stored;
- each pulled page is stored together with its cursor in one transaction, so the next pull
  starts after the last page that was stored, never before and never after. The next page is
  fetched (on a helper thread) while a page is stored, but it is stored only after that page
  committed; when storing fails the fetched page is dropped.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

import orjson

from schemas.wire import MAX_PULL_LIMIT
from sync.client import SyncClient, garbage_message
from sync.errors import ServerError, SyncError
from sync.lock import sync_lock

#: Called as ``progress(phase, done, total)``; ``phase`` is "push" or "pull"; ``total`` is None
#: when unknown (a pull does not know how many pages are coming).
Progress = Callable[[str, int, "int | None"], None]

#: How many actions one push carries (the protocol's maximum).
PUSH_BATCH = 500
#: How many push+pull rounds one sync makes at most while the outbox keeps growing.
MAX_ROUNDS = 3
#: How many clean re-pulls the server may ask for in one sync before we call it broken.
MAX_RESETS = 2
#: The server's page size when a pull asks for none (``central.service.DEFAULT_PULL_LIMIT``).
DEFAULT_PAGE = 1000


@dataclass
class SyncReport:
    """What one sync did. ``conflicts`` is the number of open conflicts left afterwards."""

    pushed: int = 0  # actions sent (a resend counts again)
    applied: int = 0
    duplicates: int = 0  # already decided before (a resend after a lost answer)
    rejected: int = 0  # refused now: in the conflict inbox
    pulled_tickets: int = 0
    removed: int = 0  # tickets that left the unit's scope
    notes: int = 0
    events: int = 0
    pages: int = 0
    resets: int = 0
    rounds: int = 0
    requests: int = 0
    retries: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    pending: int = 0  # still unsent afterwards
    held: int = 0  # of those, left unsent for their undo hold (sent by a sync after held_until)
    held_until: str | None = None  # ISO time the last hold ends (None when nothing is held)
    conflicts: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def sync(
    replica,
    client: SyncClient,
    *,
    progress: Progress | None = None,
    push: bool = True,
    pull: bool = True,
    page_limit: int | None = None,
    deadline: float | None = None,
    lock_wait: float | None = None,
    flush: bool = False,
) -> SyncReport:
    """Bring ``replica`` and the server together. Raises a :class:`~sync.errors.SyncError`
    (after recording it in the replica) when the server cannot be used; work is kept.

    ``deadline``: seconds the whole sync may take; past it no request runs on and the sync
    raises :class:`~sync.errors.DeadlineExceeded` (what was stored so far stays stored).

    ``lock_wait``: take the replica's sync lock (:func:`sync.lock.sync_lock`) for the sync,
    waiting this long for another sync to finish before raising :class:`~sync.errors.SyncBusy`;
    None when the caller holds it already (or the replica has no file).

    Actions held for their undo window (``hold_until``, set by the app) are not pushed before
    it ends by the replica's clock, nor any action after them (order is kept); they stay in the
    outbox, counted in ``report.held``. ``flush``: push everything now (`r`, `fycli sync --now`).
    """
    if lock_wait is not None:
        with sync_lock(replica.path, lock_wait):
            return sync(
                replica,
                client,
                progress=progress,
                push=push,
                pull=pull,
                page_limit=page_limit,
                deadline=deadline,
                flush=flush,
            )
    started = time.monotonic()
    report = SyncReport()
    before = _snapshot(client)
    notify = progress or (lambda phase, done, total: None)
    outer_deadline = client.deadline
    if deadline is not None:
        ours = started + deadline
        client.deadline = ours if outer_deadline is None else min(ours, outer_deadline)
    try:
        _ensure_identity(replica, client)
        # One moment for the whole sync: an action whose hold ends mid-sync waits for the next.
        now = None if flush else replica.now()
        for _ in range(MAX_ROUNDS):
            report.rounds += 1
            if push:
                _push_outbox(replica, client, report, notify, now)
            if pull:
                _pull_pages(replica, client, report, notify, page_limit)
            if not push or not _ready(replica.outbox(limit=1), now):
                break
        if now is not None:
            report.held, until = replica.held(now)
            report.held_until = until.isoformat() if until else None
    except SyncError as exc:
        _finish(replica, client, report, before, started)
        report.errors.append(str(exc))
        if not isinstance(exc, ServerError):
            # Garbage from a misbehaving server leaves the replica exactly as it was (SPEC §8);
            # an unreachable or refusing server is worth remembering for the status line.
            with contextlib.suppress(Exception):  # never mask the real failure with this one
                replica.record_sync(ok=False, error=str(exc))
        raise
    finally:
        client.deadline = outer_deadline
    _finish(replica, client, report, before, started)
    replica.record_sync(ok=True)
    return report


def _ensure_identity(replica, client: SyncClient) -> None:
    """A replica made with ``fycli init --offline`` learns who it belongs to on its first sync."""
    state = replica.state()
    if state.unit_id is None:
        replica.set_identity(client.me(), client.base_url)


def _ready(batch: list, now: dt.datetime | None) -> list:
    """The leading entries of ``batch`` whose hold has ended at ``now`` (all when None: a flush).
    A prefix, never a selection: actions are sent in the order they were made."""
    if now is None:
        return batch
    ready = []
    for entry in batch:
        if entry.hold_until is not None and entry.hold_until > now:
            break
        ready.append(entry)
    return ready


def _push_outbox(
    replica, client: SyncClient, report: SyncReport, notify: Progress, now: dt.datetime | None = None
) -> None:
    total = replica.pending_count()
    if total == 0 or not _ready(replica.outbox(limit=1), now):
        return
    client_id = replica.state().client_id
    done = 0
    notify("push", 0, total)
    while True:
        batch = _ready(replica.outbox(limit=PUSH_BATCH), now)
        if not batch:
            break
        # From here on the actions may reach the server: they can no longer be undone locally.
        newly_sent = replica.mark_sent([e.action_id for e in batch])
        try:
            response = client.push(client_id, [(e.seq, e.action_json) for e in batch])
        except SyncError as exc:
            if exc.nothing_sent:  # refused before a byte left: certainly not on the server
                replica.unmark_sent(newly_sent)  # (those an earlier push sent stay as they are)
            raise
        sent = {e.action_id for e in batch}
        answered = {r.action_id for r in response.results}
        if not sent <= answered:
            # Without an outcome for every action the outbox could not shrink: looping on would
            # resend forever. Store what was decided, then stop with a clear message.
            replica.apply_push_results(
                [r for r in response.results if r.action_id in sent], response.acked_seq
            )
            raise ServerError(
                f"the server at {client.base_url} left {len(sent - answered)} of {len(sent)} pushed "
                "actions undecided, which breaks fycli's sync protocol; they stay in the outbox"
            )
        replica.apply_push_results(response.results, response.acked_seq)
        report.pushed += len(batch)
        for result in response.results:
            if result.outcome == "applied":
                report.applied += 1
            elif result.outcome == "duplicate":
                report.duplicates += 1
            else:
                report.rejected += 1
        done += len(batch)
        notify("push", done, max(total, done))


def _pull_pages(
    replica, client: SyncClient, report: SyncReport, notify: Progress, page_limit: int | None
) -> None:
    """Pull until the server has nothing more, fetching page k+1 while page k is stored.

    Only this thread touches the replica: the fetcher thread does HTTP and decoding, and is
    given the cursor and versions page k will leave in the replica once stored. Page k+1 is
    used only after page k was committed (with its cursor), so a failure at any point leaves
    the replica exactly as a one-page-at-a-time pull would — a prefetched page is dropped.
    """
    resets = 0
    pages = 0
    notify("pull", 0, None)
    sizer = _PageSizer(page_limit)
    # One worker: at most one request is in flight, and the requests stay in cursor order.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fycli-pull") as fetcher:
        ask = _Ask.of(replica.state())
        page = _fetch_page(client, ask, sizer)
        while True:
            if page.get("reset") is True:
                resets += 1
                if resets > MAX_RESETS:
                    raise ServerError(
                        f"the server at {client.base_url} asked for a clean re-pull {resets} times in "
                        "one sync; it is misbehaving. Nothing was lost; tell the platform's operator."
                    )
                replica.reset_pulled_state()
                report.resets += 1
                ask = _Ask.of(replica.state())
                page = _fetch_page(client, ask, sizer)
                continue
            has_more = page.get("has_more")
            if has_more is True and ask.cursor is not None and page.get("cursor") == ask.cursor:
                raise ServerError(
                    f"the server at {client.base_url} said there is more to pull but did not move "
                    "the cursor; it is misbehaving. Nothing was lost; tell the platform's operator."
                )
            foreseen = _Ask.after(page, ask)
            upcoming = fetcher.submit(_fetch_page, client, foreseen, sizer) if has_more else None
            try:
                # The replica checks the whole page before it writes anything, then stores it and
                # its cursor in one transaction. When it fails, the prefetch is still waited for
                # (leaving the pool) and dropped: not cancelled, so whether it was sent never
                # depends on thread timing (a pull changes nothing on the server).
                replica.apply_pull_page_raw(page)
            except ValueError as exc:
                raise ServerError(
                    garbage_message(client.base_url, "GET /v1/sync/pull", None, str(exc))
                ) from exc
            pages += 1
            report.pages += 1
            report.pulled_tickets += len(page.get("tickets") or ())
            report.removed += len(page.get("removed") or ())
            report.notes += len(page.get("notes") or ())
            report.events += len(page.get("events") or ())
            notify("pull", pages, None if has_more else pages)
            if upcoming is None:
                return
            ask = _Ask.of(replica.state())
            if ask == foreseen:
                page = upcoming.result()
            else:  # the replica is not where the prefetch assumed: ask again from where it is
                with contextlib.suppress(Exception):
                    upcoming.result()
                page = _fetch_page(client, ask, sizer)


@dataclass(frozen=True)
class _Ask:
    """What a pull request tells the server: where the replica is (cursor, calendar version,
    metrics etag). Read from the replica, or foreseen as page k will leave it once stored."""

    cursor: str | None
    calendar_version: int | None
    metrics_etag: str | None

    @classmethod
    def of(cls, state) -> _Ask:
        return cls(state.cursor, state.calendar_version, state.metrics_etag)

    @classmethod
    def after(cls, page: dict, before: _Ask) -> _Ask:
        """The replica's position once ``page`` is stored: its cursor always; the calendar
        version and metrics etag only when the page carried a calendar or metrics (that is
        what :meth:`Replica.apply_pull_page_raw` records)."""
        calendar = page.get("calendar") is not None
        metrics = page.get("metrics") is not None
        return cls(
            page.get("cursor"),
            page.get("calendar_version", 0) if calendar else before.calendar_version,
            page.get("metrics_etag") if metrics else before.metrics_etag,
        )


class _PageSizer:
    """The page size to ask for: the caller's, or grown while the link keeps up.

    A pull starts with the server's default page. While pages come full (a first pull, or a
    backlog after long offline) and quickly, it asks for bigger ones, up to the protocol's
    maximum: fewer round trips and per-page costs on a good link. On a slow link pages stay at
    the default, so a drop mid-page loses little.
    """

    #: A page should take about this long to fetch (request to decoded JSON).
    TARGET_SECONDS = 1.5

    def __init__(self, fixed: int | None) -> None:
        self.fixed = fixed
        self.limit: int | None = fixed

    def next_limit(self) -> int | None:
        return self.limit

    def observe(self, asked: int | None, page: dict, seconds: float) -> None:
        if self.fixed is not None:
            return
        if page.get("has_more") is not True:
            self.limit = None
            return
        got = len(page.get("tickets") or ()) or 1
        grown = int(got * self.TARGET_SECONDS / max(seconds, 1e-3))
        if grown <= DEFAULT_PAGE:
            self.limit = None
        else:
            self.limit = min(MAX_PULL_LIMIT, grown, max(asked or DEFAULT_PAGE, got) * 4)


def _fetch_page(client: SyncClient, ask: _Ask, sizer: _PageSizer) -> dict:
    """One pull page as decoded JSON. Pages are big (up to 5,000 tickets): they are decoded once
    with orjson and checked by the replica's fast path, not parsed into models here."""
    limit = sizer.next_limit()
    started = time.monotonic()
    raw, response = client.pull_raw(
        ask.cursor,
        limit=limit,
        calendar_version=ask.calendar_version,
        metrics_etag=ask.metrics_etag,
    )
    try:
        page = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ServerError(
            garbage_message(client.base_url, "GET /v1/sync/pull", response, f"invalid JSON: {exc}")
        ) from None
    if not isinstance(page, dict) or not isinstance(page.get("has_more"), bool):
        raise ServerError(garbage_message(client.base_url, "GET /v1/sync/pull", response, "not a pull page"))
    sizer.observe(limit, page, time.monotonic() - started)
    return page


def _snapshot(client: SyncClient) -> tuple[int, int, int, int]:
    s = client.stats
    return (s.requests, s.retries, s.bytes_sent, s.bytes_received)


def _finish(replica, client: SyncClient, report: SyncReport, before, started: float) -> None:
    requests, retries, sent, received = _snapshot(client)
    report.requests = requests - before[0]
    report.retries = retries - before[1]
    report.bytes_sent = sent - before[2]
    report.bytes_received = received - before[3]
    report.seconds = round(time.monotonic() - started, 3)
    with contextlib.suppress(Exception):  # the report is informative; never mask the outcome
        state = replica.state()
        report.pending = state.pending
        report.conflicts = state.open_conflicts
