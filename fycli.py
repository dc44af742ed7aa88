"""fycli: the command line. One program for the liaison, the script author and the operator.

The commands are thin: the work is in ``local_db/`` (the replica), ``sync/`` (the protocol),
``central/`` (the service) and ``tui/`` (the terminal app, imported only here, lazily, so a
cron job never loads Textual).

Exit codes (stable; scripts may rely on them):

====  ==========================================================================
0     success
1     error: bad config, unusable database, garbage from the server …
2     usage error: a wrong option or argument
3     the server could not be reached; the work is kept locally and will be sent
4     authentication refused: the token is wrong or revoked
5     finished, with conflicts to look at (``fycli conflicts``)
====  ==========================================================================
"""

from __future__ import annotations

import click

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_AUTH = 4
EXIT_CONFLICTS = 5

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "auto_envvar_prefix": "FYCLI"}


@click.group(context_settings=CONTEXT_SETTINGS, invoke_without_command=True)
@click.version_option(package_name="fycli")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """fycli — offline-first tickets for township liaisons (两有三解).

    Run without a command on a terminal to open the app (same as ``fycli tui``).
    """
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())


def _register_optional_commands() -> None:
    """Attach the command groups that live beside their engines."""
    from central.cli import register as register_central

    register_central(cli)


def main() -> None:
    _register_optional_commands()
    cli()


if __name__ == "__main__":
    main()
