"""``fycli serve`` and ``fycli central …``: the central platform's commands.

``serve`` runs the service; ``central`` drives a running service over its admin API (httpx),
except ``central seed --db URL`` which fills a database directly (bulk, fast).
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from central.config import (
    DEFAULT_PORT,
    DEFAULT_SERVER,
    ConnectionLimits,
    SecretFileError,
    admin_token_path,
    default_db_url,
    read_secret,
    write_secret,
)

if TYPE_CHECKING:  # imported lazily at run time: `fycli` starts without SQLAlchemy
    from central.storage.engine import Database

# The exit codes of fycli.py (kept equal; see its docstring).
EXIT_ERROR, EXIT_UNREACHABLE, EXIT_AUTH = 1, 3, 4


def register(root: click.Group) -> None:
    """Attach the central platform's commands to the root ``fycli`` group."""
    root.add_command(serve)
    root.add_command(central)


def _open_database(url: str) -> Database:
    """Open the service's database, or stop with the storage layer's message (it says what to do)."""
    from central.storage.engine import StorageError, open_database

    try:
        return open_database(url)
    except StorageError as exc:
        raise click.ClickException(str(exc)) from exc


# --- serve -----------------------------------------------------------------------------------


def _connection_limit_options(command):
    """``serve``'s connection limits (each also an environment variable); defaults suit the
    embedded server facing a county's liaison PCs over slow links."""
    d = ConnectionLimits()
    options = [
        ("--idle-timeout", "FYCLI_IDLE_TIMEOUT", float, d.idle_timeout,
         "Seconds a connection may stay silent before its first request or between requests."),
        ("--header-timeout", "FYCLI_HEADER_TIMEOUT", float, d.header_timeout,
         "Seconds in which a request's line and headers must arrive in full."),
        ("--body-timeout", "FYCLI_BODY_TIMEOUT", float, d.body_timeout,
         "Seconds for a request body, plus 1 s per --body-min-rate bytes received."),
        ("--body-min-rate", "FYCLI_BODY_MIN_RATE", int, d.body_min_rate,
         "Bytes a second a slow body must keep up, beyond --body-timeout."),
        ("--max-header-bytes", "FYCLI_MAX_HEADER_BYTES", int, d.max_header_bytes,
         "Largest request line + headers; larger is answered 431."),
        ("--max-connections", "FYCLI_MAX_CONNECTIONS", int, d.max_connections,
         "Open connections at most (lowered to fit the open-files limit); at the limit the "
         "one waiting longest for its headers is closed."),
    ]  # fmt: skip
    for flag, env, kind, default, text in reversed(options):
        command = click.option(flag, envvar=env, type=click.FloatRange(min=0.1) if kind is float else
                               click.IntRange(min=1), default=default, show_default=True, help=text)(command)  # fmt: skip
    return command


def _limits(values: dict[str, Any]) -> ConnectionLimits:
    """The limits given, with the connection cap fitted under the open-files limit."""
    from central.connections import connection_cap, fd_limit

    cap = connection_cap(values["max_connections"], fd_limit())
    return ConnectionLimits(**{**values, "max_connections": cap})


def _trusted_proxies(values: tuple[str, ...]) -> list[str]:
    """The proxies whose X-Forwarded-For is believed, checked (an address or a network each)."""
    import ipaddress

    proxies = [item for value in values for item in value.replace(",", " ").split()]
    for item in proxies:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError as exc:
            raise click.BadParameter(
                f"{item!r} is not an IP address or network (e.g. 127.0.0.1 or 10.0.0.0/8)",
                param_hint="--trusted-proxy",
            ) from exc
    return proxies


@click.command()
@click.option("--db", "db_url", envvar="FYCLI_DB", help="Database URL (sqlite:///file or postgresql://…). "
              "Default: central.db in the data dir ($FYCLI_DATA_DIR or ~/.local/share/fycli).")  # fmt: skip
@click.option("--host", envvar="FYCLI_HOST", default="127.0.0.1", show_default=True)
@click.option("--port", envvar="FYCLI_PORT", type=int, default=DEFAULT_PORT, show_default=True,
              help="0 picks a free port (printed on start).")  # fmt: skip
@click.option("--admin-token", envvar="FYCLI_ADMIN_TOKEN", help="Use this admin token instead of a "
              "generated one. On the command line it shows in `ps` to every user: prefer FYCLI_ADMIN_TOKEN "
              "or --admin-token-file.")  # fmt: skip
@click.option("--admin-token-file", envvar="FYCLI_ADMIN_TOKEN_FILE", type=click.Path(dir_okay=False),
              help="Read the admin token from this owner-only file (chmod 600).")  # fmt: skip
@click.option("--log-level", default="warning", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]))  # fmt: skip
@click.option("--access-log/--no-access-log", default=False, help="Log every request.")
@click.option("--tls-cert", envvar="FYCLI_TLS_CERT", type=click.Path(exists=True, dir_okay=False),
              help="Serve https with this PEM certificate (chain).")  # fmt: skip
@click.option("--tls-key", envvar="FYCLI_TLS_KEY", type=click.Path(exists=True, dir_okay=False),
              help="The certificate's PEM private key.")  # fmt: skip
@_connection_limit_options
@click.option("--trusted-proxy", "trusted_proxies", multiple=True, envvar="FYCLI_TRUSTED_PROXY",
              metavar="ADDR", help="Believe X-Forwarded-For only from this proxy (an address or a network "
              "like 10.0.0.0/8; repeat, or space/comma-separated in FYCLI_TRUSTED_PROXY). Default: no "
              "proxy, the audit records the TCP peer. Behind nginx on this host: 127.0.0.1.")  # fmt: skip
def serve(
    db_url: str | None,
    host: str,
    port: int,
    admin_token: str | None,
    admin_token_file: str | None,
    log_level: str,
    access_log: bool,
    tls_cert: str | None,
    tls_key: str | None,
    trusted_proxies: tuple[str, ...],
    **limit_values: Any,
) -> None:
    """Run the central platform's sync service (SQLite by default, PostgreSQL with --db).

    Liaisons' tokens cross the network: outside loopback, serve https (--tls-cert/--tls-key)
    or put the service behind a TLS-terminating proxy.

    Each liaison's requests are rate limited (shared by every process on the database):
    FYCLI_RATE_PULL and FYCLI_RATE_PUSH, BURST/PER_SECOND or off (defaults 300/5 and 120/2).
    """
    import uvicorn

    from central.connections import describe, make_protocol
    from central.logsafe import log_config

    if bool(tls_cert) != bool(tls_key):
        raise click.UsageError("--tls-cert and --tls-key go together")
    proxies = _trusted_proxies(trusted_proxies)
    if admin_token_file:
        admin_token = _secret_from(admin_token_file, "--admin-token-file")

    from central.app import create_app
    from central.limits import RateLimits
    from central.service import Service

    limits = _limits(limit_values)
    try:
        rate_limits = RateLimits.from_env()
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    db = _open_database(db_url or default_db_url())
    service = Service(db, rate_limits=rate_limits)
    created = service.ensure_admin_token(admin_token)
    token_file = admin_token_path()
    try:
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted sockets only when the
        # listening socket says proto == IPPROTO_TCP; with proto 0, Nagle + delayed ACK add
        # ~40 ms to every response written in two parts (headers, then body).
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        raise click.ClickException(
            f"cannot listen on {host}:{port} ({exc.strerror}); try another --port"
        ) from exc
    bound_port = sock.getsockname()[1]
    url_shown = f"{'https' if tls_cert else 'http'}://{host}:{bound_port}"
    where = db.sqlite_path or db.write.url.render_as_string(hide_password=True)
    say = lambda text="": click.echo(text)  # noqa: E731
    say("fycli central service")
    say(f"  data:        {where}" + (" (SQLite)" if db.is_sqlite else " (PostgreSQL)"))
    if created:
        say(f"  admin token: {created}")
        try:
            write_secret(token_file, created)
            say(f"               (shown once; saved owner-only to {token_file})")
        except (SecretFileError, OSError) as exc:  # the token is stored (hashed): keep it shown
            say(f"               (shown once; NOT saved: {exc}; copy it now, or restart with "
                "--admin-token-file to set another)")  # fmt: skip
    elif admin_token:
        say("  admin token: the one given by --admin-token(-file) / FYCLI_ADMIN_TOKEN")
    else:
        say(f"  admin token: in {token_file}" if token_file.exists() else
            "  admin token: set at first start (give a new one with --admin-token)")  # fmt: skip
    say(f"  API docs:    {url_shown}/docs")
    say(f"  limits:      {describe(limits)}")
    say("Add a unit and a liaison (prints the liaison's token):")
    say(
        f"  fycli central --server {url_shown} add-unit t-xq 西湖镇人民政府 --county 颍州区 --township 西湖镇"
    )
    say(f"  fycli central --server {url_shown} add-liaison 张三 --unit t-xq")
    say(f"  then, on the liaison's machine: fycli init --server {url_shown} --token <token>")
    say(f"fycli serve: listening on {url_shown}")
    sys.stdout.flush()
    app = create_app(service=service)
    config = uvicorn.Config(
        app,
        log_level=log_level,
        log_config=log_config(uvicorn.config.LOGGING_CONFIG),
        access_log=access_log,
        timeout_graceful_shutdown=5,
        ssl_certfile=tls_cert,
        ssl_keyfile=tls_key,
        http=make_protocol(limits),
        timeout_keep_alive=max(1, round(limits.idle_timeout)),
        # uvicorn's own backstop: a 503 once more requests are in flight than sockets allowed.
        limit_concurrency=limits.max_connections + 1,
        # uvicorn believes X-Forwarded-For from 127.0.0.1 unless told otherwise: any local
        # process could then write a made-up address into the audit. Only named proxies.
        proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies or [],
    )
    uvicorn.Server(config).run(sockets=[sock])


# --- central ---------------------------------------------------------------------------------


class AdminClient:
    """The admin API over httpx; every failure becomes a message and an exit code."""

    def __init__(self, server: str, token: str) -> None:
        import httpx

        self.server = server.rstrip("/")
        self.http = httpx.Client(
            base_url=self.server, headers={"Authorization": f"Bearer {token}"}, timeout=120.0
        )

    def call(self, method: str, path: str, *, body: Any = None, params: dict | None = None) -> Any:
        import httpx

        try:
            response = self.http.request(method, path, json=body, params=params)
        except httpx.HTTPError as exc:
            click.echo(f"error: cannot reach {self.server} ({exc}); is `fycli serve` running?", err=True)
            sys.exit(EXIT_UNREACHABLE)
        if response.status_code >= 400:
            try:
                err = response.json()
                message = err.get("message", response.text)
                if err.get("detail"):
                    message += "".join(f"\n  {'.'.join(d['loc'])}: {d['msg']}" for d in err["detail"])
            except ValueError:
                message = response.text[:500]
            click.echo(f"error ({response.status_code}): {message}", err=True)
            sys.exit(EXIT_AUTH if response.status_code in (401, 403) else EXIT_ERROR)
        return response.json()


def _secret_from(path: str | Path, option: str) -> str:
    """The token in a file, or a usage error saying what is wrong with the file."""
    try:
        return read_secret(Path(path))
    except SecretFileError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from exc


def _resolve_token(token: str | None, token_file: str | None) -> str:
    """The admin token: given, or from the file given, or from the one `fycli serve` writes."""
    if token:
        return token
    if token_file:
        return _secret_from(token_file, "--admin-token-file")
    default = admin_token_path()
    if default.exists() or default.is_symlink():
        return _secret_from(default, "the admin-token file")
    raise click.UsageError(
        "no admin token: set FYCLI_ADMIN_TOKEN or give --admin-token-file pointing at the admin-token "
        f"file `fycli serve` wrote (looked in {default})"
    )


@click.group()
@click.option("--server", envvar="FYCLI_SERVER", default=DEFAULT_SERVER, show_default=True)
@click.option("--admin-token", envvar="FYCLI_ADMIN_TOKEN", help="Default: the admin-token file in the data "
              "dir. On the command line it shows in `ps` to every user: prefer FYCLI_ADMIN_TOKEN or "
              "--admin-token-file.")  # fmt: skip
@click.option("--admin-token-file", "--token-file", "token_file", envvar="FYCLI_ADMIN_TOKEN_FILE",
              type=click.Path(dir_okay=False), help="Read the admin token from this owner-only file.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print data as JSON.")
@click.pass_context
def central(
    ctx: click.Context, server: str, admin_token: str | None, token_file: str | None, as_json: bool
) -> None:
    """The central platform's actions, over its admin API."""
    ctx.obj = {"server": server, "token": admin_token, "token_file": token_file, "json": as_json}


def _client(ctx: click.Context) -> AdminClient:
    obj = ctx.find_root().find_object(dict) or ctx.obj
    return AdminClient(obj["server"], _resolve_token(obj["token"], obj["token_file"]))


def _as_json(ctx: click.Context) -> bool:
    return bool((ctx.find_object(dict) or {}).get("json"))


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


def _print(ctx: click.Context, data: Any, human: str) -> None:
    if _as_json(ctx):
        _echo_json(data)
    else:
        click.echo(human)


json_option = click.option("--json", "as_json", is_flag=True, help="Print data as JSON.")


def _with_json(ctx: click.Context, as_json: bool) -> None:
    if as_json:
        ctx.find_object(dict)["json"] = True


@central.command("add-unit")
@click.argument("unit_id")
@click.argument("name")
@click.option("--kind", type=click.Choice(["city", "county", "township", "department"]), default="township")
@click.option("--parent", "parent_id")
@click.option("--county")
@click.option("--township")
@json_option
@click.pass_context
def add_unit(ctx, unit_id, name, kind, parent_id, county, township, as_json) -> None:
    """Add a unit (a township, county sub-platform, department …)."""
    _with_json(ctx, as_json)
    body = {
        "id": unit_id,
        "name": name,
        "kind": kind,
        "parent_id": parent_id,
        "county": county,
        "township": township,
    }
    unit = _client(ctx).call("POST", "/v1/admin/units", body=body)
    _print(ctx, unit, f"added unit {unit['id']} {unit['name']}")


@central.command("units")
@json_option
@click.pass_context
def list_units(ctx, as_json) -> None:
    """List the units."""
    _with_json(ctx, as_json)
    units = _client(ctx).call("GET", "/v1/admin/units")
    _print(ctx, units, "\n".join(f"{u['id']}\t{u['kind']}\t{u['name']}" for u in units) or "no units yet")


@central.command("add-liaison")
@click.argument("name")
@click.option("--unit", "unit_id", required=True, help="The unit the liaison works for.")
@click.option("--id", "liaison_id", help="Default: generated.")
@json_option
@click.pass_context
def add_liaison(ctx, name, unit_id, liaison_id, as_json) -> None:
    """Add a liaison and print their token (shown this once only)."""
    _with_json(ctx, as_json)
    made = _client(ctx).call(
        "POST", "/v1/admin/liaisons", body={"name": name, "unit_id": unit_id, "id": liaison_id}
    )
    _print(ctx, made, f"liaison {made['liaison_id']} of {unit_id}\ntoken (shown once): {made['token']}")


@central.command("liaisons")
@click.option("--unit", "unit_id", help="Only this unit's liaisons.")
@json_option
@click.pass_context
def list_liaisons(ctx, unit_id, as_json) -> None:
    """List the liaisons (id, unit, whether their token works)."""
    _with_json(ctx, as_json)
    rows = _client(ctx).call("GET", "/v1/admin/liaisons", params={"unit_id": unit_id} if unit_id else None)
    lines = [
        f"{r['id']}\t{r['unit_id']}\t{'active' if r['active'] else 'revoked'}\t{r['name']}" for r in rows
    ]
    _print(ctx, rows, "\n".join(lines) or "no liaisons yet")


@central.command("revoke-liaison")
@click.argument("liaison_id")
@json_option
@click.pass_context
def revoke_liaison(ctx, liaison_id, as_json) -> None:
    """Stop a liaison's token now (a lost laptop, someone who left): every request with it is
    refused as "token revoked". `rotate-token` gives them a new one."""
    _with_json(ctx, as_json)
    done = _client(ctx).call("POST", f"/v1/admin/liaisons/{liaison_id}/revoke")
    state = "revoked: their token is refused from now on" if done["was_active"] else "was already revoked"
    _print(ctx, done, f"liaison {liaison_id} ({done['name']}, {done['unit_id']}) {state}")


@central.command("rotate-token")
@click.argument("liaison_id")
@json_option
@click.pass_context
def rotate_token(ctx, liaison_id, as_json) -> None:
    """Give a liaison a new token (shown this once) and refuse the old one; a revoked liaison
    works again with the new token."""
    _with_json(ctx, as_json)
    made = _client(ctx).call("POST", f"/v1/admin/liaisons/{liaison_id}/token")
    _print(ctx, made, f"liaison {liaison_id}: the old token is refused from now on\n"
                      f"new token (shown once): {made['token']}")  # fmt: skip


@central.command("audit")
@click.option("--ticket", "--target", "target", help="Only this ticket's rows (or a liaison's, a unit's id).")
@click.option(
    "--limit", type=click.IntRange(1, 10_000), default=50, show_default=True, help="The newest N rows."
)
@json_option
@click.pass_context
def audit(ctx, target, limit, as_json) -> None:
    """The audit trail: who did what, when, from which client and address (oldest first)."""
    _with_json(ctx, as_json)
    params = {"limit": limit, **({"target": target} if target else {})}
    rows = _client(ctx).call("GET", "/v1/admin/audit", params=params)
    if _as_json(ctx):
        _echo_json(rows)
        return
    if not rows:
        click.echo(f"no audit rows for {target}" if target else "no audit rows yet")
    for row in reversed(rows):  # the API gives the newest first; a story reads top-down
        named = row.get("actor_id")  # NULL on rows older than migration 0006
        who = f"{row['actor']} [{named}] ({row['role']})" if named and named != row["actor"] else \
            f"{row['actor']} ({row['role']})"  # fmt: skip
        where = " ".join(x for x in (row.get("client_id") and f"client {row['client_id']}",
                                     row.get("remote_addr") and f"from {row['remote_addr']}") if x)  # fmt: skip
        click.echo(f"{row['at'][:19]}  {who:<20} {row['what']:<24} {row['target'] or '-':<14} "
                   f"{row.get('detail') or ''} {where}".rstrip())  # fmt: skip


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def _act(ctx: click.Context, ticket_id: str, action: dict, at: str | None = None) -> None:
    body = {"ticket_id": ticket_id, "created_at": _now(), **action}
    params = {"at": at} if at else None
    result = _client(ctx).call("POST", f"/v1/admin/tickets/{ticket_id}/actions", body=body, params=params)
    _report(ctx, ticket_id, action["kind"], result)


def _report(ctx: click.Context, ticket_id: str, kind: str, result: dict) -> None:
    if _as_json(ctx):
        _echo_json(result)
    elif result["outcome"] == "applied":
        ticket = result["ticket"]
        click.echo(
            f"{kind} {ticket_id}: applied — now {ticket['status']}, unit {ticket.get('unit_id') or '-'}"
        )
    else:
        click.echo(
            f"{kind} {ticket_id}: {result['outcome']} — {result.get('reason')}: {result.get('message')}"
        )
    if result["outcome"] == "rejected":
        sys.exit(EXIT_ERROR)


at_option = click.option("--at", help="When it happened (ISO time with zone), to back-fill history.")


@central.command("register")
@click.argument("ticket_id")
@click.option("--title", required=True)
@click.option("--description", default="")
@click.option("--channel", default="hotline_12345", show_default=True,
              type=click.Choice(["hotline_12345", "leader_board", "mayor_mailbox", "media", "opinion", "wechat"]))  # fmt: skip
@click.option("--type", "appeal_type", default="help", show_default=True,
              type=click.Choice(["consult", "help", "complaint", "report", "suggestion", "praise"]))  # fmt: skip
@click.option("--category", default="其他", show_default=True)
@click.option("--citizen-name", default="")
@click.option("--phone", "citizen_phone", default="")
@click.option(
    "--callback", "needs_callback", is_flag=True, help="The unit must call back: do not mask the phone."
)
@click.option("--address", default="")
@click.option("--county", required=True)
@click.option("--township", required=True)
@click.option("--village")
@click.option("--complexity", type=click.Choice(["urgent", "general", "complex"]), default="general")
@at_option
@json_option
@click.pass_context
def register_ticket(ctx, ticket_id, at, as_json, **fields) -> None:
    """Register (受理) a ticket from a channel."""
    _with_json(ctx, as_json)
    body = {"kind": "register", "ticket_id": ticket_id, "created_at": _now(), **fields}
    result = _client(ctx).call("POST", "/v1/admin/tickets", body=body, params={"at": at} if at else None)
    _report(ctx, ticket_id, "register", result)


def _simple(name: str, kind: str, doc: str, *options, build=None) -> None:
    """Declare a ``fycli central NAME TICKET_ID [options]`` command for a central action."""

    @click.pass_context
    def command(ctx, ticket_id, at, as_json, **values) -> None:
        _with_json(ctx, as_json)
        action = {"kind": kind, **(build(values) if build else values)}
        _act(ctx, ticket_id, action, at)

    command.__doc__ = doc
    for option in reversed((click.argument("ticket_id"), *options, at_option, json_option)):
        command = option(command)
    central.command(name)(command)


_simple(
    "assign",
    "assign",
    "Assign (交办) a registered ticket to a unit; sets both deadlines.",
    click.option("--unit", "unit_id", required=True),
    click.option("--complexity", type=click.Choice(["urgent", "general", "complex"])),
)
_simple(
    "reassign",
    "reassign",
    "Reassign (改派) a ticket to another unit.",
    click.option("--unit", "unit_id", required=True),
    click.option("--reason", default=""),
)
_simple("urge", "urge", "Urge (催办) the unit.", click.option("--comment", default=""))
_simple(
    "supervise",
    "supervise",
    "Put under supervision (督办); --listed for 挂牌督办.",
    click.option("--listed", is_flag=True),
    click.option("--comment", default=""),
)
_simple("escalate", "escalate", "Escalate (提级调度).", click.option("--comment", default=""))
_simple(
    "reject-reply",
    "reject_reply",
    "Send the reply back as incomplete (回退).",
    click.option("--reason", required=True),
)
_simple(
    "feedback",
    "record_feedback",
    "Record the citizen's verdict (回访); dissatisfied reopens it.",
    click.option(
        "--result", required=True, type=click.Choice(["satisfied", "basically_satisfied", "dissatisfied"])
    ),
    click.option("--comment", default=""),
)


def _approve_or_refuse(values: dict) -> dict:
    """``--approve`` and ``--refuse`` as one ``approve`` field: exactly one of them (as a
    ``--approve/--refuse`` pair, click let the last of the two win silently)."""
    approve, refuse = values.pop("approve"), values.pop("refuse")
    if approve == refuse:
        raise click.UsageError("give exactly one of --approve or --refuse")
    return {"approve": approve, **values}


_simple(
    "decide-return",
    "decide_return",
    "Grant (--approve --unit U) or refuse (--refuse) a return request.",
    click.option("--approve", is_flag=True, help="Grant it (with --unit: who takes the ticket)."),
    click.option("--refuse", is_flag=True, help="Refuse it: the ticket goes back to in progress."),
    click.option("--unit", "unit_id"),
    click.option("--comment", default=""),
    build=_approve_or_refuse,
)
_simple(
    "decide-extension",
    "decide_extension",
    "Grant (--approve [--days N]) or refuse an extension.",
    click.option("--approve", is_flag=True, help="Grant it (--days: fewer than asked)."),
    click.option("--refuse", is_flag=True, help="Refuse it."),
    click.option("--days", type=int),
    click.option("--comment", default=""),
    build=_approve_or_refuse,
)
_simple("archive", "archive", "Archive (归档) a closed ticket.")  # fmt: skip


@central.command("show")
@click.argument("ticket_id")
@click.pass_context
def show(ctx, ticket_id) -> None:
    """Print a ticket with its notes and events (JSON)."""
    _echo_json(_client(ctx).call("GET", f"/v1/tickets/{ticket_id}"))


@central.group("calendar")
def calendar_group() -> None:
    """The holiday table the platform hands to every client."""


@calendar_group.command("set")
@click.argument("year", type=int)
@click.option("--holiday", "holidays", multiple=True, help="A day off (YYYY-MM-DD); repeat.")
@click.option("--workday", "workdays", multiple=True, help="A make-up working weekend day (调休); repeat.")
@click.option("--file", "path", type=click.File(), help="A HolidayTable JSON file instead.")
@click.pass_context
def calendar_set(ctx, year, holidays, workdays, path) -> None:
    """Set a year's holiday table (clients receive it on their next sync)."""
    if path is not None and (holidays or workdays):
        raise click.UsageError("give the days with --holiday/--workday or a --file, not both")
    body = json.load(path) if path else {"year": year, "holidays": list(holidays), "workdays": list(workdays)}
    result = _client(ctx).call("PUT", f"/v1/admin/calendar/{year}", body=body)
    click.echo(f"calendar {year} stored; calendar version {result['calendar_version']}")


@central.command("metrics")
@click.option(
    "--month", default=lambda: dt.date.today().strftime("%Y-%m"), help="YYYY-MM; default: this month."
)
@click.option("--unit", "unit_id")
@json_option
@click.pass_context
def metrics(ctx, month, unit_id, as_json) -> None:
    """三率 per unit for a month, with rank among peers ("—" when nothing was due)."""
    from central.metrics import fmt_rate

    _with_json(ctx, as_json)
    params = {"month": month, **({"unit_id": unit_id} if unit_id else {})}
    rows = _client(ctx).call("GET", "/v1/admin/metrics", params=params)
    if _as_json(ctx):
        _echo_json(rows)
        return
    click.echo(f"{'unit':<16} {'rank':>7} {'response':>9} {'resolution':>10} {'on-time':>8} {'satisf.':>8} "
               f"{'return':>7} {'rework':>7}  name")  # fmt: skip
    for m in rows:
        rank = f"{m['rank']}/{m['peers']}" if m["rank"] else "—"
        click.echo(
            f"{m['unit_id']:<16} {rank:>7} {fmt_rate(m['response_rate']):>9} {fmt_rate(m['resolution_rate']):>10} "
            f"{fmt_rate(m['on_time_rate']):>8} {fmt_rate(m['satisfaction_rate']):>8} "
            f"{fmt_rate(m['return_rate']):>7} {fmt_rate(m['rework_rate']):>7}  {m['unit_name']}"
        )


@central.command("prune")
@click.option("--older-than", "days", type=click.FloatRange(min=0), required=True, metavar="DAYS",
              help="Delete the scope exits (reassigned-away records) written longer ago than this.")  # fmt: skip
@json_option
@click.pass_context
def prune(ctx, days, as_json) -> None:
    """Forget old scope exits. Liaisons whose last sync is older get a clean re-pull (their
    unsent actions are kept)."""
    _with_json(ctx, as_json)
    result = _client(ctx).call("POST", "/v1/admin/prune", body={"older_than_days": days})
    _print(ctx, result, f"deleted {result['deleted']} scope exits; cursors at or below "
                        f"{result['min_retained_seq']} now re-pull from scratch")  # fmt: skip


@central.command("seed")
@click.argument("count", type=int, default=1000)
@click.option("--db", "db_url", help="Fill this database directly (fast, bulk) instead of the server's.")
@click.option(
    "--seed", "seed_value", type=int, default=1, show_default=True, help="Random seed (same seed, same data)."
)
@click.option("--county", help="Only this county's units and tickets.")
@click.option("--township", help="Only this township.")
@json_option
@click.pass_context
def seed(ctx, count, db_url, seed_value, county, township, as_json) -> None:
    """Fill a service with realistic data: Fuyang's counties and townships as units, COUNT tickets
    in every status with deadlines on the working-day calendar."""
    import time

    _with_json(ctx, as_json)
    started = time.perf_counter()
    if db_url:
        from central.seed import seed_service
        from central.service import Service

        summary = seed_service(
            Service(_open_database(db_url)), count, seed=seed_value, county=county, township=township
        )
    else:
        body = {"tickets": count, "seed": seed_value, "county": county, "township": township}
        summary = _client(ctx).call("POST", "/v1/admin/seed", body=body)
    summary["seconds"] = round(time.perf_counter() - started, 2)
    _print(
        ctx,
        summary,
        f"seeded {summary['units']} units and {summary['tickets']} tickets in {summary['seconds']} s",
    )
