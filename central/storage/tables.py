"""The central database's tables (SQLAlchemy Core), one definition for SQLite and PostgreSQL.

Timestamps are ISO-8601 UTC text and calendar days are ``YYYY-MM-DD`` text: both sort and
compare correctly as strings on every backend, and cost nothing to convert on the hot path.
A ticket row keeps the liaison's masked copy of the :class:`~schemas.ticket.Ticket` JSON
(``liaison_data``: a pull page is built by joining stored JSON) and the few citizen fields
it masks (``citizen``), so the full ticket is stored once, plus the columns queries filter on. Notes, events, scope exits, actions and the audit trail are
append-only.
"""

from __future__ import annotations

import sqlalchemy as sa

#: An auto-incrementing 64-bit key; SQLite only auto-increments an INTEGER PRIMARY KEY.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

metadata = sa.MetaData()

#: Key-value facts about this database: ``server_id`` (the generation), ``admin_token_hash``,
#: ``calendar_version``, ``min_retained_seq`` (a cursor below it is expired: see prune).
meta = sa.Table(
    "meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

#: The single commit-order counter (row id 1). See docs/protocol.md "Guarantees".
counter = sa.Table(
    "counter",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("v", sa.BigInteger, nullable=False),
)

units = sa.Table(
    "units",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("parent_id", sa.String(64), sa.ForeignKey("units.id"), nullable=True),
    sa.Column("county", sa.String(200), nullable=True),
    sa.Column("township", sa.String(200), nullable=True),
    sa.Column("created_at", sa.String(40), nullable=False),
)

liaisons = sa.Table(
    "liaisons",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("unit_id", sa.String(64), sa.ForeignKey("units.id"), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("active", sa.Boolean, nullable=False, default=True),
    sa.Column("created_at", sa.String(40), nullable=False),
)

#: Liaison tokens that no longer open anything (``why``: revoked, rotated), so the 401 says so.
retired_tokens = sa.Table(
    "retired_tokens",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("liaison_id", sa.String(64), nullable=False),
    sa.Column("why", sa.String(16), nullable=False),
    sa.Column("retired_at", sa.String(40), nullable=False),
)

#: What :mod:`central.metrics` reads of a ticket (the covering index ``ix_tickets_unit_metrics``).
METRICS_COLUMNS = ("unit_id", "handle_due", "assigned_on", "accepted_on", "sign_due", "resolved_on",
                   "satisfaction", "reworks")  # fmt: skip

tickets = sa.Table(
    "tickets",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("unit_id", sa.String(64), nullable=True),
    sa.Column("status", sa.String(24), nullable=False),
    #: Commit-order number of the ticket's last change (state, note or event).
    sa.Column("change_seq", sa.BigInteger, nullable=False),
    #: Commit-order number at which the ticket entered its current unit: a client whose cursor
    #: is older gets the ticket's whole history with it.
    sa.Column("scope_since", sa.BigInteger, nullable=False, default=0),
    sa.Column("county", sa.String(200), nullable=False),
    sa.Column("township", sa.String(200), nullable=False),
    sa.Column("assigned_on", sa.String(10), nullable=True),
    sa.Column("accepted_on", sa.String(10), nullable=True),
    sa.Column("sign_due", sa.String(10), nullable=True),
    sa.Column("handle_due", sa.String(10), nullable=True),
    sa.Column("resolved_on", sa.String(10), nullable=True),
    sa.Column("satisfaction", sa.String(24), nullable=True),
    sa.Column("reworks", sa.Integer, nullable=False, default=0),
    sa.Column("updated_at", sa.String(40), nullable=False),
    sa.Column("changed_by", sa.String(200), nullable=True),
    #: The ticket as a liaison sees it (citizen masked unless a call back is due).
    sa.Column("liaison_data", sa.Text, nullable=False),
    #: What the masking hid, ``{"citizen_phone", "citizen_name"}`` JSON; NULL when nothing is.
    sa.Column("citizen", sa.Text, nullable=True),
    sa.Index("ix_tickets_unit_seq", "unit_id", "change_seq"),
    sa.Index("ix_tickets_handle_due", "handle_due"),
    sa.Index("ix_tickets_assigned_on", "assigned_on"),
    #: Covers every column the metrics read: they never touch the wide rows.
    sa.Index("ix_tickets_unit_metrics", *METRICS_COLUMNS),
)

notes = sa.Table(
    "notes",
    metadata,
    sa.Column("seq", BigId, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(80), nullable=False, unique=True),
    sa.Column("ticket_id", sa.String(40), nullable=False),
    sa.Column("change_seq", sa.BigInteger, nullable=False),
    sa.Column("data", sa.Text, nullable=False),
    sa.Index("ix_notes_ticket_seq", "ticket_id", "change_seq"),
    #: A pull page's history stamped in its commit range (``service._stamped_in``).
    sa.Index("ix_notes_seq", "change_seq"),
)

RETURNS = sa.text("action = 'request_return'")

events = sa.Table(
    "events",
    metadata,
    sa.Column("seq", BigId, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(80), nullable=False, unique=True),
    sa.Column("ticket_id", sa.String(40), nullable=False),
    sa.Column("change_seq", sa.BigInteger, nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("unit_id", sa.String(64), nullable=True),
    sa.Column("at", sa.String(40), nullable=False),
    sa.Column("data", sa.Text, nullable=False),
    sa.Index("ix_events_ticket_seq", "ticket_id", "change_seq"),
    #: A pull page's history stamped in its commit range (``service._stamped_in``).
    sa.Index("ix_events_seq", "change_seq"),
    sa.Index("ix_events_unit_at", "unit_id", "at"),
    #: The return requests (a few percent of the events) for the metrics' return rate.
    sa.Index("ix_events_returns", "unit_id", "at", sqlite_where=RETURNS, postgresql_where=RETURNS),
)

#: A ticket left ``unit_id`` (reassigned away) at commit number ``change_seq``.
scope_exits = sa.Table(
    "scope_exits",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("change_seq", sa.BigInteger, nullable=False),
    sa.Column("unit_id", sa.String(64), nullable=False),
    sa.Column("ticket_id", sa.String(40), nullable=False),
    #: When it was written (wall clock, ISO UTC), for pruning; NULL for rows from before 0003.
    sa.Column("recorded_at", sa.String(40), nullable=True),
    sa.Index("ix_scope_exits_unit_seq", "unit_id", "change_seq"),
)

#: Every action ever decided, with its outcome: what makes a resend a ``duplicate``.
actions = sa.Table(
    "actions",
    metadata,
    sa.Column("action_id", sa.String(64), primary_key=True),
    sa.Column("liaison_id", sa.String(64), nullable=True),  # None: the central platform
    sa.Column("client_id", sa.String(64), nullable=True),
    sa.Column("client_seq", sa.BigInteger, nullable=True),
    sa.Column("ticket_id", sa.String(40), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("reason", sa.String(32), nullable=True),
    sa.Column("message", sa.Text, nullable=True),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("decided_at", sa.String(40), nullable=False),
    sa.Index("ix_actions_liaison", "liaison_id", "client_id"),
)

client_acks = sa.Table(
    "client_acks",
    metadata,
    sa.Column("liaison_id", sa.String(64), primary_key=True),
    sa.Column("client_id", sa.String(64), primary_key=True),
    sa.Column("acked_seq", sa.BigInteger, nullable=False),
)

calendar = sa.Table(
    "calendar",
    metadata,
    sa.Column("year", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("updated_at", sa.String(40), nullable=False),
)

audit = sa.Table(
    "audit",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("at", sa.String(40), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    #: Who acted, by id: the liaison's id, or "admin" for the admin token (names repeat).
    sa.Column("actor_id", sa.String(64), nullable=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("what", sa.String(64), nullable=False),
    sa.Column("target", sa.String(64), nullable=True),
    sa.Column("client_id", sa.String(64), nullable=True),
    sa.Column("remote_addr", sa.String(64), nullable=True),
    sa.Column("detail", sa.Text, nullable=True),
    sa.Index("ix_audit_at", "at"),
)

#: Every start of a server process on this database, stamped with the counter's value then
#: (``start_seq``). A cursor names the newest start below its number; a database restored from
#: a dump lacks the starts after the dump, and a new start on it stamps a number that cursors
#: of the lost timeline are above, so such a cursor is recognised and answered ``reset`` (see
#: ``repo.boot_at`` and ``service._cursor_holds``).
boots = sa.Table(
    "boots",
    metadata,
    sa.Column("start_seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("started_at", sa.String(40), nullable=False),
)

#: A ticket as it was when it left ``unit_id`` (the state the move left it in — nothing of the
#: new unit's work — masked): what that unit may still read. ``history_seq``: the commit number
#: of the move; the history up to it is what that unit may read.
#: Never pruned (unlike scope exits); a ticket that leaves the same unit again overwrites it.
departures = sa.Table(
    "departures",
    metadata,
    sa.Column("ticket_id", sa.String(40), primary_key=True),
    sa.Column("unit_id", sa.String(64), primary_key=True),
    sa.Column("history_seq", sa.BigInteger, nullable=False),
    sa.Column("data", sa.Text, nullable=False),
)

#: Per-liaison token buckets of the rate limits, shared by every server process of a
#: deployment (``central.limits``). ``key`` is ``<budget>:<liaison id>``.
rate_buckets = sa.Table(
    "rate_buckets",
    metadata,
    sa.Column("key", sa.String(100), primary_key=True),
    sa.Column("tokens", sa.Float, nullable=False),
    sa.Column("at", sa.Float, nullable=False),
)
