"""Who is who in government WeChat (政务微信): a person's user id there (their person
number unless mapped otherwise), the import of the mapping, and signing in through it
to the person's own account (the same account as the password sign-in)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chengyun.clock import Clock
from chengyun.domain.errors import Forbidden, InvalidInput, Problem
from chengyun.services.records import Account
from chengyun.services.unit_of_work import UnitOfWork

USERID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.@")


@dataclass(frozen=True)
class UserRow:
    """One row of the mapping sheet: where it came from, person number, WeChat user id."""

    where: tuple[str | int, ...]
    person_number: str
    userid: str


def import_users(uow: UnitOfWork, clock: Clock, rows: Sequence[UserRow]) -> int:
    """Store the person ↔ user id mapping; every row is checked first and nothing is
    written unless all are right (unknown people, bad or repeated user ids)."""
    problems: list[Problem] = []
    seen_people: dict[str, tuple[str | int, ...]] = {}
    seen_ids: dict[str, tuple[str | int, ...]] = {}
    with uow:
        for row in rows:
            number, userid = row.person_number.strip(), row.userid.strip()
            if not number:
                problems.append(Problem((*row.where, "person_number"), "人员编号为空 / empty"))
            elif uow.forces.get(number) is None:
                problems.append(
                    Problem(
                        (*row.where, "person_number"),
                        f"人员编号 {number!r} 未登记 / no person numbered {number!r}",
                        "unknown",
                    )
                )
            elif number in seen_people:
                problems.append(
                    Problem(
                        (*row.where, "person_number"),
                        f"重复，已见于 {seen_people[number]} / repeated (first at "
                        f"{seen_people[number]})",
                        "duplicate",
                    )
                )
            if not userid or len(userid) > 64 or not set(userid) <= USERID_CHARS:
                problems.append(
                    Problem(
                        (*row.where, "userid"),
                        "1–64 个字母、数字或 _-.@ / 1–64 letters, digits or _-.@",
                        "format",
                    )
                )
            elif userid.lower() in seen_ids:
                problems.append(
                    Problem(
                        (*row.where, "userid"),
                        f"账号重复，已见于 {seen_ids[userid.lower()]} / user id repeated "
                        f"(first at {seen_ids[userid.lower()]})",
                        "duplicate",
                    )
                )
            seen_people.setdefault(number, row.where)
            seen_ids.setdefault(userid.lower(), row.where)
        if not rows:
            problems.append(Problem(("file",), "没有数据行 / no rows", "empty"))
        if problems:
            raise InvalidInput(
                "政务微信账号对照表有误，未导入 / the WeChat user sheet has errors: nothing "
                "was imported",
                problems,
            )
        uow.wecom.save_users(
            [(r.person_number.strip(), r.userid.strip()) for r in rows], clock.now()
        )
        uow.audit.append(clock.now(), "system", "wecom.users.import", "", {"rows": len(rows)})
        uow.commit()
    return len(rows)


def sign_in_with_wecom(uow: UnitOfWork, clock: Clock, userid: str) -> Account:
    """The account of the person a government WeChat user id stands for; ``Forbidden``
    when there is none or it is disabled. Audited like the password sign-in."""
    now = clock.now()
    with uow:
        number = uow.wecom.person_for(userid)
        account = uow.wecom.account_for_person(number) if number else None
        if account is None or account.disabled:
            reason = "unknown" if account is None else "disabled"
            uow.audit.append(
                now, userid[:64], "login.failed", "", {"reason": reason, "via": "wecom"}
            )
            uow.commit()
            raise Forbidden(
                "该政务微信账号未关联平台账号或账号已停用，请联系管理员 / this government WeChat "
                "user has no account on the platform (or it is disabled): ask an "
                "administrator to link it",
                [Problem(("userid",), userid, "unknown" if account is None else "disabled")],
            )
        uow.audit.append(now, account.username, "login", "", {"via": "wecom", "userid": userid})
        uow.commit()
    return account
