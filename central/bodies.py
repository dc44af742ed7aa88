"""Request bodies at the door: authentication first, then size limits, gzip and a parse bound.

A pure ASGI middleware in front of every route. For a request that carries a body it:

1. **authenticates from the headers alone**, before a byte of the body is read: no token, an
   unknown one, or a liaison's token on ``/v1/admin/…`` is answered 401/403 at once, and a
   liaison whose rate budget is spent 429 with ``Retry-After`` (the authenticator takes the
   token: see ``central/app.py``, ``budget_for``), so a flood costs no inflate and no parse (the body is
   read and dropped only up to :data:`UNAUTHENTICATED_DRAIN`, so a client sending a normal push
   with a revoked token reads its "token revoked"; beyond that the connection is closed);
2. refuses a ``Content-Length`` over the limit without reading, and stops reading a streamed
   body at the limit (413);
3. inflates ``Content-Encoding: gzip`` with a cap on the inflated size (a gzip bomb is refused,
   not expanded);
4. bounds the JSON *shape* before any parser sees it: at most :data:`MAX_JSON_VALUES` values
   (422), so 16 MiB of ``[{},{},…]`` is not turned into millions of Python objects. Nesting
   is bounded by the parser itself (past Python's recursion limit it is a 400, at no cost);
   a body whose strings had to be stripped to count it is held to :data:`MAX_JSON_DEPTH`.

The routes then get the plain body; who the door found is in ``scope["state"]["fycli_principal"]``
so the route's own dependency does not look the token up again. Refusals are ``ErrorBody`` JSON.

**The limits, from the largest legitimate request** — a push of ``MAX_PUSH_ACTIONS`` = 500
note actions, every id at its longest (action and note ids 64, ticket 40, unit 64 characters)
and a 4,000-character text (``MAX_TEXT``) of CJK characters, encoded by an ``ensure_ascii``
JSON encoder (``\\uXXXX``: 6 bytes a character, the most a BMP character can take): 24,491
bytes an action, 12,246,594 bytes in all (12,313,604 pretty-printed; fycli's own client sends
UTF-8, 6,234,592 bytes, gzip-compressed). Both limits are 16 MiB (16,777,216 bytes: 37% above
it, for whitespace and longer timestamps): a plain body is its own inflated size, so the wire
limit cannot be lower without refusing a legitimate uncompressed push. Such a push holds 3
objects and 14 values an action, about 8,500 values in all; admin bodies (a year's holiday
table) are smaller still: 50,000 values and depth 32 leave room for every legitimate request.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

import anyio.to_thread
import orjson

MAX_COMPRESSED = 16 * 1024 * 1024
MAX_DECOMPRESSED = 16 * 1024 * 1024
MAX_JSON_VALUES = 50_000
MAX_JSON_DEPTH = 32
#: How much of an unauthenticated or forbidden request's body is read (and dropped) so the
#: client, still sending, reads the 401/403 instead of a reset; past this the socket is closed.
UNAUTHENTICATED_DRAIN = 1024 * 1024
#: How much of an oversized body is read (and dropped) before answering 413 anyway.
_DRAIN_LIMIT = 32 * 1024 * 1024
_BODYLESS = ("GET", "HEAD", "OPTIONS")
_BRACKETS = re.compile(rb"[\[\]{}]")

#: ``authenticate(token or None, path)`` runs in a worker thread (it queries the database) and
#: returns who the token is, or raises an exception with ``status``, ``error`` and ``message``
#: (and ``retry_after``, seconds, for a 429).
Authenticate = Callable[[str | None, str], Any]
#: ``guarded(path)``: whether a request WITHOUT a body to ``path`` also meets the door (the
#: paths that spend a rate budget), so every charged request is charged here and only here.
Guarded = Callable[[str], bool]


def error_response(status: int, error: str, message: str, detail: list | None = None) -> tuple[int, bytes]:
    body = {"error": error, "message": message}
    if detail is not None:
        body["detail"] = detail
    return status, orjson.dumps(body)


def json_shape_problem(
    body: bytes, max_values: int = MAX_JSON_VALUES, max_depth: int = MAX_JSON_DEPTH
) -> str | None:
    """Why ``body`` is too big a JSON *shape* to parse (too many values, too deep), else None.

    Counts commas and brackets: a bound on the number of values. Over the raw bytes that takes
    C-speed counts (~15 ms for 12 MB) and settles nearly every request; only a body whose text
    holds many commas or brackets has its strings stripped (exactly, escapes included) and is
    counted again, with its nesting depth. Depth within the value bound needs no check of its
    own: the JSON parser refuses nesting past Python's recursion limit (a 400), at no cost.
    """
    rough = body.count(b",") + body.count(b"{") + body.count(b"[")
    if rough <= max_values:
        return None
    structure = _outside_strings(body)
    if structure.count(b",") + structure.count(b"{") + structure.count(b"[") > max_values:
        return f"the JSON body has more than {max_values} values: send fewer actions per request"
    depth = deepest = 0
    for match in _BRACKETS.finditer(structure):
        depth += 1 if match.group() in (b"{", b"[") else -1
        deepest = max(deepest, depth)
    if deepest > max_depth:
        return f"the JSON body is nested deeper than {max_depth} levels"
    return None


def _outside_strings(body: bytes) -> bytes:
    """``body`` without its JSON strings' contents: escapes dropped first, so each remaining
    quote delimits a string (valid JSON has no backslash outside strings)."""
    return b'""'.join(body.replace(b"\\\\", b"").replace(b'\\"', b"").split(b'"')[0::2])


class BodyLimitMiddleware:
    def __init__(
        self,
        app,
        max_compressed: int = MAX_COMPRESSED,
        max_decompressed: int = MAX_DECOMPRESSED,
        authenticate: Authenticate | None = None,
        guarded: Guarded | None = None,
    ):
        self.app = app
        self.max_compressed = max_compressed
        self.max_decompressed = max_decompressed
        self.authenticate = authenticate
        self.guarded = guarded

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        declared = headers.get("content-length", "").strip()
        has_body = (
            scope["method"] not in _BODYLESS
            or (declared not in ("", "0"))
            or ("transfer-encoding" in headers)
        )
        guarded = self.guarded is not None and self.guarded(scope["path"])
        if not has_body and not guarded:
            return await self.app(scope, receive, send)
        if self.authenticate is not None:
            refusal = await self._authenticate(scope, headers)
            if refusal is not None:
                status, error, message, retry = refusal
                if declared.isdigit() and int(declared) > UNAUTHENTICATED_DRAIN:
                    return await _refuse(send, status, error, message, close=True, retry_after=retry)
                drained = await _drain(receive, UNAUTHENTICATED_DRAIN)
                return await _refuse(send, status, error, message, close=not drained, retry_after=retry)
        if not has_body:
            return await self.app(scope, receive, send)
        encoding = headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("identity", "gzip", ""):
            return await _refuse(
                send, 415, "unsupported_encoding", f"Content-Encoding {encoding!r}: use gzip or none"
            )
        # The wire limit applies to every body; the inflated limit to what gzip expands to.
        limit = self.max_compressed
        too_large_message = f"the body is over {limit} bytes: send fewer actions per request"
        if declared.isdigit() and int(declared) > limit:
            return await _refuse(send, 413, "too_large", too_large_message, close=True)
        chunks, size, too_large = [], 0, False
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            too_large = too_large or size > limit
            if not too_large:
                chunks.append(chunk)
            elif size > _DRAIN_LIMIT:
                break  # a client that streams on and on: answer now and close
            if not message.get("more_body"):
                break
        if too_large:
            # Answered only after the body is read, so the client is listening when it comes.
            return await _refuse(send, 413, "too_large", too_large_message, close=size > _DRAIN_LIMIT)
        body = b"".join(chunks)
        if encoding == "gzip":
            try:
                plain = _inflate(body, self.max_decompressed)
            except zlib.error as exc:
                return await _refuse(send, 422, "invalid_request", f"the gzip body is corrupt ({exc})")
            if plain is None:
                return await _refuse(
                    send, 413, "too_large", f"the inflated body is over {self.max_decompressed} bytes"
                )
            body = plain
            scope = dict(scope)
            scope["headers"] = [
                (k, v)
                for k, v in scope["headers"]
                if k.lower() not in (b"content-encoding", b"content-length")
            ] + [(b"content-length", str(len(body)).encode())]
        problem = json_shape_problem(body)
        if problem is not None:
            return await _refuse(send, 422, "invalid_request", problem)
        sent = False

        async def replay():
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        return await self.app(scope, replay, send)

    async def _authenticate(self, scope, headers: dict[str, str]) -> tuple[int, str, str, int | None] | None:
        """Who sends this request, from its headers only; the refusal (status, error, message,
        Retry-After or None) if nobody, or a liaison out of budget."""
        header = headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip() if scheme.lower() == "bearer" else ""
        try:
            principal = await anyio.to_thread.run_sync(self.authenticate, token or None, scope["path"])
        except Exception as exc:
            status = getattr(exc, "status", None)
            if status is None:
                raise
            return status, exc.error, exc.message, getattr(exc, "retry_after", None)
        scope.setdefault("state", {})["fycli_principal"] = (token, principal)
        return None


def _inflate(body: bytes, limit: int, piece: int = 1024 * 1024) -> bytes | None:
    """``body`` gunzipped, or None as soon as it inflates past ``limit`` (never further: the
    output grows a piece at a time, so a bomb costs at most ``limit`` + one piece)."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = bytearray()
    pending = body
    while pending or not inflater.eof:
        out += inflater.decompress(pending, piece)
        if len(out) > limit:
            return None
        pending = inflater.unconsumed_tail
        if inflater.eof:
            break
        if not pending:
            out += inflater.flush()
            if not inflater.eof:
                raise zlib.error("truncated gzip stream")
            break
    if len(out) > limit:
        return None
    return bytes(out)


async def _drain(receive: Callable[[], Awaitable[dict]], limit: int) -> bool:
    """Read and drop the body up to ``limit`` bytes; True when all of it was read."""
    size = 0
    while size <= limit:
        message = await receive()
        if message["type"] == "http.disconnect":
            return False
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            return size <= limit
    return False


async def _refuse(
    send, status: int, error: str, message: str, *, close: bool = False, retry_after: int | None = None
) -> None:
    _, body = error_response(status, error, message)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    if close:  # the rest of the body is not read: say so, and uvicorn closes after the answer
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
