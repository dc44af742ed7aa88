"""Actions: the only way a ticket changes. Each is a typed message with a unique id.

Liaison actions are made offline and carry a :class:`Base` — the part of the ticket they were
decided against — so the server can tell a stale action by its business precondition.
Central actions are made online, against the current state, and win.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal, get_args

from pydantic import ConfigDict, Field, TypeAdapter

from schemas.enums import AppealType, Channel, Complexity, Satisfaction, Status
from schemas.ticket import (
    Category,
    CleanDescription,
    CleanLongText,
    CleanRequiredText,
    CleanShortText,
    CleanTitle,
    Model,
    TicketId,
    UnitId,
)

ActionId = Annotated[str, Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


def new_action_id() -> str:
    return uuid.uuid4().hex


class Base(Model):
    """What an offline action was based on: the ticket's status, unit and assignment epoch."""

    status: Status
    unit_id: UnitId | None
    epoch: int = Field(ge=0)


def _kind_required(schema: dict, _model: type) -> None:
    """Publish ``kind`` as required: it has a default in Python (so a model is made without
    naming it), but on the wire it is the discriminator, and the server refuses a body without."""
    if "kind" in schema.get("properties", {}) and "kind" not in schema.setdefault("required", []):
        schema["required"].append("kind")


class ActionCommon(Model):
    model_config = ConfigDict(json_schema_extra=_kind_required)

    action_id: ActionId = Field(default_factory=new_action_id)
    ticket_id: TicketId
    created_at: dt.datetime = Field(description="When the person made it (client clock, informative).")


class LiaisonAction(ActionCommon):
    base: Base


# --- the liaison's actions (L in SPEC §3), made offline and queued -------------------------


class Accept(LiaisonAction):
    """签收: sign for an assigned ticket."""

    kind: Literal["accept"] = "accept"


class AddNote(LiaisonAction):
    """A handling note or call log. Append-only: never conflicts with anything."""

    kind: Literal["note"] = "note"
    note_id: ActionId = Field(default_factory=new_action_id)
    note_kind: Literal["note", "call", "attachment"] = "note"
    text: CleanRequiredText


class Resolve(LiaisonAction):
    """办结: resolve with the reply to the citizen (required)."""

    kind: Literal["resolve"] = "resolve"
    reply: CleanRequiredText


class RequestReturn(LiaisonAction):
    """申请退回: not our jurisdiction. A reason is required."""

    kind: Literal["request_return"] = "request_return"
    reason: CleanRequiredText


class RequestExtension(LiaisonAction):
    """申请延期: ask for more working days."""

    kind: Literal["request_extension"] = "request_extension"
    days: int = Field(ge=1, le=30)
    reason: CleanRequiredText


LiaisonActionUnion = Accept | AddNote | Resolve | RequestReturn | RequestExtension
LiaisonActionT = Annotated[LiaisonActionUnion, Field(discriminator="kind")]

# --- the central platform's actions (C), decided online against the current state ------------


class CentralAction(ActionCommon):
    base: Base | None = Field(None, description="Optional: refuse unless the ticket is still in this state.")


class Register(CentralAction):
    """受理: intake from a channel, classified. Creates the ticket."""

    kind: Literal["register"] = "register"
    channel: Channel
    appeal_type: AppealType
    category: Category
    title: CleanTitle
    description: CleanDescription
    citizen_name: CleanShortText
    citizen_phone: CleanShortText
    needs_callback: bool = False
    address: CleanShortText
    county: CleanShortText
    township: CleanShortText
    village: CleanShortText | None = None
    complexity: Complexity


class Assign(CentralAction):
    """交办: hand a registered ticket to a unit; sets both deadlines."""

    kind: Literal["assign"] = "assign"
    unit_id: UnitId
    complexity: Complexity | None = Field(None, description="Reclassify while assigning.")


class Reassign(CentralAction):
    """改派: move the ticket to another unit (also how a granted return is carried out)."""

    kind: Literal["reassign"] = "reassign"
    unit_id: UnitId
    reason: CleanLongText = ""


class DecideReturn(CentralAction):
    """Grant a return request (reassign to ``unit_id``) or refuse it (back to in progress)."""

    kind: Literal["decide_return"] = "decide_return"
    approve: bool
    unit_id: UnitId | None = Field(None, description="Required when approving: who takes it.")
    comment: CleanLongText = ""


class DecideExtension(CentralAction):
    kind: Literal["decide_extension"] = "decide_extension"
    approve: bool
    days: int | None = Field(None, ge=1, le=30, description="Days granted; default: as requested.")
    comment: CleanLongText = ""


class Urge(CentralAction):
    """催办."""

    kind: Literal["urge"] = "urge"
    comment: CleanLongText = ""


class Supervise(CentralAction):
    """督办, or 挂牌督办 with ``listed``."""

    kind: Literal["supervise"] = "supervise"
    listed: bool = False
    comment: CleanLongText = ""


class Escalate(CentralAction):
    """提级调度: the coordination group takes over scheduling and names the unit."""

    kind: Literal["escalate"] = "escalate"
    comment: CleanLongText = ""


class RejectReply(CentralAction):
    """回退: the reply is incomplete; the unit must work on."""

    kind: Literal["reject_reply"] = "reject_reply"
    reason: CleanRequiredText


class RecordFeedback(CentralAction):
    """回访: the citizen's verdict. Dissatisfied reopens the ticket for rework (重办)."""

    kind: Literal["record_feedback"] = "record_feedback"
    result: Satisfaction
    comment: CleanLongText = ""


class Archive(CentralAction):
    kind: Literal["archive"] = "archive"


CentralActionUnion = (
    Register
    | Assign
    | Reassign
    | DecideReturn
    | DecideExtension
    | Urge
    | Supervise
    | Escalate
    | RejectReply
    | RecordFeedback
    | Archive
)
CentralActionT = Annotated[CentralActionUnion, Field(discriminator="kind")]

AnyAction = LiaisonActionUnion | CentralActionUnion
AnyActionT = Annotated[AnyAction, Field(discriminator="kind")]

LIAISON_ACTION_ADAPTER: TypeAdapter[LiaisonActionT] = TypeAdapter(LiaisonActionT)
CENTRAL_ACTION_ADAPTER: TypeAdapter[CentralActionT] = TypeAdapter(CentralActionT)
ACTION_ADAPTER: TypeAdapter[AnyActionT] = TypeAdapter(AnyActionT)


def _kinds(union: object) -> frozenset[str]:
    """The ``kind`` tags of a union's members, so the sets cannot drift from the unions."""
    return frozenset(member.model_fields["kind"].default for member in get_args(union))


LIAISON_KINDS = _kinds(LiaisonActionUnion)
CENTRAL_KINDS = _kinds(CentralActionUnion)
