"""Private data stays out of the server's log (issue 10, finding 4), and /docs works on an
offline intranet (finding 9): both against a real `fycli serve` over real HTTP."""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest

from tests.servers import CentralServer, liaison_action, push_body

PHONE = "13912345678"
NAME = "王小明"


def _wait_for_line(server: CentralServer, needle: str, seconds: float = 20.0) -> None:
    """Poll the server's collected output for ``needle`` (the log has no event to wait on)."""
    deadline = time.monotonic() + seconds
    while not any(needle in line for line in server.output):
        assert time.monotonic() < deadline, f"no {needle!r} in the server's log:\n" + "\n".join(server.output)
        time.sleep(0.05)


def test_a_database_error_logs_neither_the_row_nor_the_token_nor_the_body(tmp_path: Path) -> None:
    with CentralServer.start(tmp_path, env={"FYCLI_IDLE_TIMEOUT": "30"}) as server:
        server.add_unit("t1")
        token = server.add_liaison("t1")
        [ticket_id] = server.register_and_assign("t1", 1)
        ticket = server.ticket(ticket_id)["ticket"]
        # Break note inserts the way a faulty disk or migration would: every insert now fails.
        with sqlite3.connect(server.db_url.removeprefix("sqlite:///")) as db:
            db.execute("CREATE TRIGGER broken BEFORE INSERT ON notes "
                       "BEGIN INSERT INTO no_such_table VALUES (new.data); END")  # fmt: skip
        text = f"已电话联系{NAME}，电话{PHONE}，约定明天上门"
        body = push_body("client-logtest", [liaison_action("note", ticket, text=text)])
        with server.client(token) as client:
            response = client.post("/v1/sync/push", json=body)
        assert response.status_code == 500, response.text
        assert response.json()["error"] == "internal"
        _wait_for_line(server, "OperationalError")  # the failure IS logged …
        log = "\n".join(server.output)
        for secret in (PHONE, NAME, token, "约定明天上门", "[parameters"):
            assert secret not in log, f"{secret!r} is in the server's log:\n{log}"  # … without its data


@pytest.mark.postgres
def test_a_postgresql_error_with_the_failing_row_in_its_detail_is_logged_without_it(
    tmp_path: Path, pg_url: str
) -> None:
    """PostgreSQL puts the failing row in an error's DETAIL (``Failing row contains (…)``)."""
    import psycopg

    with CentralServer.start(tmp_path, pg_url) as server:
        server.add_unit("t1")
        token = server.add_liaison("t1")
        [ticket_id] = server.register_and_assign("t1", 1)
        ticket = server.ticket(ticket_id)["ticket"]
        with psycopg.connect(pg_url, autocommit=True) as db:
            db.execute("""CREATE FUNCTION broken() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
                RAISE EXCEPTION 'cannot write the note' USING ERRCODE = 'XX000',
                DETAIL = 'Failing row contains (' || NEW.data || ')'; END $$""")
            db.execute("CREATE TRIGGER broken BEFORE INSERT ON notes FOR EACH ROW EXECUTE FUNCTION broken()")
        text = f"已电话联系{NAME}，电话{PHONE}，约定明天上门"
        with server.client(token) as client:
            response = client.post("/v1/sync/push", json=push_body("client-pglog", [
                liaison_action("note", ticket, text=text)]))  # fmt: skip
        assert response.status_code == 500, response.text
        _wait_for_line(server, "InternalError")
        log = "\n".join(server.output)
        for secret in (PHONE, NAME, token, "约定明天上门", "Failing row", "[parameters"):
            assert secret not in log, f"{secret!r} is in the server's log:\n{log}"


def test_redacting_filter_hides_tokens_and_phones_in_any_record() -> None:
    import logging

    from central.logsafe import RedactingFilter

    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "token %s phone %s and +86 139-1234-5678",
                               ("fyl_abcdefghijklmnop", PHONE), None)  # fmt: skip
    assert RedactingFilter().filter(record)
    assert record.getMessage() == "token <token> phone <phone> and <phone>"


def test_docs_use_only_same_origin_assets_that_the_server_serves(central_server: CentralServer) -> None:
    for page in ("/docs", "/redoc"):
        response = httpx.get(central_server.url + page)
        assert response.status_code == 200
        html = response.text
        assert "http://" not in html and "https://" not in html and "//cdn" not in html, html
        urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
        urls += re.findall(r"""url:\s*['"]([^'"]+)['"]""", html)  # the openapi.json the page loads
        assert any(u.endswith(".js") for u in urls), html
        for url in urls:
            assert url.startswith("/") and not url.startswith("//"), url
            asset = httpx.get(urljoin(central_server.url, url))
            assert asset.status_code == 200, url
            assert len(asset.content) > 0, url


def test_access_log_lines_keep_their_shape_and_lose_phones(tmp_path: Path) -> None:
    """With --access-log the request line is logged; a phone in its query string is not."""
    server = CentralServer.launch(tmp_path, extra_args=["--access-log", "--log-level", "info"])
    try:
        assert httpx.get(server.url + f"/v1/health?who={PHONE}").status_code == 200
        _wait_for_line(server, "GET /v1/health?who=")
        log = "\n".join(server.output)
        assert PHONE not in log and "<phone>" in log, log
    finally:
        server.stop()
