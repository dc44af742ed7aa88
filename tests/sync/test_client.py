"""The protocol client's retry, backoff and error mapping, with an injected transport.

The transport is httpx's in-process MockTransport (the unit under test is the client's own
logic: which answers it retries, how long it asks to wait, what it raises); nothing sleeps,
the delays asked for are recorded instead. Real-HTTP behaviour is covered in the end-to-end and
garbage-server tests.
"""

from __future__ import annotations

import gzip
import json

import httpx
import pytest

from sync.client import RetryPolicy, SyncClient
from sync.errors import (
    AuthRefused,
    RequestRefused,
    ServerError,
    ServerUnavailable,
    Unreachable,
)

ME = {"liaison_id": "l1", "name": "王芳", "unit_id": "u1", "unit_name": "王店镇", "server_id": "s1"}
PULL_EMPTY = {"cursor": "c1", "has_more": False}


def make_client(handler, *, attempts: int = 4, jitter: float = 0.0):
    delays: list[float] = []
    client = SyncClient(
        "http://fycli.test",
        "secret-token",
        transport=httpx.MockTransport(handler),
        retry=RetryPolicy(attempts=attempts, base=0.5, cap=4.0),
        sleep=delays.append,
        random=lambda: jitter,
    )
    return client, delays


def answers(*responses):
    """A handler that answers with ``responses`` in turn and records the requests."""
    seen: list[httpx.Request] = []
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        item = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(item, Exception):
            raise item
        return item

    return handler, seen


def ok(body) -> httpx.Response:
    return httpx.Response(200, json=body)


def err(status, code="x", message="msg", headers=None) -> httpx.Response:
    return httpx.Response(status, json={"error": code, "message": message}, headers=headers)


def test_retries_5xx_with_exponential_backoff_then_succeeds():
    handler, seen = answers(err(503), err(500), err(502), ok(ME))
    client, delays = make_client(handler)
    me = client.me()
    assert me.unit_id == "u1"
    assert len(seen) == 4
    # jitter 0 → half of base*2**(n-1): 0.25, 0.5, 1.0
    assert delays == [0.25, 0.5, 1.0]
    assert client.stats.retries == 3 and client.stats.requests == 4


def test_jitter_stays_within_the_exponential_ceiling_and_the_cap():
    handler, _ = answers(err(503))
    client, delays = make_client(handler, attempts=8, jitter=1.0)
    with pytest.raises(ServerUnavailable):
        client.me()
    assert delays == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0]  # full ceiling, capped at 4


def test_429_honours_retry_after():
    handler, seen = answers(err(429, "rate_limited", headers={"Retry-After": "7"}), ok(ME))
    client, delays = make_client(handler)
    client.me()
    assert delays == [7.0]
    assert len(seen) == 2


def test_retry_after_longer_than_allowed_gives_up_at_once():
    handler, seen = answers(err(429, "rate_limited", headers={"Retry-After": "3600"}))
    client, delays = make_client(handler)
    with pytest.raises(ServerUnavailable, match="retry after 3600"):
        client.me()
    assert delays == [] and len(seen) == 1


def test_persistent_5xx_is_unavailable_exit_3_after_all_attempts():
    handler, seen = answers(err(500, "internal", "boom"))
    client, delays = make_client(handler, attempts=3)
    with pytest.raises(ServerUnavailable) as info:
        client.pull(None)
    assert info.value.exit_code == 3
    assert "kept locally" in str(info.value)
    assert len(seen) == 3 and len(delays) == 2


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("peer closed connection without sending complete message body"),
        httpx.ReadError("reset"),
    ],
)
def test_network_failures_are_retried_then_unreachable(failure):
    handler, seen = answers(failure)
    client, delays = make_client(handler, attempts=3)
    with pytest.raises(Unreachable) as info:
        client.me()
    assert not isinstance(info.value, ServerUnavailable)
    assert info.value.exit_code == 3
    assert len(seen) == 3 and delays == [0.25, 0.5]


def test_network_failure_then_success():
    handler, seen = answers(httpx.ConnectError("down"), ok(PULL_EMPTY))
    client, _ = make_client(handler)
    assert client.pull("abc").cursor == "c1"
    assert seen[-1].url.params["cursor"] == "abc"


@pytest.mark.parametrize("status", [400, 404, 409, 413, 415, 422])
def test_4xx_is_never_retried_and_carries_the_servers_message(status):
    handler, seen = answers(err(status, "invalid_request", "the cursor is malformed"))
    client, delays = make_client(handler)
    with pytest.raises(RequestRefused) as info:
        client.pull("junk")
    assert len(seen) == 1 and delays == []
    assert info.value.status == status and info.value.error == "invalid_request"
    assert "the cursor is malformed" in str(info.value)


@pytest.mark.parametrize("status", [401, 403])
def test_auth_refused_is_exit_4_and_not_retried(status):
    handler, seen = answers(err(status, "unauthorized", "token revoked"))
    client, _ = make_client(handler)
    with pytest.raises(AuthRefused) as info:
        client.me()
    assert info.value.exit_code == 4 and len(seen) == 1
    assert "token revoked" in str(info.value)


@pytest.mark.parametrize(
    "response, why",
    [
        (
            httpx.Response(
                200, text="<html><body>Portal login</body></html>", headers={"content-type": "text/html"}
            ),
            "HTML",
        ),
        (
            httpx.Response(
                200, content=b'{"cursor": "c1", "has_mo', headers={"content-type": "application/json"}
            ),
            "JSON",
        ),
        (httpx.Response(200, json={"cursor": 5, "has_more": "maybe"}), "cursor"),
        (httpx.Response(200, json=[1, 2, 3]), "input"),
        (httpx.Response(404, text="<html>Not Found</html>", headers={"content-type": "text/html"}), "404"),
    ],
)
def test_garbage_is_a_server_error_naming_the_protocol(response, why):
    handler, seen = answers(response)
    client, delays = make_client(handler)
    with pytest.raises(ServerError) as info:
        client.pull(None)
    message = str(info.value)
    assert "not fycli's sync protocol" in message
    assert why.lower() in message.lower()
    assert info.value.exit_code == 1
    assert len(seen) == 1 and delays == []


def test_push_sends_bearer_token_and_gzips_large_bodies():
    captured = {}

    def handler(request: httpx.Request) -> httpx.Response:
        captured["auth"] = request.headers.get("authorization")
        captured["encoding"] = request.headers.get("content-encoding")
        body = gzip.decompress(request.content)
        captured["body"] = json.loads(body)
        results = [
            {"action_id": a["action"]["action_id"], "seq": a["seq"], "outcome": "applied"}
            for a in captured["body"]["actions"]
        ]
        return ok({"results": results, "acked_seq": 40})

    client, _ = make_client(handler)
    actions = [
        (i, json.dumps({"action_id": f"action{i:04d}", "kind": "note", "text": "路灯不亮" * 10}))
        for i in range(1, 41)
    ]
    response = client.push("client-0001", actions)
    assert captured["auth"] == "Bearer secret-token"
    assert captured["encoding"] == "gzip"
    assert captured["body"]["client_id"] == "client-0001"
    assert [a["seq"] for a in captured["body"]["actions"]] == list(range(1, 41))
    assert response.acked_seq == 40
    assert client.stats.bytes_sent < len(json.dumps(captured["body"], ensure_ascii=False).encode())


def test_health_needs_no_token_and_checks_its_answer():
    handler, _ = answers(ok({"status": "ok", "server_id": "s", "protocol": 1}))
    client = SyncClient("http://fycli.test/", None, transport=httpx.MockTransport(handler))
    assert client.health()["server_id"] == "s"
    handler, _ = answers(ok({"hello": "world"}))
    client = SyncClient("http://fycli.test", None, transport=httpx.MockTransport(handler))
    with pytest.raises(ServerError):
        client.health()
