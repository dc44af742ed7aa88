"""The app's settings: key bindings by id (``[keys]`` in config.toml) and the reply templates.

``config.toml`` is shared with ``fycli init`` (sync/config.py writes the server settings);
the app reads only its ``[keys]`` table, where a user rebinds any key by the id that ``?``
shows::

    [keys]
    resolve = "ctrl+d"
    mark_range = "shift+v,V"

``undo_grace`` (seconds, top level of config.toml, default 10) is the undo window: every action
the app queues is held that long (``hold_until`` in the outbox) and no sync, the app's or a
cron ``fycli sync``, sends it before then, so a mistaken bulk close can still be taken back
with ``u``; ``r`` and ``fycli sync --now`` send everything at once::

    undo_grace = 30

Reply templates are the unit's ``templates.toml`` (sync/config.py reads it). A malformed file
never stops the app: it starts with the defaults and says what is wrong.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from sync.config import CONFIG_FILE, DEFAULT_TEMPLATES, Template, config_dir, load_templates
from sync.errors import ConfigError

#: The undo window's default, in seconds (Gmail's "undo send" is 5-30 s).
DEFAULT_UNDO_GRACE = 10.0
#: The longest undo window config.toml may ask for: past it work would wait too long unsent.
MAX_UNDO_GRACE = 600.0


@dataclass(frozen=True, slots=True)
class AppConfig:
    keymap: dict[str, str] = field(default_factory=dict)
    templates: list[Template] = field(default_factory=lambda: list(DEFAULT_TEMPLATES))
    #: Seconds an action the app queues is held from every sync (``undo_grace``).
    undo_grace: float = DEFAULT_UNDO_GRACE
    #: What went wrong reading the files (shown as a notification), or None.
    problem: str | None = None


def load_app_config(directory: Path | None = None) -> AppConfig:
    """Read ``[keys]`` from config.toml and the templates; problems are reported, not raised."""
    directory = directory or config_dir()
    problems: list[str] = []
    data = _read_toml(directory / CONFIG_FILE, problems)
    keymap = _read_keymap(directory / CONFIG_FILE, data, problems)
    grace = _read_grace(directory / CONFIG_FILE, data, problems)
    try:
        templates = load_templates(directory)
    except ConfigError as exc:
        problems.append(str(exc))
        templates = list(DEFAULT_TEMPLATES)
    return AppConfig(
        keymap=keymap, templates=templates, undo_grace=grace, problem="; ".join(problems) or None
    )


def _read_toml(path: Path, problems: list[str]) -> dict:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        problems.append(f"{path}: {exc} — using the default keys")
        return {}


def _read_grace(path: Path, data: dict, problems: list[str]) -> float:
    value = data.get("undo_grace", DEFAULT_UNDO_GRACE)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= MAX_UNDO_GRACE:
        problems.append(
            f"{path}: undo_grace must be a number of seconds from 0 to {MAX_UNDO_GRACE:.0f}, "
            f"not {value!r} — using {DEFAULT_UNDO_GRACE:.0f}"
        )
        return DEFAULT_UNDO_GRACE
    return float(value)


def _read_keymap(path: Path, data: dict, problems: list[str]) -> dict[str, str]:
    keys = data.get("keys", {})
    if not isinstance(keys, dict):
        problems.append(f'{path}: [keys] must be a table of binding id = "key"')
        return {}
    keymap: dict[str, str] = {}
    for binding_id, value in keys.items():
        if isinstance(value, str) and value.strip():
            keymap[str(binding_id)] = value.strip()
        elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            keymap[str(binding_id)] = ",".join(v.strip() for v in value)
        else:
            problems.append(f'{path}: [keys] {binding_id}: expected a key name like "ctrl+d"')
    return keymap
