"""Every string the terminal app shows, in Chinese (the default) and English.

The liaisons read Chinese; English is for the city's vendors and reviewers. One table, so a
missing translation is a failing test (``tests/tui/test_i18n.py``), not a blank label.
No Textual here: the headless parts and the commands use it too.
"""

from __future__ import annotations

import os
from typing import Literal

from schemas.enums import Complexity, Reason, Status
from schemas.terminal import safe, safe_text

Lang = Literal["zh", "en"]
LANGS: tuple[Lang, ...] = ("zh", "en")

# key: (中文, English). Placeholders use str.format names.
STRINGS: dict[str, tuple[str, str]] = {
    # app
    "app.title": ("两有三解 · 联络员工作台", "Two-you, three-solves · liaison desk"),
    "app.no_identity": ("未初始化：请先运行 fycli init", "not set up: run fycli init"),
    # views
    "view.assigned": ("待签收", "To sign"),
    "view.in_progress": ("办理中", "In progress"),
    "view.due_soon": ("即将到期", "Due soon"),
    "view.overdue": ("已超期", "Overdue"),
    "view.resolved": ("已办结", "Resolved"),
    "view.pending_decision": ("待审批", "Pending"),
    "view.conflicts": ("冲突", "Conflicts"),
    "view.all": ("全部", "All"),
    "view.out_of_scope": ("已移出", "Moved away"),
    # statuses
    "status.registered": ("已受理", "registered"),
    "status.assigned": ("待签收", "to sign"),
    "status.in_progress": ("办理中", "in progress"),
    "status.return_requested": ("申请退回", "return asked"),
    "status.resolved": ("已办结", "resolved"),
    "status.closed": ("已回访", "closed"),
    "status.archived": ("已归档", "archived"),
    # complexity
    "complexity.urgent": ("紧急", "urgent"),
    "complexity.general": ("一般", "general"),
    "complexity.complex": ("复杂", "complex"),
    # columns
    "col.mark": ("选", "✓"),
    "col.id": ("编号", "Number"),
    "col.title": ("标题", "Title"),
    "col.category": ("分类", "Category"),
    "col.village": ("村居", "Village"),
    "col.status": ("状态", "Status"),
    "col.due": ("期限", "Due"),
    "col.left": ("剩余", "Left"),
    "col.flags": ("督办", "Flags"),
    "col.sync": ("同步", "Sync"),
    # time left
    "left.days": ("{n}个工作日", "{n} wd"),
    "left.today": ("今天到期", "due today"),
    "left.overdue": ("超期{n}天", "{n} wd late"),
    "left.none": ("—", "—"),
    # flags (one character each in Chinese: they must fit a narrow column)
    "flag.urged": ("催", "U"),
    "flag.supervised": ("督", "S"),
    "flag.listed": ("挂", "L"),
    "flag.escalated": ("提", "E"),
    "flag.legend": (
        "催=催办 督=督办 挂=挂牌督办 提=提级",
        "U=urged S=supervised L=listed E=escalated",
    ),
    # sync badges
    "badge.synced": ("已同步", "synced"),
    "badge.pending": ("待发送", "waiting to send"),
    "badge.conflict": ("冲突", "conflict"),
    # sync bar
    "sync.online": ("● 在线", "● online"),
    "sync.offline": ("○ 离线", "○ offline"),
    "sync.unknown": ("◌ 未连接", "◌ not connected"),
    "sync.not_configured": ("未配置服务器", "no server configured"),
    "sync.unsent": ("待发送 {n}", "unsent {n}"),
    "sync.conflicts": ("冲突 {n}", "conflicts {n}"),
    "sync.last": ("上次同步 {when}", "last sync {when}"),
    "sync.last_ok": ("上次成功 {when}", "last good sync {when}"),
    "sync.never": ("从未同步", "never synced"),
    "sync.running": ("同步中…", "syncing…"),
    "sync.progress": ("同步中 {done}/{total}", "syncing {done}/{total}"),
    "sync.pushed": ("已发送 {n}", "sent {n}"),
    "sync.pulled": ("已接收 {n}", "received {n}"),
    "sync.done": (
        "同步完成：发送 {sent}，接收 {pulled}，冲突 {conflicts}",
        "Synced: sent {sent}, received {pulled}, conflicts {conflicts}",
    ),
    "sync.refused": (
        "平台拒绝了 {n} 项操作，已放入冲突收件箱（按 {press} 处理）",
        "The platform refused {n} actions: they are in the conflict inbox (press {press})",
    ),
    "sync.failed_bar": ("同步失败：{why}", "sync failed: {why}"),
    "sync.why.unreachable": ("无法连接服务器", "server unreachable"),
    "sync.why.auth": ("令牌被拒绝", "token refused"),
    "sync.why.error": ("服务器应答异常", "bad answer from the server"),
    "sync.why.local": ("本地副本出错", "local replica error"),
    "sync.busy": (
        "另一同步正在进行（如定时的 fycli sync），完成后即可看到结果",
        "another sync of this replica is running (a scheduled fycli sync, say); its results show when it ends",
    ),
    "sync.failed": ("同步失败：{error}（工作已保存在本地）", "Sync failed: {error} (work kept locally)"),
    "sync.net_cut": ("演示：网络已断开", "demo: network cut"),
    "sync.net_restored": ("演示：网络已恢复", "demo: network restored"),
    "sync.ago.now": ("刚刚", "just now"),
    "sync.ago.min": ("{n}分钟前", "{n} min ago"),
    "sync.ago.hour": ("{n}小时前", "{n} h ago"),
    # queue
    "queue.search_placeholder": (
        "/ 搜索编号、标题、内容、地址（如：路灯、噪音）",
        "/ search number, title, text, address",
    ),
    "queue.position": ("第 {pos} 条，共 {total} 条", "row {pos} of {total}"),
    "queue.empty": ("没有符合条件的工单", "No tickets match"),
    "queue.marked": ("已选 {n}", "{n} marked"),
    "queue.marked_filter": ("已选 {n}（按筛选）", "{n} marked (by filter)"),
    "queue.filters": ("筛选：{text}", "Filter: {text}"),
    "queue.searching": ("搜索“{text}”（Esc 清除）", "search “{text}” (Esc clears)"),
    "queue.no_filters": ("无筛选（f 设置）", "no filter (f to set)"),
    # filter dialog
    "filter.title": ("筛选工单", "Filter tickets"),
    "filter.category": ("分类", "Category"),
    "filter.channel": ("渠道", "Channel"),
    "filter.complexity": ("复杂度", "Complexity"),
    "filter.village": ("村居", "Village"),
    "filter.any": ("全部", "any"),
    "filter.apply": ("应用", "Apply"),
    "filter.clear": ("清除", "Clear"),
    # detail
    "detail.title": ("工单详情", "Ticket"),
    "detail.description": ("诉求内容", "Description"),
    "detail.citizen": ("诉求人", "Citizen"),
    "detail.address": ("地址", "Address"),
    "detail.channel": ("渠道", "Channel"),
    "detail.type": ("类型", "Type"),
    "detail.category": ("分类", "Category"),
    "detail.complexity": ("复杂度", "Complexity"),
    "detail.status": ("状态", "Status"),
    "detail.unit": ("承办单位", "Unit"),
    "detail.sign_due": ("签收期限", "Sign for by"),
    "detail.handle_due": ("办理期限", "Resolve by"),
    "detail.provisional": ("（预估）", " (estimated)"),
    "detail.left": ("剩余", "Time left"),
    "detail.flags": ("督办标记", "Flags"),
    "detail.no_flags": ("无", "none"),
    "detail.urged_n": ("催办×{n}", "urged ×{n}"),
    "detail.supervised": ("督办", "supervised"),
    "detail.listed": ("挂牌督办", "listed supervision"),
    "detail.escalated": ("提级调度", "escalated"),
    "detail.counters": (
        "退回 {returns} · 延期 {extensions} · 重办 {reworks} · 回退 {rejections}",
        "returns {returns} · extensions {extensions} · reworks {reworks} · rejected {rejections}",
    ),
    "detail.reply": ("答复", "Reply"),
    "detail.no_reply": ("（尚未答复）", "(no reply yet)"),
    "detail.notes": ("办理记录", "Notes"),
    "detail.no_notes": ("（无）", "(none)"),
    "detail.history": ("流转记录", "History"),
    "detail.pending": ("待发送的操作", "Waiting to send"),
    "detail.sync": ("同步状态", "Sync"),
    "detail.out_of_scope": ("此工单已改派出本单位，仅可查看", "This ticket moved to another unit: read only"),
    "detail.return_reason": ("退回理由", "Return reason"),
    "detail.extension": ("延期申请", "Extension asked"),
    "detail.extension_text": ("{days}个工作日：{reason}", "{days} working days: {reason}"),
    "detail.satisfaction": ("回访结果", "Citizen verdict"),
    "detail.not_found": ("工单 {id} 不存在", "No ticket {id}"),
    # actions (binding descriptions, palette titles)
    "action.accept": ("签收", "Sign for"),
    "action.note": ("记录", "Note"),
    "action.resolve": ("办结", "Resolve"),
    "action.return": ("申请退回", "Ask return"),
    "action.extend": ("申请延期", "Ask extension"),
    "action.undo": ("撤销", "Undo"),
    "action.sync": ("立即同步", "Sync now"),
    "action.search": ("搜索", "Search"),
    "action.filter": ("筛选", "Filter"),
    "action.open": ("详情", "Open"),
    "action.mark": ("选择", "Mark"),
    "action.mark_range": ("连选", "Mark range"),
    "action.mark_all": ("全选筛选结果", "Mark all matching"),
    "action.invert": ("反选", "Invert marks"),
    "action.clear": ("清除选择", "Clear marks"),
    "action.conflicts": ("冲突", "Conflicts"),
    "action.dashboard": ("三率看板", "Dashboard"),
    "action.help": ("按键", "Keys"),
    "action.quit": ("退出", "Quit"),
    "action.back": ("返回", "Back"),
    "action.next_view": ("下一栏", "Next view"),
    "action.prev_view": ("上一栏", "Previous view"),
    "action.page_down": ("下一页", "Page down"),
    "action.page_up": ("上一页", "Page up"),
    "action.top": ("回到顶部", "Top"),
    "action.reapply": ("重新提交", "Re-apply"),
    "action.keep_note": ("转为记录", "Keep as note"),
    "action.drop": ("放弃", "Drop"),
    "action.network": ("断网/联网", "Cut/restore network"),
    "action.outbox": ("待发送", "Outbox"),
    "action.with_count": ("{label}({n})", "{label} ({n})"),
    "palette.help": ("命令面板中的操作", "An action from the command palette"),
    # dialogs
    "dialog.ok": ("确定", "OK"),
    "dialog.cancel": ("取消", "Cancel"),
    "dialog.confirm_bulk": ("对已选的 {n} 件工单执行「{action}」？", "{action} the {n} marked tickets?"),
    "dialog.confirm_bulk_hint": (
        "每件工单单独提交，互不影响。",
        "Each ticket is its own action; one failure never blocks the rest.",
    ),
    "dialog.reply_title": ("办结答复（{n} 件）", "Reply to the citizen ({n})"),
    "dialog.reply_placeholder": ("答复内容（必填）", "The reply (required)"),
    "dialog.templates": (
        "常用答复（↑↓ 选择，回车填入，Tab 切换）",
        "Reply templates (↑↓ choose, Enter fills in, Tab moves)",
    ),
    "dialog.note_title": ("添加办理记录", "Add a note"),
    "dialog.note_placeholder": ("记录内容", "The note"),
    "dialog.return_title": ("申请退回（非本单位职责）", "Ask to return (not our jurisdiction)"),
    "dialog.reason_placeholder": ("理由（必填）", "Reason (required)"),
    "dialog.extend_title": ("申请延期", "Ask for an extension"),
    "dialog.days_placeholder": ("延期工作日数（1–30）", "Working days (1–30)"),
    "dialog.required": ("请填写内容", "This is required"),
    "dialog.bad_days": ("请输入 1 到 30 的数字", "Enter a number from 1 to 30"),
    "outcome.title": ("执行结果：成功 {ok}，未执行 {failed}", "Result: {ok} done, {failed} not done"),
    "outcome.title_local": (
        "执行结果：已保存 {ok}，无需操作 {noop}，未执行 {failed}",
        "Result: {ok} saved, {noop} nothing to do, {failed} not done",
    ),
    "outcome.noop": ("无需操作：已完成，未加入待发送", "nothing to do: already done; nothing queued"),
    "outcome.ok": ("已保存，待发送", "saved, waiting to send"),
    "outcome.kept_as_note": (
        "已办结：这条答复已改存为便签，待发送",
        "already resolved: the reply was kept as a note instead, waiting to send",
    ),
    "outcome.title_local_kept": (
        "执行结果：已保存 {ok}，改存为便签 {kept}，无需操作 {noop}，未执行 {failed}",
        "Result: {ok} saved, {kept} kept as a note, {noop} nothing to do, {failed} not done",
    ),
    "outcome.failed": ("未执行", "not done"),
    "outcome.close_hint": ("Esc/回车 关闭", "Esc/Enter to close"),
    "notify.queued": ("{action}：{n} 件已保存，待发送", "{action}: {n} saved, waiting to send"),
    "notify.quit_hint": ("按 {press} 退出（或 ctrl+q）", "Press {press} to quit (or ctrl+q)"),
    "notify.none_marked": ("没有选中的工单", "Nothing marked"),
    "notify.nothing_selected": ("没有工单", "No ticket here"),
    "notify.undone": ("已撤销 {n} 项未发送操作", "Undid {n} unsent actions"),
    "notify.nothing_to_undo": ("没有可撤销的未发送操作", "Nothing unsent to undo"),
    "notify.undo_too_late": (
        "可能已送达平台，无法撤销",
        "May already have reached the platform: cannot undo",
    ),
    "notify.undone_some": (
        "已撤销 {n} 项；{late} 项可能已送达平台，无法撤销",
        "Undid {n}; {late} may already have reached the platform: cannot undo",
    ),
    "notify.queued_grace": (
        "{action}：{n} 件已保存，{s} 秒后发送（{press} 撤销）",
        "{action}: {n} saved, sent in {s} s ({press} undoes)",
    ),
    "notify.kept_as_note": (
        "{action} {id}：该工单已办结，未再次办结；这条答复已改存为便签，待发送",
        "{action} {id}: already resolved, not resolved again; the reply was kept as a note instead, "
        "waiting to send",
    ),
    "notify.noop": (
        "{action} {id}：无需操作，已完成，未加入待发送",
        "{action} {id}: nothing to do: already done; nothing queued",
    ),
    "notify.none_in_view": (
        "当前视图中没有已选的工单（{n} 件已选在其他视图，不会执行）",
        "Nothing marked in this view ({n} marked elsewhere are not acted on)",
    ),
    # bulk confirmation
    "bulk.planning": ("正在核对 {n} 件已选工单…", "Checking the {n} marked tickets…"),
    "bulk.by_status": ("按状态：{text}", "By status: {text}"),
    "bulk.needs_first.resolve": (
        "另有 {n} 件待签收：勾选则先签收再办结（需单独同意）",
        "{n} more are still to sign: tick to sign for, then resolve them (their own consent)",
    ),
    "bulk.outside": (
        "另有 {n} 件已选工单不在当前视图：保留选择，不执行",
        "{n} more marked tickets are not in this view: they stay marked and are not acted on",
    ),
    "bulk.type_count": ("输入件数 {n} 以确认，回车", "Type the count, {n}, to confirm, then Enter"),
    "bulk.count_mismatch": ("请输入件数 {n} 以确认", "Type {n} to confirm"),
    "bulk.nothing_chosen": ("没有要执行的工单", "Nothing to act on"),
    "queue.marked_outside": ("（另 {n} 件在其他视图，不执行）", " ({n} more in other views: not acted on)"),
    # quitting with unsent work
    "quit.unsent": (
        "{n} 项操作尚未发送，已保存在本机，下次同步（后台同步、r 或 fycli sync）会发送。退出？",
        "{n} actions are not sent yet. They are kept on this computer; the next sync "
        "(background, r or fycli sync) sends them. Quit?",
    ),
    "quit.unsent_unconfigured": (
        "{n} 项操作尚未发送，已保存在本机；配置服务器（fycli init）后，下次同步会发送。退出？",
        "{n} actions are not sent yet. They are kept on this computer; once a server is set up "
        "(fycli init) the next sync sends them. Quit?",
    ),
    "quit.unsent_demo": (
        "{n} 项操作尚未发送。演示数据在临时目录，退出后删除，这些操作将丢失。先同步吗？",
        "{n} actions are not sent yet. The demo's data is in a temporary directory removed on "
        "exit: they would be lost. Sync first?",
    ),
    "quit.sync_first": ("先同步再退出", "Sync, then quit"),
    "quit.quit": ("退出", "Quit"),
    "quit.discard": ("丢弃并退出", "Discard and quit"),
    "quit.sync_failed": ("同步未完成，未退出：{error}", "The sync did not finish, still here: {error}"),
    "notify.conflict_resolved": ("冲突已处理：{how}", "Conflict handled: {how}"),
    "notify.read_only": ("此工单已移出本单位，不能操作", "This ticket moved away: read only"),
    # conflicts
    "conflicts.title": ("冲突收件箱（{n}）", "Conflict inbox ({n})"),
    "conflicts.empty": ("没有待处理的冲突", "No conflicts to handle"),
    "conflicts.mine": ("我的操作", "Mine"),
    "conflicts.theirs": ("平台现状", "Theirs (the server)"),
    "conflicts.reason": ("原因", "Reason"),
    "conflicts.changed_by": ("修改人", "Changed by"),
    "conflicts.changed_at": ("修改时间", "Changed at"),
    "conflicts.refused_at": ("拒收时间", "Refused at"),
    "conflicts.kind": ("操作", "Action"),
    "conflicts.text": ("内容", "Text"),
    "conflicts.status": ("状态", "Status"),
    "conflicts.unit": ("承办单位", "Unit"),
    "unit.own": ("本单位（{name}）", "this unit ({name})"),
    "unit.own_plain": ("本单位", "this unit"),
    "unit.other": ("其他单位（{id}）", "another unit ({id})"),
    "actor.central": ("12345平台", "the 12345 platform"),
    "conflicts.not_done": ("未执行：{why}", "Not done: {why}"),
    "conflicts.moved_hint": (
        "工单已改派到其他单位：不能再提交，也不能转为记录；文字仍保留在此，不再需要时可放弃（d）",
        "The ticket moved to another unit: it takes neither a re-apply nor a note; the text stays here until you drop it (d)",
    ),
    "conflicts.unknown": ("（未知）", "(unknown)"),
    "conflicts.hint": ("a 重新提交 · n 转为记录 · d 放弃", "a re-apply · n keep as note · d drop"),
    "conflicts.how.reapply": ("已重新提交", "re-applied"),
    "conflicts.how.note": ("已转为记录", "kept as a note"),
    "conflicts.how.drop": ("已放弃", "dropped"),
    "kind.accept": ("签收", "sign for"),
    "kind.note": ("记录", "note"),
    "kind.resolve": ("办结", "resolve"),
    "kind.request_return": ("申请退回", "ask return"),
    "kind.request_extension": ("申请延期", "ask extension"),
    # history: event action kinds
    "event.register": ("受理", "registered"),
    "event.assign": ("交办", "assigned"),
    "event.reassign": ("改派", "reassigned"),
    "event.accept": ("签收", "signed for"),
    "event.note": ("记录", "note"),
    "event.resolve": ("办结", "resolved"),
    "event.request_return": ("申请退回", "return asked"),
    "event.request_extension": ("申请延期", "extension asked"),
    "event.decide_return": ("审批退回", "return decided"),
    "event.decide_extension": ("审批延期", "extension decided"),
    "event.urge": ("催办", "urged"),
    "event.supervise": ("督办", "supervised"),
    "event.escalate": ("提级调度", "escalated"),
    "event.reject_reply": ("回退", "reply rejected"),
    "event.record_feedback": ("回访", "citizen feedback"),
    "event.archive": ("归档", "archived"),
    # dashboard
    "dash.title": ("三率看板 · {unit} · {month}", "Dashboard · {unit} · {month}"),
    "dash.no_metrics": ("尚无考核数据（同步后显示）", "No metrics yet (they arrive with a sync)"),
    "dash.response_rate": ("响应率", "Response rate"),
    "dash.resolution_rate": ("解决率", "Resolution rate"),
    "dash.on_time_rate": ("按时办结率", "On-time rate"),
    "dash.satisfaction_rate": ("满意率", "Satisfaction rate"),
    "dash.return_rate": ("退回率", "Return rate"),
    "dash.rework_rate": ("重办率", "Rework rate"),
    "dash.rank": ("排名 {rank}/{peers}", "rank {rank} of {peers}"),
    "dash.no_rank": ("暂无排名", "no rank yet"),
    "dash.counts": ("工单数量", "Tickets"),
    "dash.overdue": ("超期工单", "Overdue tickets"),
    "dash.no_overdue": ("没有超期工单", "Nothing overdue"),
    "dash.detail_line": (
        "交办 {assigned} · 按时签收 {signed} · 应办 {due} · 已办结 {resolved} · 已评价 {evaluated}",
        "assigned {assigned} · signed on time {signed} · due {due} · resolved {resolved} · evaluated {evaluated}",
    ),
    # help
    "help.title": (
        "全部按键（可在 config.toml 的 [keys] 中按编号改键）",
        "Every key (rebind by id under [keys] in config.toml)",
    ),
    "help.key": ("按键", "Key"),
    "help.id": ("编号", "Id"),
    "help.what": ("作用", "What it does"),
    "help.where": ("位置", "Where"),
    "where.app": ("全局", "everywhere"),
    "where.queue": ("列表", "queue"),
    "where.detail": ("详情", "detail"),
    "where.conflicts": ("冲突", "conflicts"),
    "where.dashboard": ("看板", "dashboard"),
}


#: English names of the platform's closed category list (the data keeps the Chinese codes).
CATEGORY_EN: dict[str, str] = {
    "房产物业": "Housing",
    "交通物流": "Transport",
    "城市管理": "Urban mgmt",
    "劳动社保": "Labour",
    "农村农业": "Rural",
    "生态环境": "Environment",
    "教育": "Education",
    "卫生健康": "Health",
    "市场监管": "Market",
    "水电气暖": "Utilities",
    "公共安全": "Safety",
    "其他": "Other",
}


def resolve_lang(explicit: str | None = None) -> Lang:
    """``--lang`` wins, then ``FYCLI_LANG``, then Chinese."""
    for candidate in (explicit, os.environ.get("FYCLI_LANG")):
        if candidate:
            code = candidate.strip().lower()[:2]
            if code in LANGS:
                return code  # type: ignore[return-value]
    return "zh"


def _escaped(value: object) -> object:
    """A value put into a translated string: text with its control characters escaped."""
    return safe_text(value) if isinstance(value, str) else value


class Translator:
    """``t("sync.unsent", n=3)`` → ``待发送 3``. One per app: the language never changes mid-run."""

    def __init__(self, lang: Lang = "zh") -> None:
        self.lang: Lang = lang
        self._index = LANGS.index(lang)

    def __call__(self, key: str, **values: object) -> str:
        try:
            text = STRINGS[key][self._index]
        except KeyError:
            # A missing key is a bug the i18n test catches; show the key rather than crash a liaison's day.
            return key
        # A value may be the server's text (a name, an error): never a terminal command.
        return text.format(**{k: _escaped(v) for k, v in values.items()}) if values else text

    def status(self, status: Status | str) -> str:
        return self(f"status.{Status(status).value}")

    def complexity(self, complexity: Complexity | str) -> str:
        return self(f"complexity.{Complexity(complexity).value}")

    def reason(self, reason: Reason | str) -> str:
        from schemas.enums import REASON_LABELS

        reason = Reason(reason)
        return REASON_LABELS[reason] if self.lang == "zh" else reason.value.replace("_", " ").lower()

    def channel(self, channel: str) -> str:
        from schemas.enums import Channel

        try:
            ch = Channel(channel)
        except ValueError:
            return safe(channel)
        return ch.label if self.lang == "zh" else ch.value.replace("_", " ")

    def category(self, category: str) -> str:
        return safe(category) if self.lang == "zh" else CATEGORY_EN.get(category, safe(category))

    def actor(self, name: str | None) -> str:
        """Who did it: the central service's operator "central" reads as the platform."""
        if not name:
            return self("conflicts.unknown")
        return self("actor.central") if name == "central" else safe(name)

    def server_message(self, message: str | None) -> str:
        """A refusal's detail from the server: its decide() messages are English, so a Chinese
        screen shows only messages written in Chinese (the reason label already says it)."""
        if not message:
            return ""
        return safe_text(message) if self.lang == "en" or not message.isascii() else ""

    def event(self, action: str) -> str:
        return self(f"event.{action}") if f"event.{action}" in STRINGS else safe(action)

    def days_left(self, days: int | None) -> str:
        if days is None:
            return self("left.none")
        if days < 0:
            return self("left.overdue", n=-days)
        if days == 0:
            return self("left.today")
        return self("left.days", n=days)
