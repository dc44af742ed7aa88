"""Stored text made fit for a terminal: control characters shown as visible escapes.

Text from the server or an older replica may hold control characters the input side now
refuses (``\\x1b]0;…\\x07`` would retitle, or worse, the terminal of whoever reads it). The
command line and the app both show such text through these two functions. No imports: the
command line loads this at start.
"""

from __future__ import annotations

#: Control characters (C0, DEL, C1) as visible escapes (``\x1b``). U+009B is CSI for some
#: terminals, so the C1 range is escaped too.
_CONTROL_ESCAPES = {c: f"\\x{c:02x}" for c in (*range(0x00, 0x20), *range(0x7F, 0xA0))}
#: The same, with newline and tab kept: multi-line text (a description, a note).
_TEXT_ESCAPES = {k: v for k, v in _CONTROL_ESCAPES.items() if k not in (0x09, 0x0A)}


def safe(text: object) -> str:
    """One line of stored text fit for the terminal: every control character escaped."""
    return str(text).translate(_CONTROL_ESCAPES)


def safe_text(text: object) -> str:
    """Multi-line stored text (a description, a note) fit for the terminal: newline and tab
    kept, every other control character escaped."""
    return str(text).translate(_TEXT_ESCAPES)
