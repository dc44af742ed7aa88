"""A broken configuration or token file: one clear message naming the file and the key, exit 1,
and nothing touched."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from fycli import cli
from sync.config import DEFAULT_TEMPLATES, Config, load_config, load_templates, read_token, write_token
from sync.errors import ConfigError


def run(config_dir: Path, *args: str, input: str | None = None):
    return CliRunner().invoke(cli, ["--config-dir", str(config_dir), *args], input=input)


def write_config(directory: Path, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


GOOD = 'server_url = "http://127.0.0.1:9"\ndatabase = "replica.db"\n'


@pytest.mark.parametrize(
    "text, expected",
    [
        ('server_url = "http://x.test"\ndatabase = "r.db\n', "not valid TOML"),
        ('database = "r.db"\n', "missing key 'server_url'"),
        ('server_url = "http://x.test"\n', "missing key 'database'"),
        ('server_url = 42\ndatabase = "r.db"\n', "key 'server_url' must be a string"),
        (GOOD + 'timeout = "fast"\n', "key 'timeout' must be a number"),
        (GOOD + "timeout = true\n", "key 'timeout' must be a number"),
        (GOOD + "page_limit = 99999\n", "key 'page_limit' must be between"),
        (GOOD + "sever = 1\n", "unknown key 'sever'"),
        ('server_url = "ftp://x.test"\ndatabase = "r.db"\n', "must start with http:// or https://"),
    ],
)
@pytest.mark.parametrize("command", [["sync"], ["status"], ["list"], ["close", "T1", "--reply", "x"]])
def test_broken_config_is_a_clear_message_and_exit_1(tmp_path, text, expected, command):
    path = write_config(tmp_path / "cfg", text)
    before = {p.name: p.read_bytes() for p in path.parent.iterdir()}
    result = run(path.parent, *command)
    assert result.exit_code == 1, result.output
    assert str(path) in result.stderr
    assert expected in result.stderr
    assert result.stdout == ""
    assert {p.name: p.read_bytes() for p in path.parent.iterdir()} == before  # nothing touched


def test_missing_config_says_to_run_init(tmp_path):
    result = run(tmp_path / "nowhere", "status")
    assert result.exit_code == 1
    assert "fycli init" in result.stderr and "config.toml" in result.stderr


def test_non_utf8_config(tmp_path):
    directory = tmp_path / "cfg"
    directory.mkdir()
    (directory / "config.toml").write_bytes(b'server_url = "\xff\xfe"\n')
    result = run(directory, "sync")
    assert result.exit_code == 1 and "UTF-8" in result.stderr


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_token_file_readable_by_others_is_refused_before_anything_is_opened(tmp_path):
    directory = tmp_path / "cfg"
    write_config(directory, GOOD)
    token = directory / "token"
    token.write_text("tok-123\n")
    token.chmod(0o644)
    result = run(directory, "sync")
    assert result.exit_code == 1
    assert "readable by others" in result.stderr and "chmod 600" in result.stderr
    assert not (directory / "replica.db").exists()


def test_write_token_is_owner_only_and_round_trips(tmp_path):
    path = tmp_path / "d" / "token"
    old = os.umask(0)  # even a permissive umask must not widen the file
    try:
        write_token(path, "  abc-DEF_123 \n")
    finally:
        os.umask(old)
    assert (path.stat().st_mode & 0o777) == 0o600
    assert read_token(path) == "abc-DEF_123"


@pytest.mark.parametrize("content, expected", [("", "is empty"), ("two words\n", "alone")])
def test_bad_token_content(tmp_path, content, expected):
    path = tmp_path / "token"
    path.write_text(content)
    path.chmod(0o600)
    with pytest.raises(ConfigError, match=expected):
        read_token(path)


def test_config_round_trips_through_toml(tmp_path):
    config = Config(
        path=tmp_path / "config.toml",
        server_url="https://fy.example/平台",
        database=Path("replica.db"),
        token_file=Path("token"),
        ca_bundle=tmp_path / 'ca "x".pem',
        timeout=12.5,
        page_limit=200,
        retries=2,
    )
    config.save()
    loaded = load_config(tmp_path)
    assert loaded.server_url == config.server_url
    assert loaded.database == tmp_path / "replica.db"
    assert loaded.ca_bundle == config.ca_bundle
    assert (loaded.timeout, loaded.page_limit, loaded.retries) == (12.5, 200, 2)


def test_templates_defaults_and_a_broken_file(tmp_path):
    assert load_templates(tmp_path) == list(DEFAULT_TEMPLATES)
    result = run(tmp_path, "templates", "--json")
    assert result.exit_code == 0 and "fixed" in result.stdout
    (tmp_path / "templates.toml").write_text("[[template]]\nname = 'x'\n")
    result = run(tmp_path, "templates")
    assert result.exit_code == 1 and "templates.toml" in result.stderr and "'text'" in result.stderr
