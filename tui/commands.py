"""``fycli tui`` and ``fycli demo``: registered on the root group by fycli.py.

Imports nothing of Textual at module level: a cron job running ``fycli sync`` must not pay
for it. The app is imported inside the commands.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

LANG_OPTION = click.option(
    "--lang",
    type=click.Choice(["zh", "en"]),
    default=None,
    help="Language of the app (default: $FYCLI_LANG, else Chinese).",
)


def register(root: click.Group) -> None:
    """Attach ``tui`` and ``demo`` to the root ``fycli`` group."""
    root.add_command(tui_command)
    root.add_command(demo_command)


def run_tui(lang: str | None = None, *, config_dir: Path | None = None, database: Path | None = None) -> None:
    """Open the app on the configured replica (what ``fycli`` alone on a terminal does).

    Without a usable config (no ``fycli init`` yet) but with ``--db``, the app opens the
    replica offline with no server to sync with.
    """
    from local_db.api import ReplicaError
    from local_db.replica import Replica
    from sync.errors import ConfigError
    from tui.core.config import load_app_config
    from tui.core.sync_runner import SyncRunner, client_factory_from_config
    from tui.i18n import resolve_lang

    runner = None
    try:
        configured, factory = client_factory_from_config(config_dir)
        path = database or configured
        runner = SyncRunner(path, factory)
    except ConfigError as exc:
        if database is None:
            raise click.ClickException(str(exc)) from None
        path = database
    if not path.exists():
        raise click.ClickException(f"no replica at {path}: run `fycli init` first (or pass --db PATH)")
    try:
        Replica.open(path).close()  # a broken or foreign file is reported here, not mid-screen
    except ReplicaError as exc:
        raise click.ClickException(str(exc)) from None
    from tui.app import FycliApp

    app = FycliApp(path, lang=resolve_lang(lang), config=load_app_config(config_dir), sync_runner=runner)
    app.run()


@click.command("tui")
@LANG_OPTION
@click.pass_context
def tui_command(ctx: click.Context, lang: str | None) -> None:
    """Open the terminal app (keyboard-driven queue, bulk closing, conflicts, dashboard).

    Uses the root options: ``fycli --config-dir DIR --db FILE tui``.
    """
    if not sys.stdout.isatty():
        raise click.UsageError("the app needs a terminal; for scripts use `fycli list --json` and friends")
    env = ctx.find_root().obj  # fycli.py's Env: the root --config-dir and --db
    run_tui(lang, config_dir=getattr(env, "config_dir", None), database=getattr(env, "db_override", None))


@click.command("demo")
@LANG_OPTION
@click.option(
    "--tickets", default=300, show_default=True, help="How many tickets the demo township starts with."
)
@click.option("--seed", default=7, show_default=True, help="Random seed of the demo data.")
@click.option(
    "--activity-every",
    default=8.0,
    show_default=True,
    help="Seconds between the central platform's actions while you work.",
)
def demo_command(lang: str | None, tickets: int, seed: int, activity_every: float) -> None:
    """A one-command tour: embedded central service, a synced replica, the app, live activity.

    F9 (or ctrl+o) cuts and restores the network. Everything lives in a temporary directory
    removed on exit.
    """
    from tui.demo.run import run_demo
    from tui.i18n import resolve_lang

    run_demo(lang=resolve_lang(lang), tickets=tickets, seed=seed, activity_every=activity_every)
