"""Village links for the field-condition tests: a real ``fycli serve`` inside a network namespace.

The service runs in its own namespace, reachable from the host only through a veth pair that
``tc tbf`` rate-limits (both directions); the fault proxy on the host adds latency, jitter and
cuts in front of it (this kernel has no ``netem``). The client — a real replica and the real
sync engine — runs in the test process on the host.

Without network namespaces (not root, no iproute2) the tests skip and say why; under CI=true
they fail instead, because CI must run them.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bench.harness import Server, start_server
from bench.netem.netns import VillageLink, netns_available, village_link

#: Fast enough that set-up (seeding, a first sync) costs well under a second.
SETUP_RATE_KBIT = 50_000
#: The township whose unit the tests work with, and another unit to reassign tickets to.
COUNTY, TOWNSHIP = "临泉县", "杨桥镇"


def require_netns() -> None:
    ok, why = netns_available()
    if ok:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"the village-link tests must run in CI, but network namespaces do not work: {why}")
    pytest.skip(f"no village link here: {why}")


@dataclass
class Village:
    """A central service in a namespace behind a rate-limited link, and its admin side."""

    link: VillageLink
    server: Server
    admin_token: str

    @property
    def upstream(self) -> tuple[str, int]:
        return (self.server.host, self.server.port)

    @property
    def url(self) -> str:
        return self.server.url

    def admin(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.admin_token}"}, timeout=60
        )

    def call(self, method: str, path: str, **kwargs) -> dict | list:
        with self.admin() as admin:
            resp = admin.request(method, path, **kwargs)
        assert resp.status_code < 400, f"{method} {path}: {resp.status_code} {resp.text}"
        return resp.json()

    def seed(self, n: int, *, seed: int = 1) -> int:
        """Seed ``n`` appeals of TOWNSHIP; returns how many were assigned to its unit (the
        seeding leaves a few registered but unassigned)."""
        body = {"tickets": n, "seed": seed, "county": COUNTY, "township": TOWNSHIP}
        summary = self.call("POST", "/v1/admin/seed", json=body)
        return n - int(summary.get("by_status", {}).get("registered", 0))

    def seed_unit(self, n: int, *, seed: int = 1) -> tuple[str, str, int]:
        """Seed ``n`` appeals of TOWNSHIP; returns (unit id, a new liaison's token, tickets in
        the unit)."""
        in_unit = self.seed(n, seed=seed)
        units = self.call("GET", "/v1/admin/units")
        unit_id = next(str(u["id"]) for u in units if u.get("township") == TOWNSHIP)
        token = self.call("POST", "/v1/admin/liaisons", json={"name": "村联络员", "unit_id": unit_id})[
            "token"
        ]
        return unit_id, token, in_unit

    def act(self, ticket_id: str, kind: str, **fields) -> dict:
        body = {
            "kind": kind,
            "ticket_id": ticket_id,
            "created_at": dt.datetime.now(dt.UTC).isoformat(),
            **fields,
        }
        return self.call("POST", f"/v1/admin/tickets/{ticket_id}/actions", json=body)

    def ticket(self, ticket_id: str) -> dict:
        return self.call("GET", f"/v1/tickets/{ticket_id}")


@pytest.fixture
def village(tmp_path: Path) -> Iterator[Village]:
    require_netns()
    token = "fyadm_field_" + secrets.token_hex(8)
    with village_link(SETUP_RATE_KBIT) as link:
        server = start_server(
            f"sqlite:///{tmp_path / 'central.db'}",
            tmp_path,
            host=link.ns_ip,
            port=8080,
            env={"FYCLI_ADMIN_TOKEN": token, "FYCLI_DATA_DIR": str(tmp_path / "data")},
            prefix=link.exec_prefix(),
        )
        try:
            yield Village(link, server, token)
        finally:
            server.stop()
