"""Shared fixtures: real central servers (SQLite and PostgreSQL) for end-to-end tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import CentralServer, fresh_pg_database, pg_available


def require_pg() -> None:
    """Skip without PostgreSQL — but fail under CI=true, where it must be there."""
    if pg_available():
        return
    message = "PostgreSQL is not reachable at 127.0.0.1:5432 (database test)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " and CI=true: start PostgreSQL")
    pytest.skip(message)


@pytest.fixture
def central_server(tmp_path: Path) -> Iterator[CentralServer]:
    """A real ``fycli serve`` on 127.0.0.1 over a fresh SQLite file."""
    with CentralServer.start(tmp_path) as server:
        yield server


@pytest.fixture
def pg_url() -> Iterator[str]:
    """The URL of a fresh PostgreSQL database, dropped after the test."""
    require_pg()
    with fresh_pg_database() as url:
        yield url


@pytest.fixture
def central_server_pg(tmp_path: Path, pg_url: str) -> Iterator[CentralServer]:
    """A real ``fycli serve`` on a fresh PostgreSQL database."""
    with CentralServer.start(tmp_path, pg_url) as server:
        yield server
