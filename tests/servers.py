"""Real central servers for tests: a ``fycli serve`` subprocess on 127.0.0.1, a free port.

Usage (or take the ``central_server`` fixture from tests/conftest.py)::

    with CentralServer.start(tmp_path) as server:           # SQLite file in tmp_path
        server.add_unit("t1")
        token = server.add_liaison("t1")
        ids = server.register_and_assign("t1", 5)
        server.cli("assign", "X-1", "--unit", "t1")             # `fycli central …`, in-process
        httpx.get(server.url + "/v1/me", headers={"Authorization": f"Bearer {token}"})

``CentralServer.start(tmp_path, db_url="postgresql://…")`` runs it on PostgreSQL instead (see
:func:`fresh_pg_database`). Readiness is awaited on events (the startup line, then
``/v1/health``), never by sleeping; the process is killed at the end.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("FYCLI_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
START_TIMEOUT = 30.0
_LISTEN = "fycli serve: listening on "
_ids = itertools.count(1)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def register_body(ticket_id: str, **over: Any) -> dict:
    """A valid ``register`` action for ``ticket_id``; keyword arguments override fields."""
    body = {
        "kind": "register",
        "ticket_id": ticket_id,
        "created_at": _now(),
        "channel": "hotline_12345",
        "appeal_type": "complaint",
        "category": "城市管理",
        "title": f"路灯不亮 {ticket_id}",
        "description": "西湖镇王庄村路灯坏了三天，晚上出行不便。",
        "citizen_name": "王小明",
        "citizen_phone": "13812345678",
        "address": "颍州区西湖镇王庄村",
        "county": "颍州区",
        "township": "西湖镇",
        "complexity": "general",
    }
    body.update(over)
    return body


@dataclass
class CentralServer:
    """A running ``fycli serve``. ``url``, ``admin_token``, ``db_url`` and small admin helpers."""

    url: str
    admin_token: str
    db_url: str
    process: subprocess.Popen
    output: list[str] = field(default_factory=list)
    _http: httpx.Client | None = None

    # --- lifecycle -----------------------------------------------------------------------

    @classmethod
    @contextlib.contextmanager
    def start(
        cls,
        tmp_path: Path,
        db_url: str | None = None,
        *,
        env: dict | None = None,
        port: int = 0,
        admin_token: str | None = None,
        preexec_fn: Any = None,
        extra_args: list[str] | None = None,
    ) -> Iterator[CentralServer]:
        server = cls.launch(tmp_path, db_url, env=env, port=port, admin_token=admin_token,
                            preexec_fn=preexec_fn, extra_args=extra_args)  # fmt: skip
        try:
            yield server
        finally:
            server.stop()

    @classmethod
    def launch(cls, tmp_path: Path, db_url: str | None = None, *, env: dict | None = None,
               port: int = 0, admin_token: str | None = None, preexec_fn: Any = None,
               extra_args: list[str] | None = None) -> CentralServer:  # fmt: skip
        """Start a server (call :meth:`stop`). Waits until it answers ``/v1/health``.
        ``preexec_fn`` runs in the child before it starts (e.g. to lower its open-files limit);
        ``extra_args`` are more ``fycli serve`` options."""
        tmp_path.mkdir(parents=True, exist_ok=True)
        db_url = db_url or f"sqlite:///{tmp_path / f'central-{next(_ids)}.db'}"
        token = admin_token or "fyadm_test_" + secrets.token_hex(16)
        full_env = {
            **os.environ,
            "FYCLI_ADMIN_TOKEN": token,
            "FYCLI_DATA_DIR": str(tmp_path / "data"),
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "fycli",
                "serve",
                "--db",
                db_url,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                *(extra_args or []),
            ],
            cwd=REPO,
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            preexec_fn=preexec_fn,
        )
        output: list[str] = []
        listening = threading.Event()
        found: list[str] = []

        def drain() -> None:  # keep reading so the pipe never fills and blocks the server
            for line in process.stdout:
                output.append(line.rstrip("\n"))
                if line.startswith(_LISTEN):
                    found.append(line[len(_LISTEN) :].strip())
                    listening.set()
            listening.set()  # the process ended

        threading.Thread(target=drain, daemon=True).start()
        if not listening.wait(START_TIMEOUT) or not found:
            process.kill()
            raise RuntimeError("fycli serve did not start:\n" + "\n".join(output))
        server = cls(found[0], token, db_url, process, output)
        server.wait_ready()
        return server

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Poll /v1/health until it answers (the socket is bound before the app is up)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(self.url + "/v1/health", timeout=2.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("fycli serve is not answering:\n" + "\n".join(self.output))
            time.sleep(0.02)  # readiness poll interval, bounded by the deadline above

    def stop(self) -> None:
        if self._http is not None:
            self._http.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    # --- http ------------------------------------------------------------------------------

    @property
    def http(self) -> httpx.Client:
        """An httpx client with the admin token."""
        if self._http is None:
            self._http = httpx.Client(
                base_url=self.url, headers={"Authorization": f"Bearer {self.admin_token}"}, timeout=60.0
            )
        return self._http

    def client(self, token: str) -> httpx.Client:
        """A new httpx client carrying ``token`` (close it, or use it in a ``with``)."""
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=60.0)

    def admin(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise AssertionError(f"{method} {path}: {response.status_code} {response.text}")
        return response.json()

    # --- helpers ---------------------------------------------------------------------------

    def add_unit(self, unit_id: str, name: str | None = None, kind: str = "township", **extra: Any) -> dict:
        return self.admin("POST", "/v1/admin/units", json={"id": unit_id, "name": name or f"{unit_id} 人民政府",
                                                            "kind": kind, **extra})  # fmt: skip

    def add_liaison(self, unit_id: str, name: str = "联络员") -> str:
        """A new liaison of ``unit_id``; returns their token."""
        return self.admin("POST", "/v1/admin/liaisons", json={"name": name, "unit_id": unit_id})["token"]

    def register(self, ticket_id: str, *, at: str | None = None, **over: Any) -> dict:
        params = {"at": at} if at else None
        return self.admin("POST", "/v1/admin/tickets", json=register_body(ticket_id, **over), params=params)

    def act(self, ticket_id: str, kind: str, *, at: str | None = None, **fields: Any) -> dict:
        """Make a central action; returns ``{outcome, reason, message, ticket}``."""
        body = {"kind": kind, "ticket_id": ticket_id, "created_at": _now(), **fields}
        params = {"at": at} if at else None
        return self.admin("POST", f"/v1/admin/tickets/{ticket_id}/actions", json=body, params=params)

    def register_and_assign(self, unit_id: str, n: int, prefix: str | None = None) -> list[str]:
        """Register ``n`` tickets and assign them to ``unit_id``; returns their ids."""
        prefix = prefix or f"T{secrets.token_hex(3)}"
        ids = []
        for i in range(n):
            ticket_id = f"{prefix}-{i:05d}"
            self.register(ticket_id)
            result = self.act(ticket_id, "assign", unit_id=unit_id)
            assert result["outcome"] == "applied", result
            ids.append(ticket_id)
        return ids

    def ticket(self, ticket_id: str) -> dict:
        return self.admin("GET", f"/v1/tickets/{ticket_id}")

    def cli(self, *args: str, code: int = 0, token: str | None = None) -> Any:
        """Run ``fycli central --server URL --admin-token T ARGS…`` in this process (click's
        runner: the real command over real HTTP, without starting an interpreter); asserts the
        exit code and returns the ``click.testing.Result`` (``.stdout``, ``.stderr``)."""
        from click.testing import CliRunner

        from central.cli import central

        argv = ["--server", self.url, "--admin-token", token or self.admin_token, *args]
        result = CliRunner().invoke(central, argv, catch_exceptions=False)
        assert result.exit_code == code, (argv, result.exit_code, result.stdout, result.stderr)
        return result


# --- PostgreSQL --------------------------------------------------------------------------------


def pg_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(_psycopg_dsn(PG_ADMIN_URL), connect_timeout=3):
            return True
    except Exception:
        return False


def _psycopg_dsn(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


@contextlib.contextmanager
def fresh_pg_database() -> Iterator[str]:
    """A new, empty PostgreSQL database (dropped afterwards); yields its URL."""
    import psycopg

    name = f"fycli_test_{secrets.token_hex(6)}"
    admin = _psycopg_dsn(PG_ADMIN_URL)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = admin.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def liaison_action(kind: str, ticket: dict, **fields: Any) -> dict:
    """A liaison action on ``ticket`` (a Ticket dict as pulled), based on its current state."""
    return {
        "kind": kind,
        "action_id": secrets.token_hex(16),
        "ticket_id": ticket["id"],
        "created_at": _now(),
        "base": {"status": ticket["status"], "unit_id": ticket["unit_id"], "epoch": ticket["epoch"]},
        **fields,
    }


def push_body(client_id: str, actions: list[dict], first_seq: int = 1) -> dict:
    """A PushRequest numbering ``actions`` from ``first_seq``."""
    return {
        "client_id": client_id,
        "actions": [{"seq": first_seq + i, "action": a} for i, a in enumerate(actions)],
    }


def pull_all(client: httpx.Client, cursor: str | None = None, limit: int = 1000) -> tuple[list[dict], str]:
    """Pull every page; returns the pages and the last cursor."""
    pages = []
    while True:
        params = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        response = client.get("/v1/sync/pull", params=params)
        response.raise_for_status()
        page = response.json()
        pages.append(page)
        cursor = page["cursor"]
        if not page["has_more"]:
            return pages, cursor
