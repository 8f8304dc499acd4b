"""Accounts (账号): sign-in with lockout, API tokens, sessions, and the audit log.

Passwords are checked by a ``PasswordCheck`` handed in (Argon2 in production); tokens
are random, shown once, and stored only as their SHA-256.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from chengyun.clock import Clock
from chengyun.domain.access import (
    POST_ROLES,
    ROLE_PERMISSIONS,
    Permission,
    Principal,
    Role,
    ScopeKind,
    locked_until,
)
from chengyun.domain.audit import GENESIS, AuditRecord, ChainBreak, is_chain_hash, verify_chain
from chengyun.domain.errors import InvalidInput, NotFound, Problem, TooManyRequests, Unauthorized
from chengyun.domain.forces import Assignment, Roster
from chengyun.domain.forces import ScopeKind as AssignmentScope
from chengyun.services.records import Account, ApiToken, NewAccount
from chengyun.services.revision_cache import RevisionCache
from chengyun.services.unit_of_work import UnitOfWork

TOKEN_PREFIX = "cy_"
DEFAULT_TOKEN_TTL = timedelta(hours=12)


class PasswordCheck(Protocol):
    def verify(self, stored: str | None, password: str) -> bool: ...
    def hash(self, password: str) -> str: ...


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def principal_of(account: Account, token: ApiToken | None = None, via: str = "token") -> Principal:
    permissions = None
    if token is not None and token.permissions is not None:
        permissions = frozenset(Permission(p) for p in token.permissions)
    return Principal(
        account_id=account.id,
        username=account.username,
        role=Role(account.role),
        scope_kind=ScopeKind(account.scope_kind),
        scope_code=account.scope_code,
        person_number=account.person_number,
        token_permissions=permissions,
        via=via,
    )


def _bad_credentials() -> Unauthorized:
    return Unauthorized(
        "用户名或密码错误 / wrong username or password",
        [Problem(("password",), "check the username and password", "credentials")],
    )


def authenticate(
    uow: UnitOfWork, clock: Clock, passwords: PasswordCheck, username: str, password: str
) -> Account:
    """The account for ``username`` if the password is right; repeated failures lock it
    for a while (1 minute after 5, doubling up to an hour). Every attempt is audited."""
    now = clock.now()
    with uow:
        account = uow.accounts.by_username(username.strip())
        if account is None or account.disabled:
            uow.audit.append(now, username[:64] or "?", "login.failed", "", {"reason": "unknown"})
            uow.commit()
            raise _bad_credentials()
        until = locked_until(account.failed_logins, account.last_failed_at or now)
        if until is not None and now < until:
            wait = int((until - now).total_seconds()) + 1
            error = TooManyRequests(
                f"尝试次数过多，请 {wait} 秒后再试 / too many failed attempts: try again in "
                f"{wait} s",
                [Problem(("username",), "the account is locked for a while", "locked")],
            )
            error.retry_after = wait
            raise error
        if not passwords.verify(account.password_hash, password):
            uow.accounts.failed_login(account.id, now)
            uow.audit.append(now, account.username, "login.failed", "", {"reason": "password"})
            uow.commit()
            raise _bad_credentials()
        uow.accounts.succeeded_login(account.id)
        uow.audit.append(now, account.username, "login", "", {})
        uow.commit()
    return account


def issue_token(
    uow: UnitOfWork,
    clock: Clock,
    account: Account,
    name: str,
    permissions: Iterable[Permission] | None = None,
    ttl: timedelta | None = DEFAULT_TOKEN_TTL,
) -> tuple[str, ApiToken]:
    """A new bearer token, shown once; ``permissions`` narrows it below the role's."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = clock.now()
    granted = Role(account.role)
    wanted = sorted(p.value for p in permissions) if permissions is not None else None
    if wanted is not None:
        extra = sorted(set(wanted) - {p.value for p in ROLE_PERMISSIONS[granted]})
        if extra:
            raise InvalidInput(
                "令牌权限超出角色 / the token asks for more than the role has",
                [Problem(("permissions",), f"{granted.value} does not hold {extra}", "scope")],
            )
    with uow:
        token_id = uow.accounts.add_token(
            account.id, name, token_hash(raw), wanted, now, now + ttl if ttl else None
        )
        uow.audit.append(
            now,
            account.username,
            "token.issue",
            f"token:{token_id}",
            {"name": name, "permissions": wanted},
        )
        uow.commit()
        token = next(t for t in uow.accounts.tokens(account.id) if t.id == token_id)
    return raw, token


def principal_for_token(uow: UnitOfWork, clock: Clock, raw: str) -> Principal | None:
    """Who a bearer token speaks for, or ``None`` (unknown, revoked, expired, disabled)."""
    found = _token_principal(uow, clock, raw)
    return found[0] if found else None


def _token_principal(
    uow: UnitOfWork, clock: Clock, raw: str
) -> tuple[Principal, datetime | None] | None:
    """``principal_for_token`` with the token's expiry."""
    if not raw.startswith(TOKEN_PREFIX):
        return None
    now = clock.now()
    with uow:
        found = uow.accounts.token(token_hash(raw))
        if found is None:
            return None
        token, account = found
        if token.revoked_at or account.disabled or (token.expires_at and token.expires_at <= now):
            return None
        if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=5):
            uow.accounts.touch_token(token.id, now)
            uow.commit()
    return principal_of(account, token), token.expires_at


class TokenCache:
    """Whom bearer tokens speak for, remembered in this process so that a request does
    not read the token and its account again (令牌缓存).

    An entry is used while the token has not expired (checked on every use), for at most
    ``keep_seconds``, and only while nothing that decides it has changed: revoking a
    token, disabling or enabling an account and setting a password bump a revision
    counter in their transaction. This process's own such changes drop the cache at
    once (``changed_here``); another process's are seen when the counter is read again,
    at most ``check_seconds`` later (one small query a period, for all tokens). Unknown
    or refused tokens are never remembered. Keyed by the token's SHA-256, as stored.
    """

    def __init__(
        self,
        revision: Callable[[], int],
        changed_here: Callable[[], int],
        check_seconds: float = 1.0,
        keep_seconds: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
        size: int = 10_000,
    ) -> None:
        self._cache: RevisionCache[tuple[Principal, datetime | None]] = RevisionCache(
            revision, changed_here, check_seconds, keep_seconds, monotonic, size
        )

    def principal(self, uow: UnitOfWork, clock: Clock, raw: str) -> Principal | None:
        """As ``principal_for_token``, from the cache when it still holds."""
        if not raw.startswith(TOKEN_PREFIX):
            return None
        key = token_hash(raw)
        known, stamp = self._cache.lookup(key)
        if known is not None:
            principal, expires_at = known
            if expires_at is None or clock.now() < expires_at:
                return principal
            self._cache.drop(key)
            return None
        found = _token_principal(uow, clock, raw)
        if found is None:
            self._cache.drop(key)
            return None
        self._cache.put(key, found, stamp)
        return found[0]


def principal_for_session(uow: UnitOfWork, account_id: int, epoch: int) -> Principal | None:
    with uow.reader() as uow:
        account = uow.accounts.by_id(account_id)
    if account is None or account.disabled or account.session_epoch != epoch:
        return None
    return principal_of(account, via="session")


def revoke_token(uow: UnitOfWork, clock: Clock, principal: Principal, token_id: int) -> None:
    owner = None if principal.role is Role.ADMINISTRATOR else principal.account_id
    with uow:
        if not uow.accounts.revoke_token(token_id, owner, clock.now()):
            raise NotFound(f"没有这个令牌 / no active token {token_id} of yours")
        uow.audit.append(clock.now(), principal.username, "token.revoke", f"token:{token_id}", {})
        uow.commit()


def sign_out_everywhere(uow: UnitOfWork, clock: Clock, principal: Principal) -> None:
    """Ends every session of the account (cookies carry the epoch they were made in)."""
    with uow:
        uow.accounts.bump_session_epoch(principal.account_id)
        uow.audit.append(clock.now(), principal.username, "logout", "", {})
        uow.commit()


def create_account(
    uow: UnitOfWork,
    clock: Clock,
    passwords: PasswordCheck,
    actor: str,
    account: NewAccount,
    password: str | None,
) -> Account:
    problems = _account_problems(account, password)
    if problems:
        raise InvalidInput("账号信息有误 / the account cannot be created as given", problems)
    with uow:
        if uow.accounts.by_username(account.username) is not None:
            raise InvalidInput(
                "用户名已存在 / username taken",
                [Problem(("username",), f"{account.username!r} exists", "duplicate")],
            )
        hashed = passwords.hash(password) if password else None
        new = NewAccount(**{**account.__dict__, "password_hash": hashed})
        account_id = uow.accounts.add(new, clock.now())
        uow.audit.append(
            clock.now(),
            actor,
            "account.create",
            f"account:{account.username}",
            {"role": account.role, "scope": [account.scope_kind, account.scope_code]},
        )
        uow.commit()
        created = uow.accounts.by_id(account_id)
    assert created is not None
    return created


def set_account_disabled(
    uow: UnitOfWork, clock: Clock, actor: Principal, account_id: int, disabled: bool
) -> Account:
    """Disable an account (its sessions and tokens stop working at once) or enable it again.
    Nobody disables their own account: an administrator could lock everyone out."""
    if disabled and account_id == actor.account_id:
        raise InvalidInput(
            "不能停用自己的账号 / you cannot disable your own account",
            [Problem(("disabled",), "ask another administrator", "own_account")],
        )
    with uow:
        account = uow.accounts.by_id(account_id)
        if account is None:
            raise NotFound(f"没有该账号 / no account {account_id}")
        if account.disabled != disabled:
            uow.accounts.set_disabled(account_id, disabled)
            uow.accounts.bump_session_epoch(account_id)
            uow.audit.append(
                clock.now(),
                actor.username,
                "account.disable" if disabled else "account.enable",
                f"account:{account.username}",
                {},
            )
        uow.commit()
        changed = uow.accounts.by_id(account_id)
    assert changed is not None
    return changed


def _account_problems(account: NewAccount, password: str | None) -> list[Problem]:
    problems: list[Problem] = []
    name = account.username
    if not (2 <= len(name) <= 64) or not all(c.isalnum() or c in "-_." for c in name):
        problems.append(Problem(("username",), "2–64 letters, digits, '-', '_' or '.'"))
    try:
        Role(account.role)
    except ValueError:
        problems.append(Problem(("role",), f"one of {[r.value for r in Role]}"))
    try:
        ScopeKind(account.scope_kind)
    except ValueError:
        problems.append(Problem(("scope_kind",), f"one of {[s.value for s in ScopeKind]}"))
    if account.scope_kind != ScopeKind.SUB_DISTRICT.value and not account.scope_code:
        problems.append(Problem(("scope_code",), "a grid, unit or department code is needed"))
    if password is not None and len(password) < 10:
        problems.append(Problem(("password",), "密码至少10个字符 / at least 10 characters"))
    return problems


def accounts_for_people(roster: Roster, password_hash: str) -> list[NewAccount]:
    """One account per person (username = number), role from the post, scope from where
    they work: their grid or unit, or their department."""
    first: dict[str, Assignment] = {}
    for each in roster.assignments:
        first.setdefault(each.number, each)
    accounts = []
    for person in roster.people:
        role = POST_ROLES[person.post]
        assignment = first.get(person.number)
        scope, code = ScopeKind.SUB_DISTRICT, None
        if role is Role.DEPARTMENT_HANDLER and person.department is not None:
            scope, code = ScopeKind.DEPARTMENT, person.department.value
        elif role is Role.UNIT_LEADER and assignment is not None and assignment.unit_code:
            scope, code = ScopeKind.UNIT, assignment.unit_code
        elif role in (Role.GRID_CHIEF, Role.DEPUTY_GRID_CHIEF, Role.PATROL_MEMBER) and (
            assignment is not None and assignment.scope is not AssignmentScope.CENTRE
        ):
            scope, code = ScopeKind.GRID, assignment.grid_code
        accounts.append(
            NewAccount(
                person.number,
                password_hash,
                role.value,
                scope.value,
                code,
                person.number,
                person.name,
            )
        )
    return accounts


def provision_accounts(uow: UnitOfWork, clock: Clock, accounts: Iterable[NewAccount]) -> int:
    """Create the accounts that do not exist yet; returns how many were made."""
    with uow:
        existing = {a.username for a in uow.accounts.all()}
        new = [a for a in accounts if a.username not in existing]
        uow.accounts.add_many(new, clock.now())
        if new:
            uow.audit.append(clock.now(), "system", "account.provision", "", {"count": len(new)})
        uow.commit()
    return len(new)


def audit(
    uow: UnitOfWork,
    clock: Clock,
    actor: str,
    action: str,
    target: str,
    details: dict[str, object] | None = None,
) -> None:
    """Record one event in the audit log in its own transaction (sensitive reads)."""
    with uow:
        uow.audit.append(clock.now(), actor, action, target, details or {})
        uow.commit()


@dataclass(frozen=True)
class AuditEntry:
    """An audit record a use case writes in the transaction of the change it records, so
    that the record exists exactly when the change does (see ``audit_in``)."""

    actor: str
    action: str
    target: str
    details: dict[str, object]


def audit_in(uow: UnitOfWork, clock: Clock, *entries: AuditEntry | None) -> None:
    """Append ``entries`` in ``uow``'s open transaction. Call it last before the commit:
    appends to the chain wait for each other until the appending transaction ends."""
    now = clock.now()
    uow.audit.append_all(
        [(now, e.actor, e.action, e.target, e.details) for e in entries if e is not None]
    )


def verify_audit(
    uow: UnitOfWork, after: str | None = None, field: tuple[str | int, ...] = ("after",)
) -> tuple[int, list[ChainBreak], str]:
    """How many records, where the chain breaks, and the head hash to note down.

    ``after``: the hash of the last record archived, kept with the archive, when older
    months were taken out of the log; the first record left must follow it. ``field``
    names ``after`` in the error an ill-formed one gets."""
    after = after.strip().lower() if after is not None else None
    if after is not None and not is_chain_hash(after):
        raise InvalidInput(
            "起点须为审计记录的哈希 / `after` must be an audit record's hash",
            [Problem(field, "64 hexadecimal digits, as `audit verify` prints a head", "format")],
        )
    count, head = 0, ""

    def counted() -> Iterator[AuditRecord]:
        nonlocal count, head
        for record in uow.audit.records():
            count, head = count + 1, record.hash
            yield record

    with uow:
        breaks = verify_chain(counted(), after or GENESIS)
    return count, breaks, head
