"""``fycli serve`` and ``fycli central …``: the central platform's commands."""

from __future__ import annotations

import click


def register(root: click.Group) -> None:
    """Attach the central platform's commands to the root ``fycli`` group."""
