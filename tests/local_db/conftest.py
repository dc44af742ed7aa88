from __future__ import annotations

import pytest

from local_db.replica import Replica
from schemas.wire import Me
from tests.local_db.factory import fixed_clock, page, ticket_json

ME = Me(liaison_id="L1", name="王联络员", unit_id="U1", unit_name="鼓楼街道办事处", server_id="S1")


@pytest.fixture
def replica(tmp_path):
    """A replica of unit U1 at FIXED_NOW, holding three tickets: assigned, in progress, resolved."""
    r = Replica.open(tmp_path / "replica.db", create=True, clock=fixed_clock)
    r.set_identity(ME, "http://127.0.0.1:1")
    r.apply_pull_page_raw(
        page(
            [
                ticket_json("A1", status="assigned"),
                ticket_json("P1"),
                ticket_json("R1", status="resolved", reply="已处理", replied_by="李四", revision=3),
            ]
        )
    )
    yield r
    r.close()
