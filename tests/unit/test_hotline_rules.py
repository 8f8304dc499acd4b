"""The 12345 order's own rules: signing starts the clock, first contact within one
working day, the result by the deadline, call-backs, warning orders, returns."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from chengyun.adapters.calendar import china_calendar
from chengyun.domain.errors import Conflict, InvalidInput
from chengyun.domain.hotline import (
    HotlineOrder,
    OrderAction,
    OrderFlag,
    OrderStatus,
    allowed_actions,
    apply,
    flags,
    order_problems,
    receive,
)
from chengyun.domain.working_time import CHINA_TZ, WorkingCalendar

CAL = china_calendar()


def at(y: int, m: int, d: int, hh: int, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=CHINA_TZ)


def new(**changes: object) -> HotlineOrder:
    fields: dict[str, object] = {
        "number": "HL001",
        "received_at": at(2020, 6, 24, 9),
        "deadline": at(2020, 6, 30, 17),
        "subclass": "E0507",
        "address": "城中路35号",
        "content": "堆物",
    }
    fields.update(changes)
    order = HotlineOrder(**fields)  # type: ignore[arg-type]
    receive(order, "hotline")
    return order


def test_signing_starts_the_one_working_day_contact_clock() -> None:
    order = new()
    apply(order, OrderAction.SIGN, at(2020, 6, 24, 10), "YPC-ZB01", CAL)
    assert order.status is OrderStatus.SIGNED
    assert order.contact_due_at == at(2020, 6, 28, 10)  # 25-27 June: Dragon Boat holidays
    assert flags(order, at(2020, 6, 28, 9, 59)) == frozenset()
    assert flags(order, at(2020, 6, 28, 10, 1)) == {OrderFlag.CONTACT_OVERDUE}


def test_a_weekend_does_not_count_on_a_plain_calendar() -> None:
    calendar = WorkingCalendar()  # Monday to Friday only
    order = new(received_at=at(2099, 1, 2, 9), deadline=at(2099, 1, 20, 17))
    apply(order, OrderAction.SIGN, at(2099, 1, 2, 15), "op", calendar)  # a Friday
    assert date(2099, 1, 2).weekday() == 4
    assert order.contact_due_at == at(2099, 1, 5, 15)  # Monday


def test_contact_late_stays_flagged_and_result_by_the_deadline() -> None:
    order = new()
    apply(order, OrderAction.SIGN, at(2020, 6, 24, 10), "op", CAL)
    apply(order, OrderAction.CONTACT, at(2020, 6, 29, 9), "op", CAL, {"note": "电话"})
    assert order.contact_late
    assert flags(order, at(2020, 6, 29, 10)) == {OrderFlag.CONTACT_OVERDUE}
    assert OrderFlag.HANDLE_OVERDUE in flags(order, at(2020, 6, 30, 17, 1))
    apply(order, OrderAction.RESULT, at(2020, 6, 30, 18), "op", CAL, {"result": "已清理"})
    assert order.handle_late and order.status is OrderStatus.REPLIED
    assert OrderFlag.HANDLE_OVERDUE in flags(order, at(2020, 7, 1, 9))


def test_the_result_needs_contact_first_and_text() -> None:
    order = new()
    apply(order, OrderAction.SIGN, at(2020, 6, 24, 10), "op", CAL)
    with pytest.raises(Conflict) as refused:
        apply(order, OrderAction.RESULT, at(2020, 6, 24, 11), "op", CAL, {"result": "x"})
    assert "contact" in refused.value.problems[0].message
    apply(order, OrderAction.CONTACT, at(2020, 6, 24, 11), "op", CAL)
    with pytest.raises(InvalidInput) as missing:
        apply(order, OrderAction.RESULT, at(2020, 6, 24, 12), "op", CAL, {"result": "  "})
    assert missing.value.problems[0].location == ("result",)
    assert order.status is OrderStatus.CONTACTED  # a refused step changes nothing


def test_a_dissatisfied_callback_makes_a_warning_order_to_handle_again() -> None:
    order = new()
    apply(order, OrderAction.SIGN, at(2020, 6, 24, 10), "op", CAL)
    apply(order, OrderAction.CONTACT, at(2020, 6, 24, 11), "op", CAL)
    apply(order, OrderAction.RESULT, at(2020, 6, 28, 11), "op", CAL, {"result": "已清理"})
    apply(
        order,
        OrderAction.CALLBACK,
        at(2020, 6, 29, 10),
        "hotline",
        CAL,
        {"satisfied": False, "callback_id": "CB1"},
    )
    assert order.status is OrderStatus.WARNING and order.warnings == 1
    assert order.handle_due_at == at(2020, 6, 29, 10) + timedelta(days=6, hours=8)
    assert allowed_actions(order) == [OrderAction.CONTACT]
    repeat = apply(
        order,
        OrderAction.CALLBACK,
        at(2020, 6, 29, 11),
        "hotline",
        CAL,
        {"satisfied": False, "callback_id": "CB1"},
    )
    assert repeat.data["callback_id"] == "CB1" and order.warnings == 1
    apply(order, OrderAction.CONTACT, at(2020, 6, 29, 12), "op", CAL)
    apply(order, OrderAction.RESULT, at(2020, 6, 30, 12), "op", CAL, {"result": "彻底清理"})
    apply(order, OrderAction.CALLBACK, at(2020, 7, 1, 9), "hotline", CAL, {"satisfied": True})
    assert order.status is OrderStatus.CLOSED
    assert allowed_actions(order) == []


def test_a_warning_order_may_bring_its_own_deadline() -> None:
    order = new()
    for action, moment, params in (
        (OrderAction.SIGN, at(2020, 6, 24, 10), {}),
        (OrderAction.CONTACT, at(2020, 6, 24, 11), {}),
        (OrderAction.RESULT, at(2020, 6, 24, 12), {"result": "ok"}),
    ):
        apply(order, action, moment, "op", CAL, params)
    with pytest.raises(InvalidInput):
        apply(
            order,
            OrderAction.CALLBACK,
            at(2020, 6, 29, 10),
            "hotline",
            CAL,
            {"satisfied": False, "deadline": at(2020, 6, 1, 10)},
        )
    assert order.status is OrderStatus.REPLIED and order.callbacks == ()
    apply(
        order,
        OrderAction.CALLBACK,
        at(2020, 6, 29, 10),
        "hotline",
        CAL,
        {"satisfied": False, "deadline": at(2020, 7, 2, 17)},
    )
    assert order.handle_due_at == at(2020, 7, 2, 17)


def test_returning_needs_a_reason_and_ends_the_order() -> None:
    order = new()
    with pytest.raises(InvalidInput) as missing:
        apply(order, OrderAction.RETURN_, at(2020, 6, 24, 10), "op", CAL, {"reason": ""})
    assert missing.value.problems[0].location == ("reason",)
    apply(order, OrderAction.RETURN_, at(2020, 6, 24, 10), "op", CAL, {"reason": "非本辖区"})
    assert order.status is OrderStatus.RETURNED and order.return_reason == "非本辖区"
    assert flags(order, at(2021, 1, 1, 0)) == frozenset()
    with pytest.raises(Conflict):
        apply(order, OrderAction.SIGN, at(2020, 6, 24, 11), "op", CAL)


def test_steps_cannot_go_back_in_time() -> None:
    order = new()
    apply(order, OrderAction.SIGN, at(2020, 6, 24, 10), "op", CAL)
    with pytest.raises(InvalidInput):
        apply(order, OrderAction.CONTACT, at(2020, 6, 24, 9), "op", CAL)


def test_incoming_orders_are_checked() -> None:
    assert order_problems(new()) == []
    bad = HotlineOrder(
        number="has space",
        received_at=at(2020, 6, 24, 9),
        deadline=at(2020, 6, 24, 8),
        content=" ",
    )
    where = {p.location[0] for p in order_problems(bad)}
    assert where == {"order_number", "deadline", "content", "address"}
    naive = HotlineOrder(
        number="N1",
        received_at=datetime(2020, 6, 24, 9),
        deadline=at(2020, 6, 25, 9),
        content="x",
        address="城中路",
    )
    assert {p.location[0] for p in order_problems(naive)} == {"received_at"}
