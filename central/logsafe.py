"""Logs without private data: no token, phone number, request body or bound SQL parameter.

Two layers. :class:`SafeErrorMiddleware` catches a route's unexpected exception, answers the
documented 500 and logs ONE line naming the exception's type and where it was raised — never
its message, which for a database error holds the failing row (``…13912345678…王小明…``).
:class:`RedactingFilter`, on every handler of the server's logging configuration
(:func:`log_config`), is the defence in depth: it replaces tokens, bearer credentials and
phone numbers in any record, and renders an attached traceback as frames only.
"""

from __future__ import annotations

import copy
import logging
import re
import traceback
from typing import Any

import orjson

log = logging.getLogger("fycli.errors")

#: fycli's tokens (``fyadm_…`` admin, ``fyl_…`` liaison) and any bearer credential.
_TOKEN = re.compile(r"\b(fyadm|fyl)_[A-Za-z0-9_-]{8,}|(?i:bearer)\s+[A-Za-z0-9._~+/=-]{8,}")
#: Mainland mobile numbers (11 digits from 13-19, +86 optional) and landlines with area code.
_PHONE = re.compile(r"(?<!\d)(?:\+?86[- ]?)?1[3-9]\d(?:[- ]?\d{4}){2}(?!\d)|(?<!\d)0\d{2,3}-\d{7,8}(?!\d)")


def redact(text: str) -> str:
    """``text`` with tokens and phone numbers replaced by placeholders."""
    return _PHONE.sub("<phone>", _TOKEN.sub("<token>", text))


def frames_only(exc: BaseException) -> str:
    """A traceback that names files, lines and functions, and the exception types — no message."""
    lines = []
    for summary in traceback.extract_tb(exc.__traceback__):
        lines.append(f'  File "{summary.filename}", line {summary.lineno}, in {summary.name}')
    cause = exc.__cause__ or exc.__context__
    chain = f" (from {type(cause).__module__}.{type(cause).__qualname__})" if cause else ""
    return "Traceback (messages withheld):\n" + "\n".join(lines) + f"\n{_type_name(exc)}{chain}"


def _type_name(exc: BaseException) -> str:
    return f"{type(exc).__module__}.{type(exc).__qualname__}"


class RedactingFilter(logging.Filter):
    """Rewrites each record: tokens and phones redacted, a traceback reduced to its frames."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "uvicorn.access" and isinstance(record.args, tuple):
            # Its formatter unpacks the args (address, method, path, version, status): keep the shape.
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        else:
            try:
                message = record.getMessage()
            except Exception:  # a record whose args do not fit its format: keep the format only
                message = str(record.msg)
            record.msg, record.args = redact(message), None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = frames_only(record.exc_info[1])
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def log_config(base: dict[str, Any]) -> dict[str, Any]:
    """``base`` (uvicorn's ``LOGGING_CONFIG``) with the redacting filter on every handler, and
    the root logger sent through them too (so no library logs past the filter)."""
    config = copy.deepcopy(base)
    config.setdefault("filters", {})["redact"] = {"()": RedactingFilter}
    for handler in config.get("handlers", {}).values():
        handler["filters"] = [*handler.get("filters", []), "redact"]
    config["root"] = {"handlers": ["default"], "level": "WARNING"}
    return config


class SafeErrorMiddleware:
    """Answers an unexpected exception with the documented 500 and logs it without its data."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def watch(message: dict) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            where = traceback.extract_tb(exc.__traceback__)
            last = where[-1] if where else None
            place = f" at {last.filename}:{last.lineno} in {last.name}" if last else ""
            log.error("internal error in %s %s: %s%s\n%s", scope["method"], scope["path"],
                      _type_name(exc), place, frames_only(exc))  # fmt: skip
            if started:
                return None  # the answer is under way: all that is left is to close
            body = orjson.dumps(
                {"error": "internal", "message": f"the server failed ({type(exc).__name__}); try again later"}
            )
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": 500, "headers": headers})
            await send({"type": "http.response.body", "body": body})
        return None
