"""The pages' words in Chinese (first) and English, until Babel catalogs replace them.

Each word is written once with both languages side by side, so neither can be missing;
statuses, channels, actions and the other domain labels come from their ``Labelled``
enums, where they are defined once.
"""

from __future__ import annotations

from typing import Literal

from fastapi import Request

from chengyun.domain.access import Role
from chengyun.domain.cases import Action, CaseStatus, Channel, EscalationLevel, RejectReason
from chengyun.domain.forces import Department, Post, Shift, TeamType
from chengyun.domain.labels import Labelled
from chengyun.domain.sla import Light
from chengyun.domain.taxonomy import Stage, Urgency

Language = Literal["zh", "en"]
LANGUAGES: tuple[Language, ...] = ("zh", "en")
DEFAULT: Language = "zh"
COOKIE = "chengyun_lang"
HTML_LANG: dict[Language, str] = {"zh": "zh-CN", "en": "en"}

WORDS: dict[str, tuple[str, str]] = {
    # the frame
    "brand": ("城运", "CY"),
    "command_centre": ("城运中心", "Command centre"),
    "subtitle": ("一网统管 · 城市运行", "Unified city operations"),
    "signed_in": ("当前用户", "Signed in"),
    "sign_out": ("退出登录", "Sign out"),
    "language": ("语言", "Language"),
    "server_time": ("系统时间", "System time"),
    "shift": ("班次", "Shift"),
    "skip_to_queue": ("跳到待办队列", "Skip to the queue"),
    "skip_to_content": ("跳到正文", "Skip to the content"),
    # the map
    "map": ("实时地图", "Live map"),
    "map_label": (
        "辖区地图：责任网格、管理单元与在办案件",
        "Map of the territory: grids, units and open cases",
    ),
    "layer_grids": ("责任网格", "Grids"),
    "layer_units": ("管理单元", "Management units"),
    "layer_streets": ("街面区域", "Street frontage"),
    "layer_waterway": ("水系", "Waterway"),
    "layer_cases": ("在办案件", "Open cases"),
    "legend": ("图例", "Legend"),
    "key_unit": ("重点单元", "Key unit"),
    "not_live": ("未上线", "Not live yet"),
    "live_from": ("上线日期", "Live from"),
    "no_position": ("无坐标", "No position"),
    # filters
    "filters": ("筛选", "Filters"),
    "filter_grid": ("责任网格", "Grid"),
    "filter_channel": ("来源渠道", "Channel"),
    "filter_subclass": ("案件小类", "Subclass"),
    "filter_status": ("状态", "Status"),
    "all": ("全部", "All"),
    "all_open": ("全部在办", "All open"),
    "reset": ("重置", "Reset"),
    "refresh": ("刷新", "Refresh"),
    "updated": ("更新于", "Updated"),
    "loading": ("加载中…", "Loading…"),
    "load_failed": ("加载失败", "Could not load"),
    # situation
    "situation": ("态势", "Situation"),
    "open_cases": ("在办", "Open"),
    "urgent": ("紧急", "Urgent"),
    "unassigned": ("无人值守", "No one on duty"),
    "by_grid": ("各网格在办案件（按灯色）", "Open cases per grid, by light"),
    # queues
    "queue": ("待办队列", "Queue"),
    "queue_hint": ("在办案件，按最近时限排序", "Open cases, nearest deadline first"),
    "unassigned_queue": ("无人值守队列", "No one on duty"),
    "unassigned_hint": (
        "派遣时无人在岗的案件，须人工派遣",
        "Cases nobody was on duty for: dispatch them by hand",
    ),
    "empty_queue": ("暂无在办案件", "No open cases"),
    "empty_unassigned": ("暂无待人工派遣的案件", "No case is waiting for a person"),
    "more_cases": ("另有 {n} 件未显示，请缩小筛选范围", "{n} more not shown: narrow the filters"),
    "overdue": ("超时", "Overdue"),
    "left": ("剩余", "left"),
    "due": ("时限", "Due"),
    "show_on_map": ("地图定位", "Show on map"),
    "locate": ("定位", "Locate"),
    "open_case": ("查看案件", "Open case"),
    # duty
    "duty": ("值班", "On duty"),
    "duty_commander": ("值班指挥长", "Duty commander"),
    "operators": ("城运中心值班员", "Operators"),
    "grid_chiefs": ("网格长", "Grid chief"),
    "deputies": ("副网格长", "Deputy grid chiefs"),
    "station_chiefs": ("工作站站长", "Station chief"),
    "street_forces": ("街面在岗", "Street forces on duty"),
    "unit_forces": ("单元在岗", "Unit forces on duty"),
    "departments": ("职能部门", "Departments"),
    "standby": ("夜间备勤", "Night standby"),
    "nobody": ("无人", "Nobody"),
    "people": ("人", "people"),
    # one case
    "case": ("案件", "Case"),
    "back": ("返回城运中心", "Back to the command centre"),
    "summary": ("概况", "Summary"),
    "number": ("案件编号", "Number"),
    "status": ("状态", "Status"),
    "urgency": ("紧急程度", "Urgency"),
    "light": ("灯色", "Light"),
    "channel": ("来源渠道", "Channel"),
    "subclass": ("案件小类", "Subclass"),
    "grid": ("责任网格", "Grid"),
    "unit": ("管理单元", "Unit"),
    "areas": ("区域", "Areas"),
    "address": ("地址", "Address"),
    "description": ("描述", "Description"),
    "reporter": ("上报人", "Reporter"),
    "reported_at": ("上报时间", "Reported"),
    "assignee": ("处置人", "Assignee"),
    "escalation": ("升级层级", "Escalated to"),
    "dispatch_reason": ("派遣依据", "Dispatched because"),
    "pre_launch": ("网格上线前上报，未派遣", "Reported before the grid went live: not dispatched"),
    "position": ("位置", "Position"),
    "timeline": ("办理经过", "Timeline"),
    "actor": ("操作人", "By"),
    "photos": ("照片", "Photos"),
    "photo": ("照片", "Photo"),
    "stages": ("各环节时限", "Deadlines per stage"),
    "stage": ("环节", "Stage"),
    "started": ("开始", "Started"),
    "warn_at": ("预警", "Warning"),
    "done": ("完成", "Done"),
    "open_stage": ("进行中", "Open"),
    "notifications": ("通知记录", "Notifications"),
    "recipient": ("接收人", "To"),
    "topic": ("内容", "Topic"),
    "created": ("生成", "Created"),
    "delivered": ("送达", "Delivered"),
    "pending": ("待发送", "Pending"),
    "failed": ("发送失败", "Failed"),
    "attempts": ("尝试次数", "Attempts"),
    "none_yet": ("暂无", "None yet"),
    "actions": ("办理", "Actions"),
    "no_actions": ("当前没有您可办理的操作", "There is nothing you may do on this case now"),
    "submit": ("提交", "Submit"),
    "cancel": ("取消", "Cancel"),
    "done_ok": ("已办理", "Done"),
    "error": ("未能办理", "Not done"),
    "working": ("提交中…", "Sending…"),
    "colon": ("：", ": "),
    "allowed_now": ("现在可办理", "Allowed now"),
    "sign_in_again": ("登录已失效，请重新登录", "Your session ended: sign in again"),
    "both_coordinates": ("经纬度须同时填写", "Give both longitude and latitude"),
    "required": ("必填", "required"),
    "optional": ("选填", "optional"),
    "yes": ("是", "Yes"),
    "no": ("否", "No"),
    # action parameters
    "p_note": ("备注", "Note"),
    "p_reason": ("原因", "Reason"),
    "p_reason_kind": ("不予立案类型", "Why it is rejected"),
    "p_assignee": (
        "处置人编号（留空按值班表自动派遣）",
        "Assignee number (empty: by the duty table)",
    ),
    "p_passed": ("核查结果：通过？", "Check passed?"),
    "p_approved": ("同意？", "Approved?"),
    "p_minutes": ("延期分钟数", "Extension in minutes"),
    "p_into": ("合并到案件（ID）", "Merge into case (id)"),
    "p_lead": ("牵头部门", "Lead department"),
    "p_partners": ("协办部门", "Partner departments"),
    "p_department": ("本部门", "Your department"),
    "p_decision": ("会商决定", "Decision"),
    "p_follow_ups": ("后续事项（每行一项）", "Follow-ups (one per line)"),
    "p_consult": ("会商议题", "Topic for the consultation"),
    "p_photos": ("照片", "Photos"),
    "p_lng": ("经度（WGS-84）", "Longitude (WGS-84)"),
    "p_lat": ("纬度（WGS-84）", "Latitude (WGS-84)"),
    # errors
    "not_found": ("找不到该案件", "No such case"),
    "forbidden": ("无权查看", "Not allowed"),
}


#: What a notification is about (the outbox's topics).
TOPICS: dict[str, tuple[str, str]] = {
    "task": ("派单任务", "New task"),
    "unassigned": ("无人在岗，待人工派遣", "No one on duty: dispatch by hand"),
    "to_register": ("待立案", "Waiting to be registered"),
    "sample_check": ("自处理抽查", "Sample check of a self-handled case"),
    "returned": ("退单", "Returned"),
    "check": ("待核查", "To check"),
    "rework": ("核查未通过，返工", "Check failed: rework"),
    "approval": ("待审批", "Waiting for approval"),
    "warning": ("时限预警", "Deadline warning"),
    "escalation": ("超时升级", "Escalated: overdue"),
    "district": ("报区平台", "To the district platform"),
    # pages added with the integrations: each page's words in a block below its marker
    # integrations: phone pages (/m/)
    # integrations: citizen page (/c/)
    # integrations: other pages (admin, dead letters, hotline, cameras)
}


def words(lang: Language) -> dict[str, str]:
    """Every word of the pages in one language."""
    index = LANGUAGES.index(lang)
    return {key: pair[index] for key, pair in WORDS.items()}


LABELLED: dict[str, type[Labelled]] = {
    "status": CaseStatus,
    "channel": Channel,
    "action": Action,
    "light": Light,
    "stage": Stage,
    "urgency": Urgency,
    "role": Role,
    "shift": Shift,
    "department": Department,
    "team": TeamType,
    "post": Post,
    "escalation": EscalationLevel,
    "reject_reason": RejectReason,
}


def labels(lang: Language) -> dict[str, dict[str, str]]:
    """The domain's labels in one language: ``labels("en")["status"]["dispatched"]``."""
    index = LANGUAGES.index(lang)
    found = {
        name: {m.value: (m.zh if lang == "zh" else m.en) for m in enum}
        for name, enum in LABELLED.items()
    }
    found["topic"] = {topic: pair[index] for topic, pair in TOPICS.items()}
    return found


def language(request: Request) -> Language:
    """``?lang=`` if given, else the remembered choice, else Chinese."""
    for wanted in (request.query_params.get("lang"), request.cookies.get(COOKIE)):
        if wanted in LANGUAGES:
            return "en" if wanted == "en" else "zh"
    return DEFAULT
