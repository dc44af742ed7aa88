"""TLS end to end: `fycli serve` on https with a certificate from the platform's own CA.

SPEC §8: TLS is used whenever the server URL is https, and a custom CA bundle is supported.
The client must refuse the server until told about the CA, and then sync through it.
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from fycli import EXIT_OK, EXIT_UNREACHABLE, cli
from tests.pki import make_pki

pytestmark = pytest.mark.skipif(
    shutil.which("openssl") is None and os.environ.get("CI") != "true",
    reason="openssl is needed to make a test certificate authority",
)


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    """A CA, and a certificate it signed for 127.0.0.1."""
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def https_server(tmp_path, pki):
    admin = "fyadm_" + "t" * 32
    proc = subprocess.Popen(
        [sys.executable, "-m", "fycli", "serve", "--db", f"sqlite:///{tmp_path / 'c.db'}", "--port", "0",
         "--admin-token", admin, "--tls-cert", str(pki / "server.pem"), "--tls-key", str(pki / "server.key")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        url = None
        for line in proc.stdout:  # the event: the line saying where it listens
            if line.startswith("fycli serve: listening on "):
                url = line.split()[-1]
                break
        assert url and url.startswith("https://"), "the server did not start on https"
        trust = ssl.create_default_context(cafile=str(pki / "ca.pem"))
        with httpx.Client(base_url=url, verify=trust, timeout=10) as admin_http:
            admin_http.headers["Authorization"] = f"Bearer {admin}"
            ready = admin_http.get("/v1/health")  # uvicorn serves once the socket is handed over
            assert ready.status_code == 200
            admin_http.post(
                "/v1/admin/units", json={"id": "u1", "name": "西湖镇人民政府", "kind": "township"}
            )
            token = admin_http.post("/v1/admin/liaisons", json={"name": "王", "unit_id": "u1"}).json()[
                "token"
            ]
        yield url, token
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _fycli(config_dir: Path, *args: str):
    return CliRunner().invoke(cli, ["--config-dir", str(config_dir), *args])


def test_https_needs_the_platform_ca_and_then_syncs(tmp_path, pki, https_server):
    url, token = https_server
    token_file = tmp_path / "token.txt"
    token_file.write_text(token)
    token_file.chmod(0o600)

    untrusted = _fycli(tmp_path / "a", "init", "--server", url, "--token-file", str(token_file))
    # Exit 3 like any unreachable server (on a village link the usual cause is a captive portal
    # intercepting https, which passes), with what to do if the platform has its own CA.
    assert untrusted.exit_code == EXIT_UNREACHABLE, untrusted.output
    assert "TLS certificate" in untrusted.stderr and "ca_bundle" in untrusted.stderr
    assert not (tmp_path / "a" / "config.toml").exists()  # nothing written

    trusted = _fycli(tmp_path / "b", "init", "--server", url, "--token-file", str(token_file),
                     "--ca-bundle", str(pki / "ca.pem"))  # fmt: skip
    assert trusted.exit_code == EXIT_OK, trusted.output
    synced = _fycli(tmp_path / "b", "sync", "--json")
    assert synced.exit_code == EXIT_OK, synced.output
    assert json.loads(synced.stdout)["requests"] >= 1
