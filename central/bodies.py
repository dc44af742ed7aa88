"""Request bodies at the door: gzip decoding and size limits, before any route sees them.

A pure ASGI middleware: it reads the whole body (refusing it as soon as it is too large),
inflates ``Content-Encoding: gzip`` with a cap on the inflated size (a gzip bomb is refused,
not expanded), and hands the route the plain body. Refusals are ``ErrorBody`` JSON.
"""

from __future__ import annotations

import zlib

import orjson

MAX_COMPRESSED = 8 * 1024 * 1024
MAX_DECOMPRESSED = 64 * 1024 * 1024
#: How much of an oversized body is read (and dropped) before answering 413 anyway.
_DRAIN_LIMIT = 256 * 1024 * 1024


def error_response(status: int, error: str, message: str, detail: list | None = None) -> tuple[int, bytes]:
    body = {"error": error, "message": message}
    if detail is not None:
        body["detail"] = detail
    return status, orjson.dumps(body)


class BodyLimitMiddleware:
    def __init__(self, app, max_compressed: int = MAX_COMPRESSED, max_decompressed: int = MAX_DECOMPRESSED):
        self.app = app
        self.max_compressed = max_compressed
        self.max_decompressed = max_decompressed

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        encoding = headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("identity", "gzip", ""):
            return await _refuse(
                send, 415, "unsupported_encoding", f"Content-Encoding {encoding!r}: use gzip or none"
            )
        # The wire limit applies to every body; the inflated limit to what gzip expands to.
        limit = self.max_compressed
        declared = headers.get("content-length")
        too_large = bool(declared and declared.isdigit() and int(declared) > limit)
        chunks, size = [], 0
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
            return await _refuse(
                send, 413, "too_large", f"the body is over {limit} bytes: send fewer actions per request"
            )
        body = b"".join(chunks)
        if encoding == "gzip":
            try:
                inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
                plain = inflater.decompress(body, self.max_decompressed + 1)
                if len(plain) > self.max_decompressed or inflater.unconsumed_tail:
                    return await _refuse(
                        send, 413, "too_large", f"the inflated body is over {self.max_decompressed} bytes"
                    )
                if not inflater.eof:
                    raise zlib.error("truncated gzip stream")
            except zlib.error as exc:
                return await _refuse(send, 422, "invalid_request", f"the gzip body is corrupt ({exc})")
            body = plain
            scope = dict(scope)
            scope["headers"] = [
                (k, v)
                for k, v in scope["headers"]
                if k.lower() not in (b"content-encoding", b"content-length")
            ] + [(b"content-length", str(len(body)).encode())]
        sent = False

        async def replay():
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        return await self.app(scope, replay, send)


async def _refuse(send, status: int, error: str, message: str) -> None:
    _, body = error_response(status, error, message)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )  # fmt: skip
    await send({"type": "http.response.body", "body": body})
