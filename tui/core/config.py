"""The app's settings: key bindings by id (``[keys]`` in config.toml) and the reply templates.

``config.toml`` is shared with ``fycli init`` (sync/config.py writes the server settings);
the app reads only its ``[keys]`` table, where a user rebinds any key by the id that ``?``
shows::

    [keys]
    resolve = "ctrl+d"
    mark_range = "shift+v,V"

Reply templates are the unit's ``templates.toml`` (sync/config.py reads it). A malformed file
never stops the app: it starts with the defaults and says what is wrong.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from sync.config import CONFIG_FILE, DEFAULT_TEMPLATES, Template, config_dir, load_templates
from sync.errors import ConfigError


@dataclass(frozen=True, slots=True)
class AppConfig:
    keymap: dict[str, str] = field(default_factory=dict)
    templates: list[Template] = field(default_factory=lambda: list(DEFAULT_TEMPLATES))
    #: What went wrong reading the files (shown as a notification), or None.
    problem: str | None = None


def load_app_config(directory: Path | None = None) -> AppConfig:
    """Read ``[keys]`` from config.toml and the templates; problems are reported, not raised."""
    directory = directory or config_dir()
    problems: list[str] = []
    keymap = _read_keymap(directory / CONFIG_FILE, problems)
    try:
        templates = load_templates(directory)
    except ConfigError as exc:
        problems.append(str(exc))
        templates = list(DEFAULT_TEMPLATES)
    return AppConfig(keymap=keymap, templates=templates, problem="; ".join(problems) or None)


def _read_keymap(path: Path, problems: list[str]) -> dict[str, str]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        problems.append(f"{path}: {exc} — using the default keys")
        return {}
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
