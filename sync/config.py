"""The liaison's configuration: where the server is, where the replica lives, and the token.

Three files in the config directory (``$FYCLI_CONFIG_DIR``, else ``$XDG_CONFIG_HOME/fycli``,
else ``~/.config/fycli``):

- ``config.toml`` — ``server_url``, ``database``, optional ``token_file``, ``ca_bundle``,
  ``timeout``, ``page_limit``, ``retries``, ``sync_deadline``, ``sync_lock_wait``,
  ``allow_insecure_http``. Relative paths are relative to the config directory.
- ``token`` — the liaison's bearer token, alone, readable by its owner only (0600). A token file
  others can read is refused: a token is a person's signature on the platform.
- ``templates.toml`` — the unit's reply templates (``[[template]]`` with ``name``, ``title``,
  ``text``), written with sensible defaults by ``fycli init`` and edited by the unit.

Reading never changes anything; every problem is a :class:`ConfigError` naming the file and key.
"""

from __future__ import annotations

import json
import os
import stat
import tomllib
from dataclasses import dataclass
from pathlib import Path

from sync.errors import ConfigError

CONFIG_FILE = "config.toml"
TOKEN_FILE = "token"
TEMPLATES_FILE = "templates.toml"
DATABASE_FILE = "replica.db"
#: The config directory holds the token and (by default) the replica: owner only.
PRIVATE_DIR = 0o700


def config_dir(override: str | os.PathLike | None = None) -> Path:
    """Where the configuration lives (see the module docstring for the order)."""
    if override:
        return Path(override).expanduser()
    if env := os.environ.get("FYCLI_CONFIG_DIR"):
        return Path(env).expanduser()
    if xdg := os.environ.get("XDG_CONFIG_HOME"):
        return Path(xdg).expanduser() / "fycli"
    return Path.home() / ".config" / "fycli"


@dataclass(frozen=True, slots=True)
class Config:
    """A validated config.toml."""

    path: Path  # the config file itself
    server_url: str
    database: Path
    token_file: Path
    ca_bundle: Path | None = None
    timeout: float = 60.0
    page_limit: int | None = None
    retries: int = 6  # tries per request, the first included (1: never retry)
    sync_deadline: float = 1800.0  # seconds one whole sync may take (a first pull resumes after)
    sync_lock_wait: float = 5.0  # seconds a sync waits for another sync of the same replica
    allow_insecure_http: bool = False  # send the token over plain http to a non-loopback host

    @property
    def directory(self) -> Path:
        return self.path.parent

    def token(self) -> str:
        """The bearer token: ``$FYCLI_TOKEN`` if set (for CI jobs), else the token file."""
        if env := os.environ.get("FYCLI_TOKEN"):
            return env.strip()
        return read_token(self.token_file)

    def to_toml(self) -> str:
        lines = [
            "# fycli liaison configuration (written by `fycli init`; see docs/cli.md)",
            f"server_url = {_toml_str(self.server_url)}",
            f"database = {_toml_str(str(self.database))}",
            f"token_file = {_toml_str(str(self.token_file))}",
        ]
        if self.ca_bundle is not None:
            lines.append(f"ca_bundle = {_toml_str(str(self.ca_bundle))}")
        if self.timeout != 60.0:
            lines.append(f"timeout = {float(self.timeout)!r}")
        if self.page_limit is not None:
            lines.append(f"page_limit = {int(self.page_limit)}")
        if self.retries != 6:
            lines.append(f"retries = {int(self.retries)}")
        if self.sync_deadline != 1800.0:
            lines.append(f"sync_deadline = {float(self.sync_deadline)!r}")
        if self.sync_lock_wait != 5.0:
            lines.append(f"sync_lock_wait = {float(self.sync_lock_wait)!r}")
        if self.allow_insecure_http:
            lines.append("allow_insecure_http = true")
        return "\n".join(lines) + "\n"

    def save(self) -> None:
        """Write config.toml atomically (a crash leaves the old file or the new one)."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
        _atomic_write(self.path, self.to_toml(), mode=0o644)


# key → (types accepted, required, human type name)
_KEYS: dict[str, tuple[tuple[type, ...], bool, str]] = {
    "server_url": ((str,), True, "a string (http:// or https:// URL)"),
    "database": ((str,), True, "a string (path of the replica file)"),
    "token_file": ((str,), False, "a string (path of the token file)"),
    "ca_bundle": ((str,), False, "a string (path of a PEM file)"),
    "timeout": ((int, float), False, "a number of seconds"),
    "page_limit": ((int,), False, "an integer"),
    "retries": ((int,), False, "an integer (tries per request)"),
    "sync_deadline": ((int, float), False, "a number of seconds (one whole sync at most)"),
    "sync_lock_wait": ((int, float), False, "a number of seconds (wait for another sync)"),
    "allow_insecure_http": ((bool,), False, "true or false (send the token over plain http)"),
    # The terminal app's undo window in seconds (tui/core/config.py reads and checks it).
    "undo_grace": ((int, float), False, "a number of seconds"),
    # The terminal app's key bindings by id (tui/core/config.py reads them; `?` lists the ids).
    "keys": ((dict,), False, 'a table of binding id = "key" (e.g. resolve = "ctrl+d")'),
}


def load_config(directory: Path) -> Config:
    """Read and validate ``directory/config.toml``. Raises ConfigError naming file and key."""
    path = directory / CONFIG_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"no configuration at {path}: run `fycli init --server URL --token-file FILE` first "
            "(or point FYCLI_CONFIG_DIR at the right directory)"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text; fix or delete it and run `fycli init`") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML ({exc}); fix it or run `fycli init --force`") from None
    for key in data:
        if key not in _KEYS:
            raise ConfigError(f"{path}: unknown key {key!r} (known keys: {', '.join(_KEYS)})")
    for key, (types, required, shown) in _KEYS.items():
        if key not in data:
            if required:
                raise ConfigError(f"{path}: missing key {key!r} ({shown}); run `fycli init` to rewrite it")
            continue
        value = data[key]
        if isinstance(value, bool) != (bool in types) or not isinstance(value, types):
            raise ConfigError(f"{path}: key {key!r} must be {shown}, not {type(value).__name__} {value!r}")
    url = data["server_url"].strip()
    if not url.startswith(("http://", "https://")) or len(url) < 10:
        raise ConfigError(f"{path}: key 'server_url' must start with http:// or https://, not {url!r}")
    if "timeout" in data and not 0 < data["timeout"] <= 3600:
        raise ConfigError(f"{path}: key 'timeout' must be between 0 and 3600 seconds")
    if "page_limit" in data and not 1 <= data["page_limit"] <= 5000:
        raise ConfigError(f"{path}: key 'page_limit' must be between 1 and 5000")
    if "sync_deadline" in data and not 1 <= data["sync_deadline"] <= 86400:
        raise ConfigError(f"{path}: key 'sync_deadline' must be between 1 and 86400 seconds")
    if "sync_lock_wait" in data and not 0 <= data["sync_lock_wait"] <= 600:
        raise ConfigError(f"{path}: key 'sync_lock_wait' must be between 0 and 600 seconds")
    if "retries" in data and not 1 <= data["retries"] <= 20:
        raise ConfigError(f"{path}: key 'retries' must be between 1 and 20")
    if not data["database"].strip():
        raise ConfigError(f"{path}: key 'database' is empty")

    def resolve(value: str) -> Path:
        p = Path(value).expanduser()
        return p if p.is_absolute() else directory / p

    return Config(
        path=path,
        server_url=url.rstrip("/"),
        database=resolve(data["database"]),
        token_file=resolve(data.get("token_file", TOKEN_FILE)),
        ca_bundle=resolve(data["ca_bundle"]) if "ca_bundle" in data else None,
        timeout=float(data.get("timeout", 60.0)),
        page_limit=data.get("page_limit"),
        retries=data.get("retries", 6),
        sync_deadline=float(data.get("sync_deadline", 1800.0)),
        sync_lock_wait=float(data.get("sync_lock_wait", 5.0)),
        allow_insecure_http=data.get("allow_insecure_http", False),
    )


def read_token(path: Path) -> str:
    """The token in ``path``; refused when others may read it or it is empty."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ConfigError(
            f"no token file at {path}: run `fycli init --token-file FILE` (or set FYCLI_TOKEN)"
        ) from None
    if os.name == "posix" and info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"the token file {path} is readable by others (mode {stat.S_IMODE(info.st_mode):04o}); "
            f"a token is your signature on the platform. Run: chmod 600 {path}"
        )
    token = path.read_text(encoding="utf-8").strip()
    if not token:
        raise ConfigError(f"the token file {path} is empty: run `fycli init` with your token")
    if any(c.isspace() for c in token):
        raise ConfigError(f"the token file {path} must hold the token alone, on one line")
    return token


def write_private_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only (0600), atomically."""
    _atomic_write(path, text, mode=0o600)


def write_token(path: Path, token: str) -> None:
    """Store ``token`` with owner-only permissions (0600), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    _atomic_write(path, token.strip() + "\n", mode=0o600)


# -- reply templates ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Template:
    name: str  # what `close --template NAME` takes (ASCII, no spaces)
    title: str  # what a person reads in a list
    text: str  # the reply to the citizen


DEFAULT_TEMPLATES: tuple[Template, ...] = (
    Template(
        "fixed",
        "问题已解决",
        "您好，您反映的问题我单位已安排工作人员现场核实并处理完毕，感谢您对我们工作的监督与支持。",
    ),
    Template(
        "explained",
        "已解释说明",
        "您好，针对您反映的问题，我单位工作人员已与您电话联系并做了详细的政策解释说明，如有疑问请随时联系我们。",
    ),
    Template(
        "scheduled",
        "已列入计划",
        "您好，您反映的问题我单位已现场查看，因涉及资金和施工安排，已列入近期工作计划，将尽快落实，请您耐心等待。",
    ),
    Template(
        "referred",
        "已协调相关部门",
        "您好，您反映的问题已协调相关职能部门共同处理，目前已落实到位，感谢您的理解与支持。",
    ),
    Template(
        "mediated",
        "已调解",
        "您好，针对您反映的纠纷，村（居）委会已组织双方进行调解，双方已达成一致意见，问题已妥善解决。",
    ),
)


def templates_toml(templates: tuple[Template, ...] | list[Template]) -> str:
    out = ["# Reply templates of the unit: `fycli close ID --template NAME` (see `fycli templates`)."]
    for t in templates:
        out += ["", "[[template]]", f"name = {_toml_str(t.name)}", f"title = {_toml_str(t.title)}"]
        out.append(f"text = {_toml_str(t.text)}")
    return "\n".join(out) + "\n"


def load_templates(directory: Path) -> list[Template]:
    """The unit's templates from ``templates.toml``, or the defaults when there is no such file."""
    path = directory / TEMPLATES_FILE
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return list(DEFAULT_TEMPLATES)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML ({exc})") from None
    entries = data.get("template", [])
    if not isinstance(entries, list):
        raise ConfigError(f"{path}: 'template' must be an array of tables ([[template]])")
    templates: list[Template] = []
    for i, entry in enumerate(entries, 1):
        if not isinstance(entry, dict):
            raise ConfigError(f"{path}: template #{i} must be a table")
        for key in ("name", "text"):
            if not isinstance(entry.get(key), str) or not entry[key].strip():
                raise ConfigError(f"{path}: template #{i}: key {key!r} must be a non-empty string")
        title = entry.get("title", entry["name"])
        if not isinstance(title, str):
            raise ConfigError(f"{path}: template #{i}: key 'title' must be a string")
        templates.append(Template(entry["name"].strip(), title, entry["text"].strip()))
    return templates


def write_default_templates(directory: Path) -> Path:
    """Write the default templates unless the unit already has its own file."""
    path = directory / TEMPLATES_FILE
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
        _atomic_write(path, templates_toml(DEFAULT_TEMPLATES), mode=0o644)
    return path


# -- helpers ------------------------------------------------------------------------------


def _toml_str(value: str) -> str:
    """A TOML basic string. JSON's string escapes are a subset of TOML's."""
    return json.dumps(value, ensure_ascii=False)


def _atomic_write(path: Path, text: str, *, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        if hasattr(os, "fchmod"):  # the umask may have narrowed or widened the mode asked for
            os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
