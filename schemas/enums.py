"""The closed vocabularies of the workflow: statuses, actors, reason codes and ticket attributes.

Every value is a short stable ASCII code (what goes on the wire and into databases); the Chinese
label a person reads is kept beside it, so the terminal app and the CLI render the same words.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """Where a ticket is in the closed loop (SPEC §3)."""

    REGISTERED = "registered"  # 已受理: taken in from a channel and classified
    ASSIGNED = "assigned"  # 待签收: handed to a unit, waiting to be signed for
    IN_PROGRESS = "in_progress"  # 办理中: the unit is working on it
    RETURN_REQUESTED = "return_requested"  # 申请退回: the unit says it is not its jurisdiction
    RESOLVED = "resolved"  # 已办结: replied to the citizen, waiting for the return visit
    CLOSED = "closed"  # 已回访: the citizen was satisfied
    ARCHIVED = "archived"  # 已归档: closed and filed; read-only everywhere

    @property
    def label(self) -> str:
        return STATUS_LABELS[self]

    @property
    def is_open(self) -> bool:
        return self not in (Status.CLOSED, Status.ARCHIVED)


STATUS_LABELS: dict[Status, str] = {
    Status.REGISTERED: "已受理",
    Status.ASSIGNED: "待签收",
    Status.IN_PROGRESS: "办理中",
    Status.RETURN_REQUESTED: "申请退回",
    Status.RESOLVED: "已办结",
    Status.CLOSED: "已回访",
    Status.ARCHIVED: "已归档",
}


class Role(StrEnum):
    """Who makes an action. Only the liaison's actions are ever made offline."""

    CENTRAL = "central"  # the city platform and its sub-platforms (C in the spec's table)
    LIAISON = "liaison"  # a township liaison (L)


class Complexity(StrEnum):
    URGENT = "urgent"  # 紧急/简单: 2 working days
    GENERAL = "general"  # 一般: 5 working days
    COMPLEX = "complex"  # 重大/复杂: 15 working days

    @property
    def label(self) -> str:
        return {"urgent": "紧急", "general": "一般", "complex": "复杂"}[self.value]


class Channel(StrEnum):
    HOTLINE_12345 = "hotline_12345"
    LEADER_BOARD = "leader_board"
    MAYOR_MAILBOX = "mayor_mailbox"
    MEDIA = "media"
    OPINION = "opinion"
    WECHAT = "wechat"

    @property
    def label(self) -> str:
        return CHANNEL_LABELS[self]


CHANNEL_LABELS: dict[Channel, str] = {
    Channel.HOTLINE_12345: "12345热线",
    Channel.LEADER_BOARD: "领导留言板",
    Channel.MAYOR_MAILBOX: "市长信箱",
    Channel.MEDIA: "媒体热线",
    Channel.OPINION: "舆情监测",
    Channel.WECHAT: "阜务为民小程序",
}


class AppealType(StrEnum):
    CONSULT = "consult"
    HELP = "help"
    COMPLAINT = "complaint"
    REPORT = "report"
    SUGGESTION = "suggestion"
    PRAISE = "praise"

    @property
    def label(self) -> str:
        return {
            "consult": "咨询",
            "help": "求助",
            "complaint": "投诉",
            "report": "举报",
            "suggestion": "建议",
            "praise": "表扬",
        }[self.value]


#: The platform's categories. A closed list: an unknown category is refused at intake.
CATEGORIES: tuple[str, ...] = (
    "房产物业",
    "交通物流",
    "城市管理",
    "劳动社保",
    "农村农业",
    "生态环境",
    "教育",
    "卫生健康",
    "市场监管",
    "水电气暖",
    "公共安全",
    "其他",
)


class Satisfaction(StrEnum):
    """The citizen's verdict at the return visit (回访)."""

    SATISFIED = "satisfied"  # 满意
    BASICALLY_SATISFIED = "basically_satisfied"  # 基本满意
    DISSATISFIED = "dissatisfied"  # 不满意: the ticket is reworked

    @property
    def label(self) -> str:
        return {"satisfied": "满意", "basically_satisfied": "基本满意", "dissatisfied": "不满意"}[self.value]


class EpochCause(StrEnum):
    """Why the ticket's assignment epoch last changed; names the conflict a stale action meets."""

    ASSIGN = "assign"
    REASSIGN = "reassign"
    REWORK = "rework"  # reopened because the citizen was dissatisfied
    REJECT_REPLY = "reject_reply"  # the reply was sent back as incomplete (回退)


class Reason(StrEnum):
    """Stable reason codes for a refused action. Scripts and the conflict inbox key on these."""

    REASSIGNED = "REASSIGNED"  # the ticket went to another unit (or away and back) since the action's base
    REOPENED = "REOPENED"  # reopened for rework since the action's base
    REPLY_REJECTED = "REPLY_REJECTED"  # the unit's reply was sent back since the action's base
    STATUS_CHANGED = "STATUS_CHANGED"  # same assignment, but the status no longer allows the action
    ALREADY_RESOLVED = "ALREADY_RESOLVED"  # someone resolved it first; this reply was kept as a note
    NOT_ALLOWED = "NOT_ALLOWED"  # this actor may never make this transition from this status
    INVALID = "INVALID"  # the action's own content is unusable (empty reply, unknown unit ...)
    NOT_FOUND = "NOT_FOUND"  # no such ticket, or not one this actor may see
    ALREADY_EXISTS = "ALREADY_EXISTS"  # registering a number that is taken


REASON_LABELS: dict[Reason, str] = {
    Reason.REASSIGNED: "已改派",
    Reason.REOPENED: "已重办",
    Reason.REPLY_REJECTED: "答复被退回",
    Reason.STATUS_CHANGED: "状态已变化",
    Reason.ALREADY_RESOLVED: "已被办结",
    Reason.NOT_ALLOWED: "不允许",
    Reason.INVALID: "内容无效",
    Reason.NOT_FOUND: "工单不存在",
    Reason.ALREADY_EXISTS: "编号已存在",
}
