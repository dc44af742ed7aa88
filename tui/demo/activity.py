"""The central platform at work while the demo runs: new tickets, urges, supervision, one
reassignment (of a ticket the liaison has touched, so a conflict appears), a dissatisfied
citizen (rework), a rejected reply. Runs in a thread, straight on the in-process service."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import random
import threading
from collections.abc import Callable
from pathlib import Path

from central import seed_data
from central.service import Service
from local_db.replica import Replica
from schemas.actions import Assign, Reassign, RecordFeedback, Register, RejectReply, Supervise, Urge
from schemas.enums import Satisfaction


class CentralActivity:
    def __init__(
        self,
        service: Service,
        *,
        unit_id: str,
        other_unit_id: str,
        county: str,
        township: str,
        replica_path: Path,
        every: float,
        seed: int = 11,
        log: Callable[[str], None] = lambda _m: None,
    ) -> None:
        self.service = service
        self.unit_id = unit_id
        self.other_unit_id = other_unit_id
        self.county = county
        self.township = township
        self.replica_path = replica_path
        self.every = every
        self.rng = random.Random(seed)
        self.log = log
        self._stop = threading.Event()
        self._numbers = itertools.count(1)
        self._reassigned = False
        self._dissatisfied = False
        self._rejected = False
        self._thread = threading.Thread(target=self._run, name="demo-central", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        steps = itertools.cycle(
            [self.new_ticket, self.urge, self.reassign_touched, self.new_ticket, self.dissatisfied,
             self.supervise, self.new_ticket, self.reject_reply]
        )  # fmt: skip
        while not self._stop.wait(self.every):
            try:
                next(steps)()
            except Exception as exc:  # the tour goes on; say what happened
                self.log(f"central activity: {exc}")

    # -- what the platform does -----------------------------------------------------------------
    def _now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def _tickets(self, status: str, limit: int = 200) -> list[dict]:
        raw = self.service.list_tickets(self.unit_id, status, limit, None)
        data = json.loads(raw)
        items = data.get("tickets", data) if isinstance(data, dict) else data
        return [item.get("ticket", item) for item in items]

    def new_ticket(self) -> None:
        appeal = next(
            iter(seed_data.generate_appeals(self.rng, 1, county=self.county, township=self.township))
        )
        ticket_id = f"DM{next(self._numbers):06d}{self.rng.randrange(100):02d}"
        self.service.admin_action(Register(ticket_id=ticket_id, created_at=self._now(), **appeal))
        self.service.admin_action(Assign(ticket_id=ticket_id, created_at=self._now(), unit_id=self.unit_id))
        self.log(f"new ticket {ticket_id}: {appeal['title']}")

    def urge(self) -> None:
        open_ = self._tickets("in_progress") + self._tickets("assigned")
        if open_:
            target = self.rng.choice(open_)["id"]
            self.service.admin_action(Urge(ticket_id=target, created_at=self._now(), comment="请尽快办理"))
            self.log(f"urged {target}")

    def supervise(self) -> None:
        open_ = self._tickets("in_progress")
        if open_:
            target = self.rng.choice(open_)["id"]
            listed = self.rng.random() < 0.3
            self.service.admin_action(Supervise(ticket_id=target, created_at=self._now(), listed=listed))
            self.log(f"supervised {target}")

    def _touched(self) -> list[str]:
        """Tickets with an action the liaison has not sent yet (read from the replica)."""
        try:
            with Replica.open(self.replica_path) as replica:
                return sorted({e.ticket_id for e in replica.outbox(limit=1000)})
        except Exception:
            return []

    def reassign_touched(self) -> None:
        if self._reassigned:
            return
        touched = self._touched()
        if not touched:
            return  # wait until the liaison has worked on something offline
        target = touched[0]
        outcome = self.service.admin_action(
            Reassign(
                ticket_id=target, created_at=self._now(), unit_id=self.other_unit_id, reason="属地调整，改派"
            )
        )
        if outcome.outcome == "applied":
            self._reassigned = True
            self.log(f"reassigned {target}")

    def dissatisfied(self) -> None:
        if self._dissatisfied:
            return
        resolved = self._tickets("resolved")
        if resolved:
            target = resolved[0]["id"]
            self.service.admin_action(
                RecordFeedback(
                    ticket_id=target,
                    created_at=self._now(),
                    result=Satisfaction.DISSATISFIED,
                    comment="问题没有解决",
                )
            )
            self._dissatisfied = True
            self.log(f"dissatisfied citizen on {target}")

    def reject_reply(self) -> None:
        if self._rejected:
            return
        resolved = self._tickets("resolved")
        if len(resolved) > 1:
            target = resolved[-1]["id"]
            self.service.admin_action(
                RejectReply(ticket_id=target, created_at=self._now(), reason="答复内容不完整，请补充办理过程")
            )
            self._rejected = True
            self.log(f"reply rejected on {target}")
