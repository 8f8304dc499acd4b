"""12345 hotline work orders (12345市民服务热线工单) and their own rules.

An order arrives from the hotline with its number, deadline and caller. Signing for it
(签收) starts its clock; the caller must be contacted first (先行联系) within one
working day of signing; the result is reported back (反馈办理结果) by the order's
deadline; the hotline's call-back (回访) closes it when the caller is satisfied, and
turns it into a warning order (预警工单) that must be handled again when not. An order
that is not ours is returned (退单), never without a reason. Pure: time is passed in.

State table (who acts is the command centre's hotline desk, or the hotline itself for
the call-back)::

    from                         action (parameters)              to
    received                     sign                             signed
    signed, warning              contact (note)                   contacted
    contacted                    result (result)                  replied
    replied                      callback (satisfied=True)        closed
    replied                      callback (satisfied=False,       warning
                                           deadline?)
    received, signed, contacted  return (reason)                  returned
    closed, returned: nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chengyun.domain.errors import Conflict, InvalidInput, Problem
from chengyun.domain.labels import Labelled
from chengyun.domain.sla import deadline_for
from chengyun.domain.taxonomy import TimeLimit, TimeUnit
from chengyun.domain.working_time import WorkingCalendar, as_china_time

FIRST_CONTACT = TimeLimit(1, TimeUnit.WORKING_DAYS)
"""First contact with the caller (先行联系): within 1 working day of signing."""

MAX_TEXT = 2000
#: The years an order's times may fall in.
EARLIEST, LATEST = 2000, 2100


class OrderStatus(Labelled):
    """Where a hotline order stands (工单状态)."""

    RECEIVED = "received", "待签收", "Received", "#757575"
    SIGNED = "signed", "已签收", "Signed", "#1565c0"
    CONTACTED = "contacted", "已先行联系", "Caller contacted", "#0277bd"
    REPLIED = "replied", "已反馈", "Result reported", "#2e7d32"
    WARNING = "warning", "预警重办", "Warning order: handle again", "#c62828"
    CLOSED = "closed", "已办结", "Closed", "#1b5e20"
    RETURNED = "returned", "已退单", "Returned", "#9e9e9e"


FINAL_STATUSES = frozenset({OrderStatus.CLOSED, OrderStatus.RETURNED})


class OrderAction(Labelled):
    """What can be done to a hotline order; each occurrence is recorded."""

    RECEIVE = "receive", "接收", "Receive"
    SIGN = "sign", "签收", "Sign for"
    CONTACT = "contact", "先行联系", "First contact with the caller"
    RESULT = "result", "反馈结果", "Report the result"
    CALLBACK = "callback", "回访", "Call-back"
    RETURN_ = "return", "退单", "Return"


class Placement(Labelled):
    """How an order found its place on the map (定位)."""

    COORDINATES = "coordinates", "工单坐标", "Coordinates of the order"
    GAZETTEER = "gazetteer", "地名地址库", "Address gazetteer"
    PENDING = "pending", "待人工定位", "Waiting for placement"
    PLACED = "placed", "人工定位", "Placed by an operator"


class OrderFlag(Labelled):
    """An order's lateness (超时) against its own rules."""

    CONTACT_OVERDUE = "contact_overdue", "先行联系超时", "First contact overdue"
    HANDLE_OVERDUE = "handle_overdue", "办理超时", "Handling overdue"


_FROM: Mapping[OrderAction, frozenset[OrderStatus]] = {
    OrderAction.SIGN: frozenset({OrderStatus.RECEIVED}),
    OrderAction.CONTACT: frozenset({OrderStatus.SIGNED, OrderStatus.WARNING}),
    OrderAction.RESULT: frozenset({OrderStatus.CONTACTED}),
    OrderAction.CALLBACK: frozenset({OrderStatus.REPLIED}),
    OrderAction.RETURN_: frozenset(
        {OrderStatus.RECEIVED, OrderStatus.SIGNED, OrderStatus.CONTACTED}
    ),
}


@dataclass(frozen=True)
class OrderEvent:
    """One recorded step of an order: what, when, by whom, with its note or reason."""

    action: OrderAction
    at: datetime
    actor: str
    from_status: OrderStatus | None
    to_status: OrderStatus
    note: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(kw_only=True)
class HotlineOrder:
    """A 12345 work order (工单) as the sub-district keeps it.

    ``deadline`` is the hotline's deadline for handling (办理时限); a warning order gets a
    new one in ``handle_due_at``. ``contact_due_at`` is set when the order is signed.
    """

    number: str
    received_at: datetime
    deadline: datetime
    urgent: bool = False
    category: str = ""
    subclass: str = ""
    address: str = ""
    position: tuple[float, float] | None = None
    caller_name: str = ""
    caller_phone: str = ""
    content: str = ""
    status: OrderStatus = OrderStatus.RECEIVED
    signed_at: datetime | None = None
    contact_due_at: datetime | None = None
    contacted_at: datetime | None = None
    handle_due_at: datetime | None = None
    replied_at: datetime | None = None
    result: str = ""
    return_reason: str = ""
    warnings: int = 0
    callbacks: tuple[str, ...] = ()
    """Ids of the hotline's call-backs already taken (a repeated one changes nothing)."""
    contact_late: bool = False
    handle_late: bool = False
    events: list[OrderEvent] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.handle_due_at = self.handle_due_at or self.deadline


def order_problems(order: HotlineOrder) -> list[Problem]:
    """What every incoming order must satisfy, from the API or a spreadsheet."""
    problems: list[Problem] = []
    number = order.number.strip()
    if not number or len(number) > 64 or any(c.isspace() for c in number) or "/" in number:
        problems.append(
            Problem(
                ("order_number",),
                "工单编号须为1-64个字符，不含空格和斜杠 / 1-64 characters, no spaces or slashes",
                "format",
            )
        )
    aware = True
    for name, value in (("received_at", order.received_at), ("deadline", order.deadline)):
        if value.tzinfo is None or value.utcoffset() is None:
            aware = False
            problems.append(
                Problem(
                    (name,),
                    "时间须带时区，如 2020-06-24T09:30:00+08:00 / add a UTC offset",
                    "timezone",
                )
            )
        elif not EARLIEST <= value.year < LATEST:
            aware = False
            problems.append(
                Problem(
                    (name,),
                    f"时间须在{EARLIEST}至{LATEST}年之间 / a year from {EARLIEST} to {LATEST - 1}",
                    "range",
                )
            )
    if aware and order.deadline <= order.received_at:
        problems.append(
            Problem(
                ("deadline",),
                "办理时限须晚于接收时间 / the deadline must be after received_at",
                "order",
            )
        )
    if not order.content.strip():
        problems.append(Problem(("content",), "工单内容不能为空 / content is required", "missing"))
    if not order.address.strip() and order.position is None:
        problems.append(
            Problem(
                ("address",),
                "须给出地址或坐标 / give the address text, the coordinates, or both",
                "missing",
            )
        )
    return problems


def _refused(order: HotlineOrder, action: OrderAction) -> Conflict:
    allowed = [a.value for a, sources in _FROM.items() if order.status in sources]
    return Conflict(
        f"工单{order.status.zh}，不能{action.zh} / the order is {order.status.en.lower()}: "
        f"cannot {action.en.lower()}",
        [
            Problem(
                ("action",),
                f"now allowed: {', '.join(allowed) or 'nothing'}",
                "not_allowed",
            )
        ],
    )


def allowed_actions(order: HotlineOrder) -> list[OrderAction]:
    return [a for a, sources in _FROM.items() if order.status in sources]


def _text(params: Mapping[str, Any], name: str, required: bool, what: str) -> str:
    value = params.get(name)
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidInput(
            f"{what}须为文字 / {name} must be text",
            [Problem((name,), "a string", "type")],
        )
    value = value.strip()
    if required and not value:
        raise InvalidInput(
            f"须填写{what} / {name} is required",
            [Problem((name,), f"give the {name.replace('_', ' ')}", "missing")],
        )
    if len(value) > MAX_TEXT:
        raise InvalidInput(
            f"{what}过长 / {name} is too long",
            [Problem((name,), f"at most {MAX_TEXT} characters", "too_long")],
        )
    return value


def _record(
    order: HotlineOrder,
    action: OrderAction,
    at: datetime,
    actor: str,
    to: OrderStatus,
    note: str = "",
    **data: Any,
) -> OrderEvent:
    event = OrderEvent(action, at, actor, order.status, to, note, data)
    order.status = to
    order.events.append(event)
    return event


def receive(order: HotlineOrder, actor: str) -> OrderEvent:
    """Record the order's arrival (at its ``received_at``)."""
    if order.events:
        raise Conflict("工单已接收 / the order was already received")
    event = OrderEvent(OrderAction.RECEIVE, order.received_at, actor, None, OrderStatus.RECEIVED)
    order.events.append(event)
    return event


def apply(
    order: HotlineOrder,
    action: OrderAction,
    at: datetime,
    actor: str,
    calendar: WorkingCalendar,
    params: Mapping[str, Any] | None = None,
) -> OrderEvent:
    """Take ``action`` on ``order`` at ``at``; a refused action changes nothing."""
    params = params or {}
    at = as_china_time(at)
    if action is OrderAction.RECEIVE:
        return receive(order, actor)
    if action is OrderAction.CALLBACK:
        callback_id = params.get("callback_id")
        if isinstance(callback_id, str) and callback_id and callback_id in order.callbacks:
            return next(
                e for e in reversed(order.events) if e.data.get("callback_id") == callback_id
            )
    if order.status not in _FROM[action]:
        raise _refused(order, action)
    if order.events and at < order.events[-1].at:
        raise InvalidInput(
            "时间早于上一步 / this step is earlier than the previous one",
            [
                Problem(
                    ("at",),
                    f"{at.isoformat()} is before {order.events[-1].at.isoformat()}",
                    "order",
                )
            ],
        )
    if action is OrderAction.SIGN:
        order.signed_at = at
        order.contact_due_at = deadline_for(at, FIRST_CONTACT, calendar)
        return _record(
            order, action, at, actor, OrderStatus.SIGNED, _text(params, "note", False, "备注")
        )
    if action is OrderAction.CONTACT:
        note = _text(params, "note", False, "联系情况")
        if order.contacted_at is None:
            order.contacted_at = at
            order.contact_late = order.contact_due_at is not None and at > order.contact_due_at
        return _record(order, action, at, actor, OrderStatus.CONTACTED, note)
    if action is OrderAction.RESULT:
        result = _text(params, "result", True, "办理结果")
        order.result = result
        order.replied_at = at
        if order.handle_due_at is not None and at > order.handle_due_at:
            order.handle_late = True
        return _record(order, action, at, actor, OrderStatus.REPLIED, result)
    if action is OrderAction.CALLBACK:
        satisfied = params.get("satisfied")
        if not isinstance(satisfied, bool):
            raise InvalidInput(
                "须说明市民是否满意 / say whether the caller is satisfied",
                [Problem(("satisfied",), "true or false", "missing")],
            )
        note = _text(params, "note", False, "回访情况")
        due = params.get("deadline")
        if due is not None and (
            not isinstance(due, datetime) or due.tzinfo is None or due <= at or due.year >= LATEST
        ):
            raise InvalidInput(
                "预警工单时限须为带时区且晚于回访的时间 / the warning order's deadline must be "
                "a time with offset, after the call-back",
                [Problem(("deadline",), "e.g. 2020-06-30T17:00:00+08:00", "invalid")],
            )
        data: dict[str, Any] = {"satisfied": satisfied}
        callback_id = params.get("callback_id")
        if isinstance(callback_id, str) and callback_id:
            order.callbacks = (*order.callbacks, callback_id)
            data["callback_id"] = callback_id
        if satisfied:
            return _record(order, action, at, actor, OrderStatus.CLOSED, note, **data)
        # handled again by the hotline's new deadline, or within the span it gave at first
        new_due = (
            as_china_time(due) if due is not None else at + (order.deadline - order.received_at)
        )
        order.warnings += 1
        order.handle_due_at = new_due
        order.replied_at = None
        data["handle_due_at"] = new_due
        return _record(order, action, at, actor, OrderStatus.WARNING, note, **data)
    if action is OrderAction.RETURN_:
        reason = _text(params, "reason", True, "退单理由")
        order.return_reason = reason
        return _record(order, action, at, actor, OrderStatus.RETURNED, reason)
    raise _refused(order, action)  # pragma: no cover - every action is handled above


def flags(order: HotlineOrder, now: datetime) -> frozenset[OrderFlag]:
    """The order's lateness at ``now``: contact or handling past its due time (whether
    still open, or done late)."""
    at = as_china_time(now)
    found: set[OrderFlag] = set()
    if order.status is OrderStatus.RETURNED:
        return frozenset()
    if order.contact_late or (
        order.contacted_at is None
        and order.contact_due_at is not None
        and at > order.contact_due_at
    ):
        found.add(OrderFlag.CONTACT_OVERDUE)
    waiting = order.status not in FINAL_STATUSES and order.replied_at is None
    if order.handle_late or (
        waiting and order.handle_due_at is not None and at > order.handle_due_at
    ):
        found.add(OrderFlag.HANDLE_OVERDUE)
    return frozenset(found)
