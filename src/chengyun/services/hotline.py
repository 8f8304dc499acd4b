"""12345 hotline use cases: receive an order, place it, follow its own rules, answer the
hotline through the outbox.

An order is received idempotently on its number: the same content again gives the same
answer, other content under a taken number is refused. A placed order (its coordinates,
the gazetteer, or an operator on the map) becomes a case through ``report_case`` with the
key ``hotline:<number>``; an order repeating a case the platform already held is merged
into that case, which keeps its first discovery. An order nobody can place waits in the
placement queue of the command centre.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from chengyun.domain.cases import (
    SYSTEM_ACTOR,
    Action,
    Actor,
    CaseStatus,
    Channel,
)
from chengyun.domain.errors import Conflict, DomainError, InvalidInput, NotFound, Problem
from chengyun.domain.hotline import (
    HotlineOrder,
    OrderAction,
    OrderStatus,
    Placement,
    apply,
    order_problems,
    receive,
)
from chengyun.domain.taxonomy import Taxonomy
from chengyun.domain.working_time import as_china_time
from chengyun.services.cases import (
    COMMAND_CENTRE,
    CaseEnvironment,
    ReportCommand,
    act,
    report_case,
    taxonomy_in_force,
)
from chengyun.services.gazetteer import MIN_CONFIDENCE, best_match
from chengyun.services.hotline_store import DuplicateOrder, OrderFilter, OrderRecord
from chengyun.services.records import DuplicateKey, OutboxMessage
from chengyun.services.unit_of_work import UnitOfWork

#: The recipient of everything the sub-district tells the hotline.
HOTLINE = "hotline"
#: Outbox topics towards the hotline (routed by the part before the dot).
TOPICS: Mapping[OrderAction, str] = {
    OrderAction.SIGN: "hotline.signed",
    OrderAction.CONTACT: "hotline.contacted",
    OrderAction.RESULT: "hotline.result",
    OrderAction.RETURN_: "hotline.returned",
}

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class OrderIn:
    """An order as the hotline sends it (positions already in WGS-84)."""

    number: str
    received_at: datetime
    deadline: datetime
    content: str
    urgent: bool = False
    category: str = ""
    subclass: str = ""
    address: str = ""
    lng: float | None = None
    lat: float | None = None
    caller_name: str = ""
    caller_phone: str = ""

    def content_hash(self, subclass: str) -> str:
        """The same order sent twice hashes the same (times compared as instants; the
        category read as the taxonomy ``subclass`` it resolved to)."""
        body = {
            "number": self.number.strip(),
            "received_at": _instant(self.received_at),
            "deadline": _instant(self.deadline),
            "content": self.content.strip(),
            "urgent": self.urgent,
            "category": self.category.strip(),
            "subclass": subclass,
            "address": self.address.strip(),
            "lng": None if self.lng is None else round(self.lng, 7),
            "lat": None if self.lat is None else round(self.lat, 7),
            "caller_name": self.caller_name.strip(),
            "caller_phone": self.caller_phone.strip(),
        }
        encoded = json.dumps(body, ensure_ascii=False, sort_keys=True).encode()
        return hashlib.sha256(encoded).hexdigest()


def _instant(at: datetime) -> str:
    """``at`` as an instant in China time; as given when it has no offset or cannot be
    converted (such orders are refused by the checks anyway)."""
    try:
        return as_china_time(at).isoformat()
    except (ValueError, OverflowError):
        return at.isoformat()


@dataclass(frozen=True)
class Received:
    record: OrderRecord
    created: bool


# --- checking an incoming order ---------------------------------------------------------------


def subclass_for(taxonomy: Taxonomy, subclass: str, category: str) -> str | None:
    """The taxonomy subclass of an order: its code if given, else the subclass whose
    Chinese or English name the hotline's category names (the most specific first)."""
    code = subclass.strip().upper()
    if code:
        return code if taxonomy.get(code) is not None else None
    text = category.strip().casefold()
    if not text:
        return None
    for rule in taxonomy:
        if text in (rule.code.casefold(), rule.name_zh.casefold(), rule.name_en.casefold()):
            return rule.code
    named = [r for r in taxonomy if r.name_zh and r.name_zh.casefold() in text]
    if named:
        return max(named, key=lambda r: len(r.name_zh)).code
    return None


def order_from(given: OrderIn, taxonomy: Taxonomy) -> tuple[HotlineOrder, list[Problem]]:
    """The domain order of an incoming one, and what is wrong with it."""
    position = None
    problems: list[Problem] = []
    if (given.lng is None) != (given.lat is None):
        problems.append(
            Problem(("position",), "经纬度须同时给出 / give both lng and lat", "missing")
        )
    elif given.lng is not None and given.lat is not None:
        if not (
            math.isfinite(given.lng)
            and math.isfinite(given.lat)
            and 73 <= given.lng <= 136
            and 3 <= given.lat <= 54
        ):
            problems.append(
                Problem(
                    ("position",),
                    "坐标须为中国境内的经纬度 / a lng/lat inside China",
                    "position",
                )
            )
        else:
            position = (given.lng, given.lat)
    code = subclass_for(taxonomy, given.subclass, given.category)
    if code is None:
        where = "subclass" if given.subclass.strip() else "category"
        problems.append(
            Problem(
                (where,),
                f"{(given.subclass or given.category)!r} 不在案件分类中，请给出小类代码（如 E0507）"
                " / not in the taxonomy: give a subclass code such as E0507, see GET "
                "/api/v1/taxonomy",
                "unknown",
            )
        )
    order = HotlineOrder(
        number=given.number.strip(),
        received_at=given.received_at,
        deadline=given.deadline,
        urgent=given.urgent,
        category=given.category.strip(),
        subclass=code or "",
        address=given.address.strip(),
        position=position,
        caller_name=given.caller_name.strip(),
        caller_phone=given.caller_phone.strip(),
        content=given.content.strip(),
    )
    problems += order_problems(order)
    return order, problems


def _not_in_future(env: CaseEnvironment, given: OrderIn) -> list[Problem]:
    if given.received_at.tzinfo is None:
        return []
    now = env.clock.now()
    if given.received_at > now + env.policy.max_future_skew:
        return [
            Problem(
                ("received_at",),
                f"接收时间晚于当前时间 / {given.received_at.isoformat()} is later than now "
                f"({as_china_time(now).isoformat()})",
                "future",
            )
        ]
    return []


def order_hash(given: OrderIn, taxonomy: Taxonomy) -> str:
    code = subclass_for(taxonomy, given.subclass, given.category)
    return given.content_hash(code or given.subclass.strip().upper())


def _taken(number: str) -> Conflict:
    return Conflict(
        "工单编号已被另一份内容不同的工单使用 / this order number was already received "
        "with different content",
        [
            Problem(
                ("order_number",),
                f"{number!r} exists: an order's content cannot change under its number",
                "duplicate",
            )
        ],
    )


# --- receiving --------------------------------------------------------------------------------


def receive_order(
    uow: UnitOfWork, env: CaseEnvironment, given: OrderIn, actor: str = HOTLINE
) -> Received:
    """Take in an order from the hotline: store it, place it, and file its case."""
    try:
        received = _store(uow, env, given, actor)
    except DuplicateOrder:  # the same number committed meanwhile: answer as for a repeat
        received = _store(uow, env, given, actor)
    record = received.record
    if record.order.position is not None and record.case_id is None:
        record = _file_case(uow, env, record)
    return Received(record, received.created)


def _store(uow: UnitOfWork, env: CaseEnvironment, given: OrderIn, actor: str) -> Received:
    with uow:
        taxonomy = taxonomy_in_force(uow, env)
        digest = order_hash(given, taxonomy)
        stored = uow.hotline.get(given.number.strip())
        if stored is not None:
            if stored.content_hash != digest:
                raise _taken(given.number.strip())
            return Received(stored, False)
        order, problems = order_from(given, taxonomy)
        problems += _not_in_future(env, given)
        if problems:
            raise InvalidInput("工单有误 / the order is not valid", problems)
        record = _placed(uow, order, digest)
        receive(order, actor)
        now = env.clock.now()
        uow.hotline.add(record, now)
        if record.placement is Placement.PENDING:
            uow.outbox.add(
                OutboxMessage(
                    "placement",
                    COMMAND_CENTRE,
                    {
                        "order_number": order.number,
                        "address": order.address,
                        "suggestion": record.suggestion,
                    },
                ),
                now,
            )
        uow.commit()
    return Received(record, True)


def _placed(uow: UnitOfWork, order: HotlineOrder, digest: str) -> OrderRecord:
    if order.position is not None:
        return OrderRecord(order, digest, Placement.COORDINATES, 1.0)
    guess = best_match(uow, order.address)
    if guess is not None and guess.confidence >= MIN_CONFIDENCE:
        order.position = (guess.lng, guess.lat)
        return OrderRecord(
            order,
            digest,
            Placement.GAZETTEER,
            guess.confidence,
            suggestion=_suggestion(guess),
        )
    return OrderRecord(
        order,
        digest,
        Placement.PENDING,
        None,
        suggestion=_suggestion(guess) if guess else None,
    )


def _suggestion(guess: Any) -> dict[str, Any]:
    return {
        "lng": guess.lng,
        "lat": guess.lat,
        "confidence": guess.confidence,
        "entry_id": guess.entry_id,
        "entry_name": guess.entry_name,
        "kind": guess.kind.value,
        "how": guess.how,
    }


def _file_case(uow: UnitOfWork, env: CaseEnvironment, record: OrderRecord) -> OrderRecord:
    """The order's case: reported through the case engine (idempotent on the order
    number), then merged into the earlier open case it repeats, if there is one."""
    order = record.order
    assert order.position is not None
    lng, lat = order.position
    received = as_china_time(order.received_at)
    with uow.reader() as reader:
        earlier = [
            r
            for r in reader.cases.nearby_open(
                order.subclass,
                lng,
                lat,
                env.policy.duplicate_radius_m,
                received - env.policy.duplicate_window,
            )
            if r.reported_at <= received
        ]
    # a duplicate is merged, so it must not be dispatched first: registration only
    intake = replace(env, policy=replace(env.policy, auto_dispatch_all=False)) if earlier else env
    command = ReportCommand(
        channel=Channel.HOTLINE,
        subclass=order.subclass,
        lng=lng,
        lat=lat,
        description=f"12345工单 {order.number}：{order.content}"[:2000],
        observed_at=order.received_at,
        urgent=order.urgent,
        address=order.address[:200],
        due_at=order.deadline,
        extra={"hotline_order": order.number, "placement": record.placement.value},
    )
    key = f"hotline:{order.number}"
    try:
        reported = report_case(uow, intake, command, key, record.content_hash)
    except DuplicateKey:
        reported = report_case(uow, intake, command, key, record.content_hash)
    case = reported.record.case
    own = reported.record.id
    if case.status in (CaseStatus.REPORTED, CaseStatus.REGISTERED):
        offered = reported.record.extra.get("possible_duplicates") or []
        merged = False
        if offered:
            try:
                act(uow, env, own, Action.MERGE, SYSTEM_ACTOR, {"into": int(offered[0]["id"])})
                merged = True
            except DomainError:
                merged = False  # the earlier case moved on meanwhile: handle this one
        if (
            not merged
            and intake is not env
            and env.policy.auto_dispatch_all
            and case.status is CaseStatus.REGISTERED
            and not case.pre_launch
        ):
            # no one on duty, or dispatched meanwhile (Conflict): it stays in the centre's queue
            with suppress(Conflict):
                act(uow, env, own, Action.DISPATCH, SYSTEM_ACTOR, {})
    with uow.reader() as reader:
        current = reader.cases.get(own)
    carrier = own
    if current is not None and current.case.status is CaseStatus.MERGED:
        carrier = current.case.merged_into or own
    return _link(uow, env, order.number, carrier, own)


def _link(
    uow: UnitOfWork, env: CaseEnvironment, number: str, carrier: int, own: int
) -> OrderRecord:
    """Record the order's case; whoever links first wins (a concurrent save of the order
    is a stale version: load it again)."""
    for attempt in range(3):
        try:
            with uow:
                stored = uow.hotline.get(number, for_update=True)
                assert stored is not None
                if stored.case_id is None:
                    stored.case_id, stored.own_case_id = carrier, own
                    uow.hotline.save(stored, env.clock.now())
                    uow.commit()
                return stored
        except Conflict:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


# --- placing ----------------------------------------------------------------------------------


def place_order(
    uow: UnitOfWork,
    env: CaseEnvironment,
    number: str,
    lng: float,
    lat: float,
    actor: str,
) -> OrderRecord:
    """An operator puts a waiting order on the map (人工定位); its case is filed then."""
    with uow:
        record = uow.hotline.get(number, for_update=True)
        if record is None:
            raise _unknown(number)
        order = record.order
        if record.placement is not Placement.PENDING:
            if order.position == (lng, lat):
                placed = record
            else:
                raise Conflict(
                    "工单已定位 / the order is already placed",
                    [
                        Problem(
                            ("order_number",),
                            f"placed by {record.placement.value}; its case files the position",
                            "placed",
                        )
                    ],
                )
        elif order.status is OrderStatus.RETURNED:
            raise Conflict(
                "工单已退单 / the order was returned",
                [Problem(("order_number",), "a returned order needs no place", "returned")],
            )
        else:
            order.position = (lng, lat)
            record.placement = Placement.PLACED
            record.confidence = None
            record.extra["placed_by"] = actor
            uow.hotline.save(record, env.clock.now())
            uow.commit()
            placed = record
    if placed.case_id is None:
        placed = _file_case(uow, env, placed)
    return placed


# --- the order's own rules --------------------------------------------------------------------


def _unknown(number: str) -> NotFound:
    return NotFound(
        f"没有编号为 {number} 的工单 / no hotline order {number}",
        [Problem(("order_number",), number, "unknown")],
    )


def order_action(
    uow: UnitOfWork,
    env: CaseEnvironment,
    number: str,
    action: OrderAction,
    actor: str,
    params: Mapping[str, Any],
    case_actor: Actor | None = None,
) -> OrderRecord:
    """Take ``action`` on an order: record it and tell the hotline (outbox). A
    dissatisfied call-back makes a warning order and tells the command centre; recorded
    by a person of the centre (``case_actor``), it also reopens the order's closed case
    (the platform itself may not reopen a case: a person of the centre decides)."""
    if action is OrderAction.RECEIVE:
        raise InvalidInput(
            "接收须经 POST /api/v1/hotline/orders / orders are received by POST "
            "/api/v1/hotline/orders",
            [Problem(("action",), "sign, contact, result, callback or return", "invalid")],
        )
    with uow:
        record = uow.hotline.get(number, for_update=True)
        if record is None:
            raise _unknown(number)
        order = record.order
        before = len(order.events)
        now = env.clock.now()
        event = apply(order, action, now, actor, env.calendar, params)
        if len(order.events) == before:  # a repeated call-back: nothing changes
            return record
        uow.hotline.save(record, now)
        topic = TOPICS.get(action)
        payload: dict[str, Any] = {
            "order_number": order.number,
            "action": action.value,
            "status": order.status.value,
            "at": event.at.isoformat(),
            "note": event.note,
        }
        if topic is not None:
            if action is OrderAction.RESULT:
                payload["result"] = order.result
            if action is OrderAction.RETURN_:
                payload["reason"] = order.return_reason
            uow.outbox.add(OutboxMessage(topic, HOTLINE, payload, record.case_id), now)
        if order.status is OrderStatus.WARNING:
            uow.outbox.add(
                OutboxMessage(
                    "warning_order",
                    COMMAND_CENTRE,
                    {**payload, "handle_due_at": as_china_time(order.handle_due_at).isoformat()}
                    if order.handle_due_at
                    else payload,
                    record.case_id,
                ),
                now,
            )
        uow.commit()
    if order.status is OrderStatus.WARNING and record.case_id and case_actor is not None:
        _reopen(uow, env, record, case_actor)
    return record


def _reopen(uow: UnitOfWork, env: CaseEnvironment, record: OrderRecord, actor: Actor) -> None:
    assert record.case_id is not None
    with uow:
        case = uow.cases.get(record.case_id)
    if case is None or case.case.status is not CaseStatus.CLOSED:
        return
    with suppress(DomainError):  # else the centre, told by warning_order, acts itself
        act(
            uow,
            env,
            record.case_id,
            Action.REOPEN,
            actor,
            {
                "reason": f"12345回访不满意，预警工单 {record.order.number} / the caller is "
                "dissatisfied: warning order"
            },
        )


# --- reading ----------------------------------------------------------------------------------


def get_order(uow: UnitOfWork, number: str) -> OrderRecord:
    with uow.reader() as uow:
        record = uow.hotline.get(number)
    if record is None:
        raise _unknown(number)
    return record


def list_orders(
    uow: UnitOfWork, where: OrderFilter, limit: int = 50, offset: int = 0
) -> tuple[int, list[OrderRecord]]:
    with uow.reader() as uow:
        return uow.hotline.search(where, limit, offset)


def placement_queue(uow: UnitOfWork, limit: int = 200) -> list[OrderRecord]:
    """Orders waiting for an operator to place them, oldest first (returned ones left out)."""
    with uow.reader() as uow:
        _, records = uow.hotline.search(
            OrderFilter(placement=Placement.PENDING.value), limit + 100, 0
        )
    return [r for r in records if r.order.status is not OrderStatus.RETURNED][:limit]


# --- spreadsheets -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Imported:
    created: int
    unchanged: int


def import_orders(
    uow: UnitOfWork,
    env: CaseEnvironment,
    rows: Sequence[tuple[int, OrderIn]],
    sheet: str,
    progress: Progress | None = None,
    actor: str = HOTLINE,
) -> Imported:
    """Receive a batch of orders from a spreadsheet. Every row is checked first (fields,
    category, numbers repeated in the file, numbers taken by other content); nothing is
    received unless all are sound. Each order is then received as from the API, so a
    batch imported twice — or again after an interruption — gives no duplicates."""
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    with uow:
        taxonomy = taxonomy_in_force(uow, env)
        stored = uow.hotline.hashes([given.number.strip() for _, given in rows])
    for row, given in rows:
        number = given.number.strip()
        _, found = order_from(given, taxonomy)
        found += _not_in_future(env, given)
        problems += [replace(p, location=(sheet, row, *p.location)) for p in found]
        if number in seen:
            problems.append(
                Problem(
                    (sheet, row, "order_number"),
                    f"工单编号 {number} 与第 {seen[number]} 行重复 / repeats row {seen[number]}",
                    "duplicate",
                )
            )
        seen.setdefault(number, row)
        if number in stored and stored[number] != order_hash(given, taxonomy):
            problems.append(
                Problem(
                    (sheet, row, "order_number"),
                    f"{number} 已以不同内容接收 / already received with different content",
                    "duplicate",
                )
            )
    if problems:
        raise InvalidInput("工单表有误，未导入 / the order sheet has errors", problems)
    created = unchanged = 0
    for done, (_, given) in enumerate(rows, 1):
        result = receive_order(uow, env, given, actor)
        created += int(result.created)
        unchanged += int(not result.created)
        if progress:
            progress("工单 Orders", done, len(rows))
    return Imported(created, unchanged)


def orders_between(
    uow: UnitOfWork, received_from: datetime | None, received_to: datetime | None
) -> list[OrderRecord]:
    """All orders received in [from, to), oldest first (for the export)."""
    found: list[OrderRecord] = []
    where = OrderFilter(received_from=received_from, received_to=received_to)
    with uow.reader() as uow:
        while True:
            _, page = uow.hotline.search(where, 1000, len(found))
            found.extend(page)
            if len(page) < 1000:
                return found
