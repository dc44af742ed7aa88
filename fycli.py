"""fycli: the command line. One program for the liaison, the script author and the operator.

The commands are thin: the work is in ``local_db/`` (the replica), ``sync/`` (the protocol),
``central/`` (the service) and ``tui/`` (the terminal app, imported only here, lazily, so a
cron job never loads Textual).

Exit codes (stable; scripts may rely on them):

====  ==========================================================================
0     success
1     error: bad config, unusable database, garbage from the server …
      (for an action on several tickets: some could not even be queued)
2     usage error: a wrong option or argument
3     the server could not be reached; the work is kept locally and will be sent
4     authentication refused: the token is wrong or revoked
5     finished, with conflicts to look at (``fycli conflicts``)
6     sync/push/pull: another sync of the same replica is running; nothing was done
====  ==========================================================================

Data goes to stdout (``--json`` on every command that prints data); progress, logs and
errors go to stderr.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sys
import unicodedata
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

# Stored text is shown through these (shared with the app: tui/ escapes the same way).
from schemas.terminal import safe as safe
from schemas.terminal import safe_text as safe_text

# The codes a sync error carries are defined once, beside the errors (a tiny module, no imports).
from sync.errors import EXIT_AUTH as EXIT_AUTH
from sync.errors import EXIT_BUSY as EXIT_BUSY
from sync.errors import EXIT_ERROR as EXIT_ERROR
from sync.errors import EXIT_UNREACHABLE as EXIT_UNREACHABLE

if TYPE_CHECKING:  # the replica and the client are imported when a command needs them
    from local_db.replica import Replica
    from sync.client import SyncClient
    from sync.config import Config

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_CONFLICTS = 5

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "auto_envvar_prefix": "FYCLI"}


# -- the shared context: config, replica and client, opened on first use ------------------------


class Env:
    """What every command may need, loaded lazily so `fycli --help` touches nothing."""

    def __init__(self, config_dir: str | None, db: str | None) -> None:
        from sync.config import config_dir as resolve_config_dir

        self.config_dir = resolve_config_dir(config_dir)
        self.db_override = Path(db).expanduser() if db else None
        self._config: Config | None = None
        self._replica: Replica | None = None
        self._client: SyncClient | None = None

    def config(self) -> Config:
        from sync.config import load_config

        if self._config is None:
            self._config = load_config(self.config_dir)
        return self._config

    def database_path(self) -> Path:
        return self.db_override if self.db_override is not None else self.config().database

    def replica(self) -> Replica:
        """The existing replica (never created here: `fycli init` does that)."""
        from local_db.api import ReplicaError
        from local_db.replica import Replica

        if self._replica is None:
            path = self.database_path()
            if not path.exists():
                raise ReplicaError(f"no replica at {path}: run `fycli init` first (or pass --db PATH)")
            self._replica = Replica.open(path)
        return self._replica

    def client(self) -> SyncClient:
        from sync.client import RetryPolicy, SyncClient

        if self._client is None:
            config = self.config()
            self._client = SyncClient(
                config.server_url,
                config.token(),
                timeout=config.timeout,
                ca_bundle=config.ca_bundle,
                retry=RetryPolicy(attempts=config.retries),
                allow_insecure_http=config.allow_insecure_http,
            )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        if self._replica is not None:
            self._replica.close()


pass_env = click.make_pass_decorator(Env)


class RootGroup(click.Group):
    """Turns every known failure into one clear line on stderr and its documented exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        from local_db.api import ReplicaError
        from sync.errors import ConfigError, SyncError

        try:
            return super().invoke(ctx)
        except (ConfigError, SyncError) as exc:
            _fail(str(exc), exc.exit_code)
        except ReplicaError as exc:
            _fail(str(exc), EXIT_ERROR)


def _fail(message: str, code: int) -> None:
    click.echo(f"fycli: {message}", err=True)
    raise click.exceptions.Exit(code)


@click.group(cls=RootGroup, context_settings=CONTEXT_SETTINGS, invoke_without_command=True)
@click.version_option(package_name="fycli")
@click.option(
    "--config-dir",
    type=click.Path(file_okay=False),
    envvar="FYCLI_CONFIG_DIR",
    help="Directory of config.toml, the token and templates.toml [default: ~/.config/fycli].",
)
@click.option(
    "--db",
    type=click.Path(dir_okay=False),
    envvar="FYCLI_DB",
    help="The replica database file [default: `database` in config.toml].",
)
@click.pass_context
def cli(ctx: click.Context, config_dir: str | None, db: str | None) -> None:
    """fycli — offline-first tickets for township liaisons (两有三解).

    Run without a command on a terminal to open the app (same as ``fycli tui``).
    """
    env = Env(config_dir, db)
    ctx.obj = env
    ctx.call_on_close(env.close)
    if ctx.invoked_subcommand is None:
        tui = cli.commands.get("tui")
        if tui is not None and sys.stdin.isatty() and sys.stdout.isatty():
            ctx.invoke(tui)
        else:
            click.echo(ctx.get_help())


# -- output helpers -----------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    """Plain JSON values from models, dataclasses, enums and dates."""
    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if hasattr(value, "value") and isinstance(value.value, str):  # enums
        return value.value
    return value


def emit_json(value: Any) -> None:
    # json.dumps escapes C0 controls itself; DEL and the C1 controls it leaves raw.
    click.echo(json.dumps(_jsonable(value), ensure_ascii=False, indent=2).translate(_JSON_C1_ESCAPES))


#: DEL and C1 controls as JSON escapes (they can only occur inside JSON strings).
_JSON_C1_ESCAPES = {c: f"\\u{c:04x}" for c in range(0x7F, 0xA0)}


def log(message: str) -> None:
    click.echo(message, err=True)


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int) -> str:
    """Pad to a display width: Chinese characters take two columns."""
    return text + " " * max(0, width - _width(text))


def _when(value: dt.datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone().strftime("%Y-%m-%d %H:%M")


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")


# -- reading ticket ids (arguments, a file, or stdin) -------------------------------------------


def read_ids(args: Iterable[str], from_file: str | None) -> list[str]:
    """Ticket ids from arguments, where ``-`` means "read stdin", and from ``--from-file``.

    A file holds ids separated by spaces, commas or newlines; ``#`` starts a comment.
    Order is kept and repeats are dropped.
    """
    ids: list[str] = []

    def take(text: str) -> None:
        for line in text.splitlines():
            line = line.split("#", 1)[0]
            ids.extend(part for part in line.replace(",", " ").split() if part)

    for arg in args:
        if arg == "-":
            take(sys.stdin.read())
        else:
            take(arg)
    if from_file is not None:
        if from_file == "-":
            take(sys.stdin.read())
        else:
            try:
                take(Path(from_file).read_text(encoding="utf-8"))
            except OSError as exc:
                raise click.BadParameter(
                    f"cannot read {from_file}: {exc.strerror}", param_hint="--from-file"
                ) from None
    return list(dict.fromkeys(ids))


def report_results(results: list, as_json: bool, verb: str) -> None:
    """Print one line per ticket (or JSON) and exit 1 if any could not be queued."""
    if as_json:
        emit_json(results)
    else:
        for r in results:
            tid = safe(r.ticket_id)
            if r.kept_as_note:  # not what was asked: say so, and where the text went
                click.echo(f"↪ {tid}  {safe(r.message)} (action {r.action_id})")
            elif r.ok and r.action_id:
                click.echo(f"✓ {tid}  {verb} (action {r.action_id})")
            elif r.ok:
                click.echo(f"= {tid}  nothing to do" + (f": {safe(r.message)}" if r.message else ""))
            else:
                reason = f"{r.reason.value}: " if r.reason else ""
                click.echo(f"✗ {tid}  not queued — {reason}{safe(r.message)}")
    kept = sum(1 for r in results if r.kept_as_note)
    queued = sum(1 for r in results if r.ok and r.action_id) - kept
    refused = sum(1 for r in results if not r.ok)
    summary = f"{queued} queued, {refused} not queued"
    if kept:
        summary += f", {kept} kept as a note instead"
    if len(results) - queued - kept - refused:
        summary += f", {len(results) - queued - kept - refused} nothing to do"
    log(summary + ("; run `fycli sync` to send" if queued or kept else ""))
    if refused:
        raise click.exceptions.Exit(EXIT_ERROR)


def ids_argument(func: Callable) -> Callable:
    func = click.option(
        "--from-file",
        type=click.Path(dir_okay=False, allow_dash=True),
        help="Also take ticket ids from this file (one per line; '-' for stdin).",
    )(func)
    return click.argument("ticket_ids", nargs=-1)(func)


# -- init ---------------------------------------------------------------------------------------


@cli.command()
@click.option("--server", "server_url", envvar="FYCLI_SERVER", required=True, help="The central service URL.")
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Read the token from this file ('-' for stdin); it is copied into the config dir (0600).",
)
@click.option(
    "--token", envvar="FYCLI_TOKEN", help="The token itself (prefer --token-file: argv is visible)."
)
@click.option("--ca-bundle", type=click.Path(dir_okay=False, exists=True), help="PEM file of the CA (https).")
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False),
    help="Where to keep the local database [default: replica.db in the config dir].",
)
@click.option("--offline", is_flag=True, help="Do not check the token now; the first sync will.")
@click.option("--force", is_flag=True, help="Overwrite an existing configuration.")
@click.option(
    "--allow-insecure-http",
    is_flag=True,
    help="Allow a plain http:// server on another machine (the token then crosses the network in clear).",
)
@json_option
@pass_env
def init(
    env: Env,
    server_url: str,
    token_file: str | None,
    token: str | None,
    ca_bundle: str | None,
    db_path: str | None,
    offline: bool,
    force: bool,
    allow_insecure_http: bool,
    as_json: bool,
) -> None:
    """Set up this machine: server URL, token and the local database.

    Checks the token with the server (GET /v1/me) and records who you are in the replica;
    nothing is written if the server refuses the token.
    """
    from local_db.api import ReplicaError
    from local_db.files import make_private_dir
    from local_db.replica import Replica
    from sync.client import SyncClient, check_transport
    from sync.config import (
        CONFIG_FILE,
        DATABASE_FILE,
        TOKEN_FILE,
        Config,
        write_default_templates,
        write_token,
    )
    from sync.errors import ConfigError

    if db_path is not None:  # `fycli init --db F` and `fycli --db F init` mean the same
        env.db_override = Path(db_path).expanduser()
    directory = env.config_dir
    config_path = directory / CONFIG_FILE
    if config_path.exists() and not force:
        raise ConfigError(f"{config_path} exists already; pass --force to overwrite it")
    url = server_url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise click.BadParameter("must start with http:// or https://", param_hint="--server")
    check_transport(url, allow_insecure_http=allow_insecure_http)  # before any token is sent
    if token_file is not None:
        source = sys.stdin if token_file == "-" else None
        try:
            token = source.read() if source else Path(token_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read the token file {token_file}: {exc.strerror}") from None
    if token is None:
        if not sys.stdin.isatty():
            raise click.UsageError("give the token with --token-file FILE (or '-' for stdin) or --token")
        token = click.prompt("Token", hide_input=True)
    token = token.strip()
    if not token or any(c.isspace() for c in token):
        raise click.BadParameter("the token must be one word", param_hint="--token")

    me = None
    if not offline:
        with SyncClient(url, token, ca_bundle=ca_bundle, allow_insecure_http=allow_insecure_http) as client:
            log(f"checking the token with {url} …")
            me = client.me()

    database = env.db_override or directory / DATABASE_FILE
    config = Config(
        path=config_path,
        server_url=url,
        database=database.resolve() if env.db_override else Path(DATABASE_FILE),
        token_file=Path(TOKEN_FILE),
        ca_bundle=Path(ca_bundle).resolve() if ca_bundle else None,
        allow_insecure_http=allow_insecure_http,
    )
    make_private_dir(database.parent)  # 0700: the replica holds citizens' data
    replica = Replica.open(database, create=True)
    try:
        state = replica.state()
        if me is not None and state.unit_id not in (None, me.unit_id):
            raise ReplicaError(
                f"the database {database} belongs to unit {state.unit_name or state.unit_id}, not "
                f"{me.unit_name}; choose another one with --db"
            )
        if me is not None:
            replica.set_identity(me, url)
    finally:
        replica.close()
    write_token(directory / TOKEN_FILE, token)
    config.save()
    templates = write_default_templates(directory)
    summary = {
        "config": str(config_path),
        "database": str(database),
        "server_url": url,
        "templates": str(templates),
        "liaison": me.name if me else None,
        "unit_id": me.unit_id if me else None,
        "unit_name": me.unit_name if me else None,
        "checked": me is not None,
    }
    if as_json:
        emit_json(summary)
    else:
        who = f"{me.name} · {me.unit_name}" if me else "(not checked: --offline)"
        click.echo(f"initialised {config_path}\n  liaison: {who}\n  database: {database}")
        log("next: `fycli sync` to fetch your unit's tickets")


# -- sync, push, pull ---------------------------------------------------------------------------


class ProgressPrinter:
    """The sync's progress on stderr: one updating line on a terminal, else one line a step."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.tty = sys.stderr.isatty()
        self._open_line = False

    def __call__(self, phase: str, done: int, total: int | None) -> None:
        if self.quiet:
            return
        unit = "actions" if phase == "push" else "pages"
        text = f"{phase}: {done}/{total} {unit}" if total is not None else f"{phase}: {done} {unit}"
        if self.tty:
            click.echo(f"\r\x1b[2K{text}", err=True, nl=False)
            self._open_line = True
        else:
            click.echo(text, err=True)

    def end(self) -> None:
        if self._open_line:
            click.echo("", err=True)
            self._open_line = False


def _run_sync(
    env: Env,
    *,
    push: bool,
    pull: bool,
    as_json: bool,
    quiet: bool,
    deadline: float | None,
    flush: bool = False,
) -> None:
    from sync.engine import sync

    client = env.client()  # config and token first: a bad one stops us before the database is opened
    replica = env.replica()
    config = env.config()
    printer = ProgressPrinter(quiet)
    try:
        # One sync at a time per replica (the app's, cron's, a script's): see sync/lock.py.
        report = sync(
            replica,
            client,
            progress=printer,
            push=push,
            pull=pull,
            page_limit=config.page_limit,
            deadline=deadline if deadline is not None else config.sync_deadline,
            lock_wait=config.sync_lock_wait,
            flush=flush,
        )
    finally:
        printer.end()
    if as_json:
        emit_json(report.as_dict())
    elif not quiet:
        parts = []
        if push:
            parts.append(f"pushed {report.pushed} (applied {report.applied}, rejected {report.rejected})")
        if pull:
            parts.append(f"pulled {report.pulled_tickets} tickets in {report.pages} pages")
        parts.append(f"{report.requests} requests, {report.bytes_sent + report.bytes_received} bytes")
        log("; ".join(parts))
        if report.held:
            log(f"{report.held} held for undo (sent by the next sync after {_clock_time(report.held_until)})")
        if report.pending > report.held:
            log(f"{report.pending - report.held} actions still unsent")
    if report.conflicts:
        log(f"{report.conflicts} conflicts to look at: `fycli conflicts`")
        raise click.exceptions.Exit(EXIT_CONFLICTS)


sync_options = [
    json_option,
    click.option("-q", "--quiet", is_flag=True, help="No progress or summary on stderr."),
    click.option(
        "--deadline",
        type=click.FloatRange(1, 86400),
        envvar="FYCLI_SYNC_DEADLINE",
        help="Seconds the whole sync may take; past it: exit 3, work kept [default: sync_deadline, 1800].",
    ),
]


#: Plain `fycli sync` (cron) leaves the app's actions their undo window; --now sends them too.
now_option = click.option(
    "--now",
    "flush",
    is_flag=True,
    help="Also send actions the app still holds for undo (their undo window ends early).",
)


def _clock_time(iso: str | None) -> str:
    """An ISO moment as this machine's local HH:MM:SS (when a held action may be sent)."""
    return dt.datetime.fromisoformat(iso).astimezone().strftime("%H:%M:%S") if iso else "—"


def _with(options: list[Callable]) -> Callable:
    def apply(func: Callable) -> Callable:
        for option in reversed(options):
            func = option(func)
        return func

    return apply


@cli.command("sync")
@_with(sync_options)
@now_option
@pass_env
def sync_cmd(env: Env, as_json: bool, quiet: bool, deadline: float | None, flush: bool) -> None:
    """Push unsent actions, then pull what changed. Exit 5 if conflicts are left to look at.

    Actions made in the app wait out their undo window (undo_grace) unless --now."""
    _run_sync(env, push=True, pull=True, as_json=as_json, quiet=quiet, deadline=deadline, flush=flush)


@cli.command()
@_with(sync_options)
@now_option
@pass_env
def push(env: Env, as_json: bool, quiet: bool, deadline: float | None, flush: bool) -> None:
    """Only send unsent actions (those the app holds for undo wait, unless --now)."""
    _run_sync(env, push=True, pull=False, as_json=as_json, quiet=quiet, deadline=deadline, flush=flush)


@cli.command()
@_with(sync_options)
@pass_env
def pull(env: Env, as_json: bool, quiet: bool, deadline: float | None) -> None:
    """Only fetch what changed on the server."""
    _run_sync(env, push=False, pull=True, as_json=as_json, quiet=quiet, deadline=deadline)


# -- status, list, show --------------------------------------------------------------------------


@cli.command()
@click.option(
    "--check", is_flag=True, help="Also check the whole database file for damage (PRAGMA quick_check)."
)
@json_option
@pass_env
def status(env: Env, check: bool, as_json: bool) -> None:
    """Who you are, what is unsent, conflicts, last sync."""
    replica = env.replica()
    if check:
        # First, and alone: on a damaged file the other queries would fail before it reports.
        problems = replica.check()
        if problems:
            if as_json:
                emit_json({"database": str(env.database_path()), "check": problems})
            for problem in problems[:20]:
                click.echo(f"  {problem}", err=True)
            from local_db.schema import SAVE_FIRST

            name = env.database_path().name
            _fail(
                f"{env.database_path()} is damaged ({len(problems)} problem(s)). "
                + SAVE_FIRST.format(name=name),
                EXIT_ERROR,
            )
    state = replica.state()
    counts = replica.counts_by_view()
    if as_json:
        data = _jsonable(state)
        data["database"] = str(env.database_path())
        data["views"] = {view.value: n for view, n in counts.items()}
        if check:
            data["check"] = []
        emit_json(data)
        return
    from local_db.api import View

    click.echo(safe(f"liaison     {state.liaison_name or '—'} · {state.unit_name or state.unit_id or '—'}"))
    click.echo(f"server      {state.server_url or '—'}")
    click.echo(f"database    {env.database_path()}")
    click.echo(f"tickets     {state.tickets}")
    shown = [View.ASSIGNED, View.IN_PROGRESS, View.DUE_SOON, View.OVERDUE, View.RESOLVED]
    click.echo("            " + "  ".join(f"{v.value} {counts.get(v, 0)}" for v in shown))
    click.echo(f"unsent      {state.pending}")
    click.echo(f"conflicts   {state.open_conflicts}")
    click.echo(f"last sync   {_when(state.last_sync_at)}")
    if state.last_error:
        click.echo(safe(f"last error  {state.last_error}"))
    if check:
        click.echo("check       ok")


VIEW_CHOICES = [
    "assigned",
    "in_progress",
    "due_soon",
    "overdue",
    "resolved",
    "pending_decision",
    "conflicts",
    "all",
    "out_of_scope",
]


@cli.command("list")
@click.option(
    "--view", "--status", "view", type=click.Choice(VIEW_CHOICES), help="Which queue [default: all]."
)
@click.option("--due-soon", is_flag=True, help="Open, due within a working day (same as --view due_soon).")
@click.option("--overdue", is_flag=True, help="Open and past the deadline (same as --view overdue).")
@click.option("-s", "--search", default="", help="Words in the number, title, description or address.")
@click.option("--category", help="Only this category (e.g. 城市管理).")
@click.option("--village", help="Only this village.")
@click.option("--channel", help="Only this channel (e.g. hotline_12345).")
@click.option("--complexity", type=click.Choice(["urgent", "general", "complex"]))
@click.option(
    "--sort", type=click.Choice(["deadline", "updated", "number"]), default="deadline", show_default=True
)
@click.option("-n", "--limit", type=click.IntRange(min=0), default=50, show_default=True, help="0: all.")
@json_option
@pass_env
def list_cmd(
    env: Env,
    view: str | None,
    due_soon: bool,
    overdue: bool,
    search: str,
    category: str | None,
    village: str | None,
    channel: str | None,
    complexity: str | None,
    sort: str,
    limit: int,
    as_json: bool,
) -> None:
    """List tickets, soonest deadline first."""
    from local_db.api import SortKey, TicketQuery, View, search_problem

    if (problem := search_problem(search)) is not None:
        raise click.BadParameter(problem, param_hint="--search")

    chosen = [v for v, on in ((view, view is not None), ("due_soon", due_soon), ("overdue", overdue)) if on]
    if len(chosen) > 1:
        raise click.UsageError("choose one of --view, --due-soon, --overdue")
    query = TicketQuery(
        view=View(chosen[0]) if chosen else View.ALL,
        search=search,
        category=category,
        channel=channel,
        complexity=complexity,
        village=village,
        sort=SortKey(sort),
    )
    replica = env.replica()
    rows = []
    after = None
    while limit == 0 or len(rows) < limit:
        page_size = 500 if limit == 0 else min(500, limit - len(rows))
        page = replica.query(query, after=after, limit=page_size)
        rows.extend(page)
        if len(page) < page_size:
            break
        after = page[-1].key
    if as_json:
        emit_json([{k: v for k, v in _jsonable(r).items() if k != "key"} for r in rows])
        return
    if not rows:
        log("no tickets match")
        return
    for r in rows:
        left = "—" if r.days_left is None else f"{r.days_left:+d}d"
        marks = "".join(
            m
            for m, on in (("催", r.urged), ("督", r.supervised), ("挂", r.listed), ("提", r.escalated))
            if on
        )
        badge = {"synced": " ", "pending": "↑", "conflict": "!"}.get(r.badge, "?")
        click.echo(
            f"{badge} {_pad(r.id, 18)} {_pad(r.status.label, 8)} {left:>5}  {_pad(marks, 4)} {safe(r.title)}"
        )
    total = replica.count(query)
    if total > len(rows):
        log(f"{len(rows)} of {total} shown (--limit 0 for all)")


@cli.command()
@click.argument("ticket_id")
@json_option
@pass_env
def show(env: Env, ticket_id: str, as_json: bool) -> None:
    """One ticket: its state, deadline, notes, history and unsent actions."""
    detail = env.replica().detail(ticket_id)
    if detail is None:
        _fail(f"no ticket {ticket_id} in this replica (try `fycli sync`, or `fycli list -s {ticket_id}`)", 1)
    if as_json:
        emit_json(detail)
        return
    t = detail.ticket
    left = "—" if detail.days_left is None else f"{detail.days_left} working days"
    lines = [
        f"{t.id}  {t.title}",
        f"status      {t.status.label} ({t.status.value})"
        + ("" if detail.in_scope else "  — no longer with your unit"),
        f"sync        {detail.badge}",
        f"category    {t.category} · {t.appeal_type.label} · {t.channel.label} · {t.complexity.label}",
        f"citizen     {t.citizen_name} {t.citizen_phone}",
        f"address     {t.address}" + (f" ({t.village})" if t.village else ""),
        f"deadlines   sign for {t.sign_due or '—'} · handle {t.handle_due or '—'}"
        + (" (provisional)" if t.deadline_provisional else "")
        + f" · left {left}",
    ]
    flags = t.flags
    marks = [
        m
        for m, on in (
            (f"催办×{flags.urged}", flags.urged),
            ("督办", flags.supervised),
            ("挂牌督办", flags.listed),
            ("提级调度", flags.escalated),
        )
        if on
    ]
    if marks:
        lines.append("flags       " + " ".join(marks))
    lines += ["", t.description]
    if t.reply:
        lines += ["", f"reply ({t.replied_by or '—'}): {t.reply}"]
    if detail.notes:
        lines += ["", "notes:"]
        lines += [f"  {_when(n.created_at)} {n.author}: {n.text}" for n in detail.notes]
    if detail.events:
        lines += ["", "history:"]
        for e in detail.events:
            frm = e.from_status.label if e.from_status else "—"
            lines.append(f"  {_when(e.at)} {e.action:<16} {frm} → {e.to_status.label}  {e.actor}")
    if detail.pending:
        lines += ["", "unsent:"]
        lines += [f"  {p.action_id} {p.kind} ({_when(p.created_at)})" for p in detail.pending]
    # Every field is the server's (or an older replica's) text: escape what a terminal would run.
    click.echo(safe_text("\n".join(lines)))


# -- the liaison's actions ------------------------------------------------------------------------


@cli.command()
@ids_argument
@json_option
@pass_env
def accept(env: Env, ticket_ids: tuple[str, ...], from_file: str | None, as_json: bool) -> None:
    """签收: sign for tickets (queued; sent by the next sync)."""
    ids = read_ids(ticket_ids, from_file)
    if not ids:
        raise click.UsageError("give at least one ticket id (or --from-file)")
    report_results(env.replica().accept(ids), as_json, "signed for")


def clean_input(text: str, option: str) -> str:
    """Typed or piped text, checked before anything is queued: Windows line ends become
    newlines; any other control character is a usage error naming it (the server refuses
    it too, and a colleague's terminal would run an escape sequence)."""
    from schemas.ticket import describe_character, first_control_character

    text = text.replace("\r\n", "\n").strip()
    char = first_control_character(text)
    if char is not None:
        raise click.BadParameter(
            f"the text contains the control character {describe_character(char)} at position "
            f"{text.index(char) + 1}; only newline and tab are allowed: remove it and run again",
            param_hint=option,
        )
    return text


def _text_or_stdin(text: str | None, what: str) -> str:
    if text is None:
        if sys.stdin.isatty():
            raise click.UsageError(f"give the {what} with --{what} TEXT, or pipe it on stdin")
        text = sys.stdin.read()
    if not text.strip():
        raise click.UsageError(f"the {what} is empty")
    return clean_input(text, f"--{what}")


@cli.command()
@click.argument("ticket_id")
@click.option("-t", "--text", help="The note (read from stdin when omitted).")
@click.option("--call", "kind", flag_value="call", help="Record a phone call log instead of a note.")
@json_option
@pass_env
def note(env: Env, ticket_id: str, text: str | None, kind: str | None, as_json: bool) -> None:
    """Add a handling note (never conflicts)."""
    result = env.replica().add_note(ticket_id, _text_or_stdin(text, "text"), kind or "note")
    report_results([result], as_json, "note added")


@cli.command()
@ids_argument
@click.option("-r", "--reply", help="The reply to the citizen.")
@click.option("-T", "--template", help="Use a reply template (see `fycli templates`).")
@json_option
@pass_env
def close(
    env: Env,
    ticket_ids: tuple[str, ...],
    from_file: str | None,
    reply: str | None,
    template: str | None,
    as_json: bool,
) -> None:
    """办结: resolve tickets with a reply. Each ticket succeeds or conflicts on its own.

    \b
    fycli close T1 T2 --reply "已修复"
    fycli list --view in_progress --json | jq -r '.[].id' | fycli close - --template fixed
    """
    from sync.config import load_templates

    if (reply is None) == (template is None):
        raise click.UsageError("give exactly one of --reply TEXT or --template NAME")
    if template is not None:
        templates = {t.name: t for t in load_templates(env.config_dir)}
        if template not in templates:
            raise click.BadParameter(
                f"no template {template!r}; known: {', '.join(templates) or 'none'}", param_hint="--template"
            )
        reply = templates[template].text
    assert reply is not None
    if not reply.strip():
        raise click.BadParameter("the reply is empty", param_hint="--reply")
    reply = clean_input(reply, "--reply" if template is None else "--template")
    ids = read_ids(ticket_ids, from_file)
    if not ids:
        raise click.UsageError("give at least one ticket id (or --from-file)")
    report_results(env.replica().resolve(ids, reply), as_json, "resolved")


@cli.command("return")
@click.argument("ticket_id")
@click.option("--reason", required=True, help="Why it is not your unit's (required).")
@json_option
@pass_env
def return_cmd(env: Env, ticket_id: str, reason: str, as_json: bool) -> None:
    """申请退回: ask the platform to take a ticket back."""
    if not reason.strip():
        raise click.BadParameter("the reason is empty", param_hint="--reason")
    reason = clean_input(reason, "--reason")
    report_results([env.replica().request_return(ticket_id, reason)], as_json, "return requested")


@cli.command()
@click.argument("ticket_id")
@click.option("--days", type=click.IntRange(1, 30), required=True, help="Working days asked for.")
@click.option("--reason", required=True, help="Why (required).")
@json_option
@pass_env
def extend(env: Env, ticket_id: str, days: int, reason: str, as_json: bool) -> None:
    """申请延期: ask for more working days."""
    if not reason.strip():
        raise click.BadParameter("the reason is empty", param_hint="--reason")
    result = env.replica().request_extension(ticket_id, days, clean_input(reason, "--reason"))
    report_results([result], as_json, "extension requested")


@cli.command()
@click.argument("action_id", required=False)
@click.option("--last", is_flag=True, help="Undo the most recent unsent action.")
@json_option
@pass_env
def undo(env: Env, action_id: str | None, last: bool, as_json: bool) -> None:
    """Take back an action that was not sent yet."""
    if (action_id is None) == (not last):
        raise click.UsageError("give an ACTION_ID or --last")
    replica = env.replica()
    if last:
        action_id = replica.undo_last()
        if action_id is None:
            _fail("nothing to undo: every action was sent already (or none was made)", EXIT_ERROR)
        done = True
    else:
        assert action_id is not None
        done = replica.undo(action_id)
    if as_json:
        emit_json({"action_id": action_id, "undone": done})
    elif done:
        click.echo(f"undone {action_id}")
    if not done:
        _fail(f"cannot undo {action_id}: it was sent already, or there is no such unsent action", EXIT_ERROR)


# -- conflicts ----------------------------------------------------------------------------------


def _payload_text(action_json: str) -> str:
    try:
        data = json.loads(action_json)
    except ValueError:
        return ""
    for key in ("reply", "text", "reason"):
        if isinstance(data.get(key), str):
            return data[key]
    return ""


@cli.group(invoke_without_command=True)
@click.option("--all", "show_all", is_flag=True, help="Also those already re-applied, noted or dropped.")
@json_option
@click.pass_context
def conflicts(ctx: click.Context, show_all: bool, as_json: bool) -> None:
    """Actions the server refused: list them, then `conflicts resolve`."""
    if ctx.invoked_subcommand is not None:
        return
    from schemas.enums import REASON_LABELS

    env: Env = ctx.find_object(Env)
    items = env.replica().conflicts(open_only=not show_all)
    if as_json:
        emit_json(items)
        return
    if not items:
        log("no conflicts")
        return
    for c in items:
        theirs = c.server_ticket.status.label if c.server_ticket else "—"
        who = f" by {c.changed_by}" if c.changed_by else ""
        when = f" at {_when(c.changed_at)}" if c.changed_at else ""
        click.echo(
            safe(
                f"{c.action_id}  {c.ticket_id}  {c.kind}  [{c.state}]  "
                f"{REASON_LABELS.get(c.reason, c.reason)} ({c.reason.value}): {c.message}"
            )
        )
        click.echo(safe(f"    now: {theirs}{who}{when}"))
        if text := _payload_text(c.action_json):
            click.echo(f"    yours: {safe(text)}")
    log("resolve with: fycli conflicts resolve ACTION_ID --reapply | --note | --drop")


@conflicts.command("resolve")
@click.argument("action_ids", nargs=-1, required=True)
@click.option("--reapply", is_flag=True, help="Queue it again, based on the current state.")
@click.option("--note", is_flag=True, help="Keep its text as a note on the ticket.")
@click.option("--drop", is_flag=True, help="Forget it.")
@json_option
@pass_env
def conflicts_resolve(
    env: Env, action_ids: tuple[str, ...], reapply: bool, note: bool, drop: bool, as_json: bool
) -> None:
    """Settle conflicts: re-apply, keep as a note, or drop (exactly one of the three)."""
    # Separate flags, not one flag_value destination: with that, click let the last of
    # `--drop --reapply` win silently.
    chosen = [how for how, on in (("reapply", reapply), ("note", note), ("drop", drop)) if on]
    if len(chosen) != 1:
        given = " and ".join(f"--{how}" for how in chosen)
        raise click.UsageError(
            f"choose one of --reapply, --note, --drop (not {given})"
            if chosen
            else "choose one of --reapply, --note, --drop"
        )
    how = chosen[0]
    replica = env.replica()
    results = [replica.resolve_conflict(a, how) for a in action_ids]
    report_results(
        results, as_json, {"reapply": "re-queued", "note": "kept as a note", "drop": "dropped"}[how]
    )


# -- saving unsent work (before a damaged replica is moved aside) ------------------------------


@cli.group()
def outbox() -> None:
    """Save unsent work to a file, and queue it again in another replica."""


@outbox.command("export")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--force", is_flag=True, help="Overwrite FILE if it exists.")
@pass_env
def outbox_export(env: Env, file: str, force: bool) -> None:
    """Save the unsent actions and the conflict inbox to FILE (JSON; '-' for stdout).

    Reads what it can even from a replica too damaged to open; changes nothing in it.
    Re-queue the saved work with `fycli outbox import FILE`.
    """
    from local_db.salvage import export_unsent
    from sync.config import write_private_file

    path = env.database_path()
    doc = export_unsent(path)
    text = json.dumps(doc, ensure_ascii=False, indent=2) + "\n"
    if file == "-":
        click.echo(text, nl=False)
    else:
        target = Path(file).expanduser()
        if target.exists() and not force:
            raise click.BadParameter(
                f"{file} exists already; choose another name or pass --force", param_hint="FILE"
            )
        if target.resolve() == path.resolve():
            raise click.BadParameter("FILE is the replica itself; choose another name", param_hint="FILE")
        write_private_file(target, text)  # 0600: it holds the replies typed for citizens
    missing = " (the conflict inbox could not be read)" if doc["conflicts_unreadable"] else ""
    log(
        f"saved {len(doc['outbox'])} unsent actions and {len(doc['conflicts'])} open conflicts "
        f"from {path}{missing}; queue them again with `fycli outbox import {file}`"
    )


@outbox.command("import")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@json_option
@pass_env
def outbox_import(env: Env, file: str, as_json: bool) -> None:
    """Queue the work saved by `fycli outbox export` again (sent by the next sync).

    Actions keep their ids, so one that did reach the server before is not applied twice;
    importing the same file again queues nothing.
    """
    from local_db.salvage import check_saved

    try:
        raw = sys.stdin.read() if file == "-" else Path(file).expanduser().read_text(encoding="utf-8")
        doc = json.loads(raw)
    except OSError as exc:
        raise click.BadParameter(f"cannot read {file}: {exc.strerror}", param_hint="FILE") from None
    except ValueError as exc:
        raise click.BadParameter(f"{file} is not JSON ({exc})", param_hint="FILE") from None
    saved = check_saved(doc, file)
    queued, restored, skipped = env.replica().import_saved(saved)
    if as_json:
        emit_json({"queued": queued, "conflicts": restored, "already_here": skipped})
    else:
        log(
            f"queued {queued} actions and restored {restored} conflicts ({skipped} already here)"
            + ("; run `fycli sync` to send" if queued else "")
        )


# -- templates ----------------------------------------------------------------------------------


@cli.command()
@json_option
@pass_env
def templates(env: Env, as_json: bool) -> None:
    """The unit's reply templates (edit templates.toml in the config dir)."""
    from sync.config import TEMPLATES_FILE, load_templates

    items = load_templates(env.config_dir)
    if as_json:
        emit_json(items)
        return
    for t in items:
        click.echo(f"{_pad(t.name, 12)} {t.title}\n{' ' * 13}{t.text}")
    log(f"file: {env.config_dir / TEMPLATES_FILE}")


# -- optional command groups ------------------------------------------------------------------------


def _register_optional_commands() -> None:
    """Attach the command groups that live beside their engines."""
    from central.cli import register as register_central
    from tui.commands import register as register_tui  # no Textual import until `tui`/`demo` run

    register_central(cli)
    register_tui(cli)


def main() -> None:
    _register_optional_commands()
    cli()


if __name__ == "__main__":
    main()
