"""The protocol client: HTTP(S) to the central service, as docs/protocol.md describes it.

One :class:`SyncClient` per server. It adds the bearer token, compresses request bodies,
retries transient failures with exponential backoff and jitter, and turns every other answer
into a typed exception from :mod:`sync.errors`. Every answer is validated against the wire
models before anyone uses it: a proxy's HTML page or a truncated body never reaches the replica.

Retrying is safe for every call here: pulls are reads, and a push is deduplicated by action id
on the server (a resend after a lost response is answered ``duplicate``).
"""

from __future__ import annotations

import email.utils
import gzip
import ipaddress
import json
import random as _random
import ssl
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from schemas.wire import ErrorBody, Me, PullResponse, PushResponse
from sync.errors import (
    AuthRefused,
    DeadlineExceeded,
    InsecureServer,
    RequestRefused,
    ServerError,
    ServerUnavailable,
    SyncError,
    Unreachable,
)

M = TypeVar("M", bound=BaseModel)

#: Bodies smaller than this go uncompressed: gzip's header would cost more than it saves.
GZIP_THRESHOLD = 512
#: One try of a request, start to last byte, may take at most this many times ``timeout``
#: (httpx's timeouts are per read: a server that trickles a byte at a time never trips them).
REQUEST_DEADLINE_FACTOR = 4

#: What a garbled answer means for the replica, by request. A push's actions may have been
#: committed by the server before its answer was garbled: say so, and that resending is safe.
_NOTHING_CHANGED = "Nothing was changed locally."
_PUSH_MAY_HAVE_LANDED = (
    "The pushed actions may already have reached the platform; they stay in the outbox and the "
    "next sync re-sends them safely (the server knows each by its id and never applies one twice)."
)


def _user_agent() -> str:
    try:
        from importlib.metadata import version

        return f"fycli/{version('fycli')}"
    except Exception:  # not installed (running from a checkout): still say who we are
        return "fycli"


@dataclass
class ClientStats:
    """What this client cost so far. Bytes are HTTP bodies as sent on the wire (compressed)."""

    requests: int = 0
    retries: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter: attempt *n* waits between half and all of
    ``min(cap, base * 2**(n-1))`` seconds (so parallel clients do not retry in step)."""

    attempts: int = 6  # total tries, the first included
    base: float = 0.5
    cap: float = 30.0
    #: A Retry-After longer than this is not waited for: the sync gives up (work is kept).
    max_retry_after: float = 300.0

    def delay(self, attempt: int, jitter: float) -> float:
        ceiling = min(self.cap, self.base * 2 ** (attempt - 1))
        return ceiling / 2 + jitter * ceiling / 2


class _Transient(Exception):
    """Internal: this try failed in a way that may pass; ``retry_after`` if the server said."""

    def __init__(
        self,
        why: str,
        *,
        retry_after: float | None = None,
        unavailable: bool = False,
        before_send: bool = False,
    ) -> None:
        super().__init__(why)
        self.retry_after = retry_after
        self.unavailable = unavailable
        #: The try failed while connecting (refused, connect timeout): nothing was written.
        self.before_send = before_send


class SyncClient:
    """A client of one central service for one liaison token.

    ``transport`` replaces the network (tests run the ASGI app in-process through it);
    ``sleep`` and ``random`` replace the clock and the jitter (tests assert the delays asked for).
    """

    def __init__(
        self,
        base_url: str,
        token: str | None,
        *,
        timeout: float = 60.0,
        connect_timeout: float = 15.0,
        ca_bundle: str | Path | None = None,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        random: Callable[[], float] = _random.random,
        allow_insecure_http: bool = False,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        # A given transport replaces the network (tests run the app in-process): no token
        # crosses a wire, so there is nothing to refuse.
        self.allow_insecure_http = allow_insecure_http or transport is not None
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        #: A ``time.monotonic()`` instant no request may run past (the whole sync's deadline,
        #: set by :func:`sync.engine.sync`); None: only each request's own deadline.
        self.deadline: float | None = None
        self.stats = ClientStats()
        self._sleep = sleep
        self._connect_timeout = connect_timeout
        self._random = random
        headers = {"User-Agent": _user_agent(), "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        verify: ssl.SSLContext | bool = True
        if ca_bundle is not None:
            verify = ssl.create_default_context(cafile=str(ca_bundle))
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            verify=verify,
            transport=transport,
            follow_redirects=False,
        )

    # -- lifecycle ---------------------------------------------------------------------------
    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the protocol's calls ------------------------------------------------------------------
    def health(self) -> dict:
        """``GET /v1/health`` (no token needed)."""
        response = self._request("GET", "/v1/health")
        data = self._json(response, "GET /v1/health")
        if not isinstance(data, dict) or data.get("status") != "ok":
            raise self._garbage(response, "GET /v1/health", "no {status: ok}")
        return data

    def me(self) -> Me:
        """``GET /v1/me``: who this token belongs to. Raises AuthRefused for a bad token."""
        return self._model(self._request("GET", "/v1/me"), Me, "GET /v1/me")

    def push(self, client_id: str, actions: Sequence[tuple[int, str]]) -> PushResponse:
        """``POST /v1/sync/push`` of ``(seq, action JSON)`` pairs, as the outbox stores them.

        The actions are spliced in as the JSON the replica already holds (no re-encoding of
        thousands of models); the server validates every one.
        """
        parts = ",".join(f'{{"seq":{int(seq)},"action":{raw}}}' for seq, raw in actions)
        body = f'{{"client_id":{json.dumps(client_id)},"actions":[{parts}]}}'.encode()
        response = self._request("POST", "/v1/sync/push", body=body)
        result = self._model(response, PushResponse, "POST /v1/sync/push")
        return result

    def pull_raw(
        self,
        cursor: str | None,
        *,
        limit: int | None = None,
        calendar_version: int | None = None,
        metrics_etag: str | None = None,
    ) -> tuple[bytes, httpx.Response]:
        """``GET /v1/sync/pull``: the page's JSON bytes, not yet validated (see :meth:`pull`)."""
        params: dict[str, Any] = {}
        if cursor:
            params["cursor"] = cursor
        if limit is not None:
            params["limit"] = limit
        if calendar_version is not None:
            params["calendar_version"] = calendar_version
        if metrics_etag:
            params["metrics_etag"] = metrics_etag
        response = self._request("GET", "/v1/sync/pull", params=params)
        self._expect_json(response, "GET /v1/sync/pull")
        return response.content, response

    def pull(
        self,
        cursor: str | None,
        *,
        limit: int | None = None,
        calendar_version: int | None = None,
        metrics_etag: str | None = None,
    ) -> PullResponse:
        """``GET /v1/sync/pull``: one validated page of changes after ``cursor``."""
        _raw, response = self.pull_raw(
            cursor, limit=limit, calendar_version=calendar_version, metrics_etag=metrics_etag
        )
        return self._model(response, PullResponse, "GET /v1/sync/pull")

    # -- the machinery -------------------------------------------------------------------------
    def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: bytes | None = None,
    ) -> httpx.Response:
        """Send with retries; return a 2xx response (body read) or raise a typed error."""
        headers: dict[str, str] = {}
        content = body
        if body is not None:
            headers["Content-Type"] = "application/json"
            if len(body) >= GZIP_THRESHOLD:
                content = gzip.compress(body, compresslevel=6, mtime=0)
                headers["Content-Encoding"] = "gzip"
        what = f"{method} {path}"
        sent = [False]  # whether any try got past connecting (its bytes may have arrived)
        try:
            if self._http.headers.get("Authorization"):
                check_transport(self.base_url, allow_insecure_http=self.allow_insecure_http)
            return self._retrying(method, path, params, content, headers, what, sent)
        except SyncError as exc:
            exc.nothing_sent = not sent[0]
            raise

    def _retrying(self, method, path, params, content, headers, what, sent: list[bool]) -> httpx.Response:
        """:meth:`_request`'s tries; ``sent[0]`` becomes True once a try got past connecting."""
        attempt = 0
        while True:
            attempt += 1
            self._check_deadline(what)
            try:
                return self._try_once(method, path, params, content, headers, what)
            except SyncError as exc:  # an answer (refusal, garbage, too slow), or a TLS failure
                sent[0] = sent[0] or not exc.nothing_sent
                raise
            except _Transient as failure:
                sent[0] = sent[0] or not failure.before_send
                if attempt >= self.retry.attempts:
                    raise self._give_up(failure, what, attempt) from None
                delay = self.retry.delay(attempt, self._random())
                if failure.retry_after is not None:
                    if failure.retry_after > self.retry.max_retry_after:
                        raise ServerUnavailable(
                            f"{self.base_url} is busy and asked to retry after "
                            f"{failure.retry_after:.0f} s; your work is kept locally, sync again later"
                        ) from None
                    delay = max(delay, failure.retry_after)
                if self.deadline is not None and time.monotonic() + delay >= self.deadline:
                    raise self._past_deadline(what, failure) from None
                self.stats.retries += 1
                self._sleep(delay)

    def _check_deadline(self, what: str) -> None:
        if self.deadline is not None and time.monotonic() >= self.deadline:
            raise self._past_deadline(what, None)

    def _past_deadline(self, what: str, failure: _Transient | None) -> DeadlineExceeded:
        why = f" (last try: {failure})" if failure is not None else ""
        return DeadlineExceeded(
            f"the sync with {self.base_url} ran out of time before {what} finished{why}; your work "
            "is kept locally and the next sync goes on from here (sync_deadline in the config, "
            "FYCLI_SYNC_DEADLINE or --deadline set how long a sync may take)"
        )

    def _too_slow(self, what: str, seconds: float, received: int) -> Unreachable:
        if self.deadline is not None and time.monotonic() >= self.deadline:
            return self._past_deadline(what, _Transient(f"{received} bytes of the answer in {seconds:.0f} s"))
        return Unreachable(
            f"{self.base_url} is too slow: the answer to {what} was still arriving after "
            f"{seconds:.0f} s ({received} bytes so far; a request may take {REQUEST_DEADLINE_FACTOR} × "
            "timeout). Your work is kept locally and will be sent by the next sync."
        )

    def _try_deadline(self) -> float:
        """When this try must be over: its own bound, or the sync's if that comes first."""
        own = time.monotonic() + self.timeout * REQUEST_DEADLINE_FACTOR
        return own if self.deadline is None else min(own, self.deadline)

    def _send(self, method, path, params, content, headers, what) -> httpx.Response:
        """One request, its body read in chunks against an overall deadline for the try."""
        started = time.monotonic()
        ends = self._try_deadline()
        remaining = max(0.001, ends - time.monotonic())
        timeout = httpx.Timeout(min(self.timeout, remaining), connect=min(self._connect_timeout, remaining))
        with self._http.stream(
            method, path, params=params, content=content, headers=headers, timeout=timeout
        ) as response:
            chunks = []
            for chunk in response.iter_bytes():
                chunks.append(chunk)
                if time.monotonic() > ends:
                    # Not retried: the same request to the same server would crawl the same way.
                    raise self._too_slow(what, time.monotonic() - started, response.num_bytes_downloaded)
            # What Response.read() does, with the deadline checked between chunks.
            response._content = b"".join(chunks)
        return response

    def _try_once(self, method, path, params, content, headers, what) -> httpx.Response:
        self.stats.requests += 1
        if content is not None:
            self.stats.bytes_sent += len(content)
        try:
            response = self._send(method, path, params, content, headers, what)
        except httpx.DecodingError as exc:
            raise ServerError(
                f"the server at {self.base_url} answered {what} with a body that cannot be decoded "
                f"({exc}); it is not speaking fycli's sync protocol. {_consequence(what)}"
            ) from exc
        except httpx.ConnectError as exc:
            if _is_tls_failure(exc):
                refused = Unreachable(
                    f"cannot verify the TLS certificate of {self.base_url} ({_root_cause(exc)}); "
                    "if the platform uses its own certificate authority, set ca_bundle in the config "
                    "(fycli init --ca-bundle FILE). Your work is kept locally."
                )
                refused.nothing_sent = True  # the handshake failed: the request was never written
                raise refused from exc
            raise _Transient(f"cannot connect: {_root_cause(exc)}", before_send=True) from exc
        except httpx.ConnectTimeout as exc:  # no connection: no byte of the request was written
            raise _Transient(f"ConnectTimeout: {_root_cause(exc)}", before_send=True) from exc
        except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            raise _Transient(f"{type(exc).__name__}: {_root_cause(exc)}") from exc
        self.stats.bytes_received += response.num_bytes_downloaded
        status = response.status_code
        if 200 <= status < 300:
            return response
        if status in (401, 403):
            error = self._error_body(response)
            message = error.message if error else response.reason_phrase
            raise AuthRefused(
                f"the server refused this token ({status}: {message}). Ask the platform for a new "
                "token and run `fycli init` again."
            )
        if status == 429 or status >= 500:
            error = self._error_body(response)
            why = f"HTTP {status}" + (f" ({error.message})" if error else "")
            raise _Transient(why, retry_after=_retry_after(response), unavailable=True)
        error = self._error_body(response)
        if error is None:
            raise self._garbage(response, what, f"HTTP {status} without fycli's error body")
        raise RequestRefused(status, error.error, error.message, error.detail)

    def _give_up(self, failure: _Transient, what: str, attempts: int) -> Unreachable:
        cls = ServerUnavailable if failure.unavailable else Unreachable
        verb = "is not serving" if failure.unavailable else "cannot be reached"
        return cls(
            f"{self.base_url} {verb} ({failure}, {attempts} tries of {what}); "
            "your work is kept locally and will be sent by the next sync"
        )

    # -- decoding answers --------------------------------------------------------------------
    def _expect_json(self, response: httpx.Response, what: str) -> None:
        ctype = response.headers.get("content-type", "")
        if "json" not in ctype:
            raise self._garbage(response, what, f"content type {ctype or 'missing'!r}")

    def _json(self, response: httpx.Response, what: str) -> Any:
        self._expect_json(response, what)
        try:
            return json.loads(response.content)
        except ValueError as exc:
            raise self._garbage(response, what, f"invalid JSON: {exc}") from exc

    def _model(self, response: httpx.Response, model: type[M], what: str) -> M:
        self._expect_json(response, what)
        try:
            return model.model_validate_json(response.content)
        except ValidationError as exc:
            raise self._garbage(response, what, _summarise(exc)) from exc

    def _error_body(self, response: httpx.Response) -> ErrorBody | None:
        try:
            return ErrorBody.model_validate_json(response.content)
        except ValidationError:
            return None

    def _garbage(self, response: httpx.Response, what: str, why: str) -> ServerError:
        return ServerError(garbage_message(self.base_url, what, response, why))


def garbage_message(base_url: str, what: str, response: httpx.Response | None, why: str) -> str:
    """The one wording for "this is not fycli's protocol": what came back and what to check."""
    shown = ""
    if response is not None:
        ctype = response.headers.get("content-type", "")
        kind = "an HTML page" if "html" in ctype or response.content.lstrip()[:1] == b"<" else "a body"
        snippet = response.content[:80].decode("utf-8", "replace").replace("\n", " ").strip()
        shown = f" — HTTP {response.status_code}, {kind}: {snippet!r}"
    return (
        f"the server at {base_url} answered {what} with something that is not fycli's sync protocol "
        f"({why}){shown}. Check the server URL in the config (fycli init --server), or tell the "
        f"platform's operator. {_consequence(what)}"
    )


def _consequence(what: str) -> str:
    return _PUSH_MAY_HAVE_LANDED if what.startswith("POST /v1/sync/push") else _NOTHING_CHANGED


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` names this machine (traffic to it never crosses a network)."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_transport(url: str, *, allow_insecure_http: bool) -> None:
    """Refuse to send a token over plain http to another machine, unless allowed."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme != "http" or allow_insecure_http or is_loopback_host(parsed.hostname or ""):
        return
    raise InsecureServer(
        f"refusing to send your token to {url} over plain http: anyone on the network between "
        "here and the server could read it and act as you. Use the https:// address of the "
        "platform; if this network is trusted, pass --allow-insecure-http to `fycli init` (or set "
        "allow_insecure_http = true in config.toml)"
    )


def _summarise(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False)
    first = errors[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "the body"
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {first.get('msg', 'invalid')}{more}"


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _root_cause(exc: BaseException) -> str:
    seen = exc
    for _ in range(20):  # bounded: a chain is never this deep, and a loop must not hang us
        nxt = seen.__cause__ or seen.__context__
        if nxt is None:
            break
        seen = nxt
    return str(seen) or type(seen).__name__


def _is_tls_failure(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    for _ in range(20):
        if seen is None:
            break
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
