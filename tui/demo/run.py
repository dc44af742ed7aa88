"""``fycli demo``: the one-command tour, on loopback, in a temporary home removed on exit.

1. a central service (the real ``central.app``) in this process, uvicorn in a thread, on a
   free 127.0.0.1 port, with ``fycli serve``'s connection limits, seeded with a township's
   realistic tickets in every status;
2. a liaison of that township, a config and a replica in the temporary home, synced through
   a switchable relay (F9 / ctrl+o cuts and restores the network for real);
3. the central platform acting in a thread while you work;
4. the app, with background sync every few seconds.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from central.config import ConnectionLimits

DEMO_COUNTY = "颍州区"
DEMO_TOWNSHIP = "西湖镇"
OTHER_TOWNSHIP = "三合镇"
START_TIMEOUT = 30.0


def say(text: str) -> None:
    click.echo(text, err=True)


class EmbeddedCentral:
    """The central service on a free loopback port, served by uvicorn in a thread.

    Served as ``fycli serve`` serves it: idle, header and body deadlines, a header size limit
    and a connection cap (central/connections.py), and no X-Forwarded-For believed. ``limits``
    defaults to serve's defaults; its connection cap is fitted under the open-files limit.
    """

    def __init__(self, db_url: str, *, limits: ConnectionLimits | None = None) -> None:
        import uvicorn

        from central.app import create_app
        from central.config import ConnectionLimits
        from central.connections import connection_cap, fd_limit, make_protocol
        from central.service import Service
        from central.storage.engine import open_database

        self.service = Service(open_database(db_url))
        self.admin_token = "fyadm_demo_" + secrets.token_hex(16)
        self.service.ensure_admin_token(self.admin_token)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(128)
        self.port: int = self._sock.getsockname()[1]
        limits = limits or ConnectionLimits()
        self.limits = replace(limits, max_connections=connection_cap(limits.max_connections, fd_limit()))
        config = uvicorn.Config(
            create_app(service=self.service),
            log_level="error",
            access_log=False,
            http=make_protocol(self.limits),
            timeout_keep_alive=max(1, round(self.limits.idle_timeout)),
            limit_concurrency=self.limits.max_connections + 1,  # uvicorn's backstop, as serve's
            proxy_headers=False,  # nothing proxies the demo: no forwarded address is believed
            forwarded_allow_ips=[],
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, name="demo-central-http", daemon=True
        )

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._server.started:  # readiness poll, bounded by the deadline
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise click.ClickException("the embedded central service did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        with contextlib.suppress(OSError):
            self._sock.close()


def _units():
    from central.seed import units_for

    ours = next(u for u in units_for(DEMO_COUNTY, DEMO_TOWNSHIP) if u["kind"] == "township")
    other = next(u for u in units_for(DEMO_COUNTY, OTHER_TOWNSHIP) if u["kind"] == "township")
    return ours, other


def run_demo(*, lang: str = "zh", tickets: int = 300, seed: int = 7, activity_every: float = 8.0) -> None:
    from central.seed import seed_service
    from sync.client import SyncClient
    from sync.config import DEFAULT_TEMPLATES, Config, write_default_templates, write_token
    from tui.core.config import AppConfig
    from tui.core.sync_runner import APP_RETRY, SyncRunner
    from tui.demo.activity import CentralActivity
    from tui.demo.netswitch import NetworkSwitch

    home = Path(tempfile.mkdtemp(prefix="fycli-demo-"))
    central = switch = activity = app = None

    def stop(signum: int, _frame: object) -> None:
        # A closed terminal window (SIGHUP) or a kill (SIGTERM) must still remove the temporary
        # home: leave the app if it runs, else unwind into the finally below.
        if app is not None and app.is_running:
            app.exit()
        else:
            raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, stop)
    log_path = home / "central-activity.log"
    log_lock = threading.Lock()

    def log(message: str) -> None:
        with log_lock, log_path.open("a", encoding="utf-8") as fh:
            fh.write(f"{time.strftime('%H:%M:%S')} {message}\n")

    try:
        say(f"fycli demo: temporary home {home}")
        central = EmbeddedCentral(f"sqlite:///{home / 'central.db'}")
        ours, other = _units()
        say(f"fycli demo: seeding {tickets} tickets of {ours['name']} …")
        seed_service(central.service, tickets, seed=seed, county=DEMO_COUNTY, township=DEMO_TOWNSHIP)
        seed_service(central.service, 0, county=DEMO_COUNTY, township=OTHER_TOWNSHIP)  # the other unit
        _liaison_id, token = central.service.add_liaison("王晓梅", ours["id"])
        central.start()
        switch = NetworkSwitch(("127.0.0.1", central.port))
        say(
            f"fycli demo: central service on http://127.0.0.1:{central.port} (the app reaches it via {switch.url})"
        )

        config_dir = home / "config"
        replica_path = home / "replica.db"
        write_token(config_dir / "token", token)
        Config(path=config_dir / "config.toml", server_url=switch.url, database=replica_path,
               token_file=config_dir / "token").save()  # fmt: skip
        write_default_templates(config_dir)
        from local_db.replica import Replica

        Replica.open(replica_path, create=True).close()
        runner = SyncRunner(
            replica_path, lambda: SyncClient(switch.url, token, retry=APP_RETRY, timeout=20.0)
        )
        say("fycli demo: first sync …")
        first = runner.run()
        if not first.ok:
            raise click.ClickException(f"the first sync failed: {first.error}")
        say(
            f"fycli demo: {first.report.pulled_tickets if first.report else 0} tickets synced; opening the app"
        )
        activity = CentralActivity(
            central.service,
            unit_id=ours["id"],
            other_unit_id=other["id"],
            county=DEMO_COUNTY,
            township=DEMO_TOWNSHIP,
            replica_path=replica_path,
            every=activity_every,
            log=log,
        )
        activity.start()
        from tui.app import FycliApp

        app = FycliApp(
            replica_path,
            lang=lang,  # type: ignore[arg-type]
            config=AppConfig(templates=list(DEFAULT_TEMPLATES)),
            sync_runner=runner,
            auto_sync=max(3.0, activity_every / 2),
            network=switch,
            sync_on_start=True,  # a quick one: the bar says "online" from the first second
            replica_is_temporary=True,  # removed on exit: quitting asks before discarding work
        )
        app.run()
    finally:
        if activity is not None:
            activity.stop()
        if switch is not None:
            switch.close()
        if central is not None:
            central.stop()
        shutil.rmtree(home, ignore_errors=True)
        say("fycli demo: stopped; temporary home removed")
    sys.exit(0)
