"""Unit names for ids the screens show (the ticket's unit, the unit a conflict moved it to).

The replica stores unit ids only; it knows its own unit's name (from ``GET /v1/me``) and the
names in its cached metrics. Any other unit — where a ticket was reassigned to — is shown as
"another unit" with its id: the app asks nothing of the network for a name, and an honest
"another unit (township-1-06)" beats a guess.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from local_db.replica import Replica
from schemas.terminal import safe


@dataclass(frozen=True, slots=True)
class UnitNames:
    own_id: str | None = None
    own_name: str | None = None
    known: dict[str, str] = field(default_factory=dict)

    def label(self, t, unit_id: str | None) -> str:
        """``本单位（西湖镇人民政府）``, a known unit's name, or ``其他单位（id）``."""
        if not unit_id:
            return "—"
        if unit_id == self.own_id:
            return t("unit.own", name=self.own_name) if self.own_name else t("unit.own_plain")
        if unit_id in self.known:
            return safe(self.known[unit_id])  # the server's name for it
        return t("unit.other", id=unit_id)


def unit_names(replica: Replica) -> UnitNames:
    """What this replica can name, read on the database thread."""
    state = replica.state()
    known = {m.unit_id: m.unit_name for m in replica.metrics() if m.unit_name}
    return UnitNames(
        own_id=state.unit_id, own_name=state.unit_name or known.get(state.unit_id or ""), known=known
    )
