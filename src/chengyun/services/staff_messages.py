"""Notifications to staff phones (工作人员通知): an outbox message becomes a text card in
government WeChat (政务微信) linking to the case page, or an SMS for whoever cannot be
reached there; without either channel configured it is recorded, as before.

The card says what happened (bilingual title), the case number, the subclass, the
address and the running deadline. Messages to the command centre go to the operators
on duty now (else the day's duty commander).
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from chengyun.domain.duty import duty_commander
from chengyun.domain.forces import Person, Post, Roster, Shift
from chengyun.domain.taxonomy import Subclass
from chengyun.domain.working_time import as_china_time
from chengyun.services.cases import COMMAND_CENTRE, CaseEnvironment, taxonomy_in_force
from chengyun.services.records import CaseRecord, PendingMessage
from chengyun.services.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

#: What each topic tells a person (titles of the cards), 中文 / English.
TOPICS: dict[str, tuple[str, str]] = {
    "task": ("新任务", "New task"),
    "rework": ("核查未通过，返工", "Check failed: rework"),
    "approval": ("待审批", "Approval needed"),
    "warning": ("时限预警", "Deadline near"),
    "escalation": ("超时升级", "Escalated: overdue"),
    "check": ("待核查", "To check"),
    "returned": ("退单", "Returned"),
    "unassigned": ("无人在岗，待人工派遣", "No one on duty: dispatch by hand"),
    "sample_check": ("自处理抽查", "Sample check"),
    "to_register": ("待立案", "To register"),
    "test": ("测试消息", "Test message"),
}
TITLE_BYTES = 128
DESCRIPTION_BYTES = 512


class CardChannel(Protocol):
    """Government WeChat as the sender sees it."""

    def send_card(self, userids: list[str], title: str, description: str, url: str) -> set[str]:
        """Send a text card; answers the user ids (lower-case) it could not reach."""
        ...


class TextChannel(Protocol):
    """SMS as the sender sees it (``chengyun.adapters.sms.SmsSender``)."""

    def send(self, to: str, text: str, reference: str) -> None: ...


class Undeliverable(Exception):
    """Some recipients can be reached by no channel; the outbox tries again later (a
    mapping or a phone number may be added meanwhile) and finally keeps it as a dead
    letter with this reason."""


@dataclass(frozen=True)
class CaseLinks:
    """Where a card's button leads: the phone task page or the command centre's case."""

    base_url: str
    phone_pages: bool = True

    def case(self, case_id: int, message_id: int) -> str:
        path = f"/m/tasks/{case_id}" if self.phone_pages else f"/command/cases/{case_id}"
        # the fragment makes each message's card unique, so that the server's duplicate
        # check drops only a true repeat of one outbox message
        return f"{self.base_url.rstrip('/')}{path}#n{message_id}"

    def home(self) -> str:
        return self.base_url.rstrip("/") + ("/m/" if self.phone_pages else "/command")


@dataclass(frozen=True)
class StaffCard:
    title: str
    description: str
    url: str
    sms: str


def _clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes (whole characters, with an ellipsis)."""
    if len(text.encode()) <= limit:
        return text
    while text and len((text + "…").encode()) > limit:
        text = text[:-1]
    return text + "…"


def _deadline(record: CaseRecord) -> tuple[str, str, datetime] | None:
    """The earliest running stage deadline: (stage zh, stage en, due)."""
    running = [c for c in record.clocks.stages.values() if c.open]
    if not running:
        return None
    first = min(running, key=lambda c: c.deadline.due_at)
    return first.stage.zh, first.stage.en, first.deadline.due_at


def compose(
    message: PendingMessage,
    record: CaseRecord | None,
    rule: Subclass | None,
    links: CaseLinks,
) -> StaffCard:
    """The card and the SMS text for ``message`` (pure: the case is handed in)."""
    zh, en = TOPICS.get(message.topic, ("通知", "Notice"))
    payload = message.payload
    number = str(payload.get("number") or (record.case.number if record else ""))
    title = _clip(f"{zh} {en} · {number}" if number else f"{zh} {en}", TITLE_BYTES)
    url = links.home() if message.case_id is None else links.case(message.case_id, message.id)
    subclass = str(payload.get("subclass") or "")
    kind_zh = f"{subclass} {rule.name_zh}" if rule else subclass
    kind_en = rule.name_en if rule else ""
    address = record.address if record and record.address else "—"
    due = _deadline(record) if record else None
    due_zh = due_en = ""
    if due is not None:
        at = as_china_time(due[2]).strftime("%m-%d %H:%M")
        due_zh, due_en = f"{due[0]}时限 {at}", f"{due[1]} by {at}"
    reason = str(payload.get("reason") or "")
    lines: list[tuple[str, str]] = [
        ("gray", f"案件 Case {number}"),
        ("normal", f"{kind_zh} {kind_en}".strip()),
        ("normal", f"地址 Address：{address}"),
    ]
    if reason:
        lines.append(("normal", f"原因 Reason：{reason}"))
    if due is not None:
        lines.append(("highlight", f"{due_zh} / {due_en}"))
    description = _fit(lines)
    sms = f"【城运】{zh}：{number} {kind_zh}，{address}"
    if due is not None:
        sms += f"，{due_zh}"
    sms = _clip(sms, 300) + f"。{en}: {url}"
    return StaffCard(title, description, url, sms)


def _fit(lines: list[tuple[str, str]]) -> str:
    """The description's ``<div>`` lines within the byte limit: the longest line is
    shortened until they fit."""
    texts = [text for _, text in lines]

    def render() -> str:
        return "".join(
            f'<div class="{style}">{html.escape(text)}</div>'
            for (style, _), text in zip(lines, texts, strict=True)
        )

    while len(render().encode()) > DESCRIPTION_BYTES:
        longest = max(range(len(texts)), key=lambda i: len(texts[i].encode()))
        size = len(texts[longest].encode())
        texts[longest] = _clip(texts[longest], max(size - 24, 8))
    return render()


def centre_people(roster: Roster, shift: Shift, at: datetime) -> list[Person]:
    """Who reads the command centre's messages on a phone: the operators on duty in
    ``shift``, else the day's duty commander."""
    people = {p.number: p for p in roster.people}
    operators = sorted(
        {
            a.number
            for a in roster.assignments
            if a.shift is shift and a.number in people and people[a.number].post is Post.OPERATOR
        }
    )
    if operators:
        return [people[n] for n in operators]
    commander = duty_commander(
        (p for p in roster.people if p.post is Post.DUTY_COMMANDER), as_china_time(at).date()
    )
    return [commander] if commander else []


@dataclass(frozen=True)
class Sent:
    """How one message reached one person (or was only recorded)."""

    message_id: int
    channel: str
    """``wecom``, ``sms`` or ``recorded``."""
    to: str


@dataclass
class StaffMessageSender:
    """The outbox's sender for people: government WeChat first, SMS for whoever it cannot
    reach, a record when neither channel is configured. Raises (the outbox retries) when
    a peer fails or someone is reachable by no channel."""

    uow: Callable[[], UnitOfWork]
    env: CaseEnvironment
    links: CaseLinks
    wecom: CardChannel | None = None
    sms: TextChannel | None = None
    sent: list[Sent] = field(default_factory=list)

    #: the roster read for a delivery round (``round``), while it lasts
    _roster: Roster | None = field(default=None, init=False, repr=False)

    @contextmanager
    def round(self) -> Iterator[None]:
        """A delivery round: the roster is read once for all its messages instead of once
        each (a round takes 200 at most, and a message is queued after the change that
        caused it commits; a roster changed during the round counts from the next)."""
        with self.uow() as uow:
            self._roster = uow.forces.roster()
        try:
            yield
        finally:
            self._roster = None

    def _people(
        self, roster: Roster, message: PendingMessage, now: datetime
    ) -> list[Person] | None:
        """Who ``message`` is for: the command centre's people on duty, or the one person
        it names (``None`` if it names no registered person)."""
        if message.recipient == COMMAND_CENTRE:
            return centre_people(roster, self.env.calendar.shift_at(now), now)
        person = roster.person(message.recipient)
        return [person] if person else None

    def send(self, message: PendingMessage) -> None:
        now = self.env.clock.now()
        # the case, its rule and the WeChat ids only make a card: a message that is only
        # recorded (no channel configured, or no one to send it to) does not read them,
        # and in a round it reads nothing at all
        channels = self.wecom is not None or self.sms is not None
        record: CaseRecord | None = None
        rule: Subclass | None = None
        mapped: dict[str, str] = {}
        if self._roster is not None and not channels:
            people = self._people(self._roster, message, now)
        else:
            with self.uow() as uow:
                people = self._people(self._roster or uow.forces.roster(), message, now)
                if people and channels:
                    record = uow.cases.get(message.case_id) if message.case_id is not None else None
                    code = str(message.payload.get("subclass") or "")
                    rule = taxonomy_in_force(uow, self.env).get(code) if code else None
                    mapped = uow.wecom.userids(p.number for p in people)
        if people is None:
            if message.topic in TOPICS:
                raise Undeliverable(
                    f"收件人 {message.recipient} 不是登记人员 / the recipient "
                    f"{message.recipient!r} is no registered person"
                )
            self._note(message, "recorded", message.recipient)  # not a staff message
            return
        if not people or not channels:
            self._note(message, "recorded", message.recipient)
            return
        card = compose(message, record, rule, self.links)
        unreached = list(people)
        if self.wecom is not None:
            userids = {p.number: mapped.get(p.number, p.number) for p in people}
            missed = self.wecom.send_card(
                list(userids.values()), card.title, card.description, card.url
            )
            unreached = [p for p in people if userids[p.number].lower() in missed]
            for person in people:
                if person not in unreached:
                    self._note(message, "wecom", person.number)
        nowhere: list[str] = []
        for person in unreached:
            if self.sms is not None and person.phone.strip():
                reference = f"outbox:{message.id}:{person.number}"
                self.sms.send(person.phone.strip(), card.sms, reference)
                self._note(message, "sms", person.number)
            else:
                nowhere.append(person.number)
        if nowhere:
            why = "不在政务微信中" if self.wecom is not None else "未配置政务微信"
            raise Undeliverable(
                f"无法送达 {', '.join(nowhere)}：{why}且无短信通道或手机号 / cannot reach "
                f"{', '.join(nowhere)}: "
                + ("not found in government WeChat" if self.wecom else "no government WeChat")
                + " and no SMS gateway or phone number — map their WeChat user id "
                "(chengyun wecom users import) or record a phone number"
            )

    def _note(self, message: PendingMessage, channel: str, to: str) -> None:
        self.sent.append(Sent(message.id, channel, to))
        log.info("message %s (%s) to %s via %s", message.id, message.topic, to, channel)
