"""Signing in, tokens, accounts and the audit log over HTTP."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field, ValidationError

from chengyun.domain.access import ROLE_PERMISSIONS, Permission, Principal, Role, ScopeKind
from chengyun.domain.errors import InvalidInput, NotFound, Problem
from chengyun.entrypoints.api.deps import PlatformDep
from chengyun.entrypoints.api.errors import invalid_body
from chengyun.entrypoints.api.limits import MAX_ID
from chengyun.entrypoints.api.security import (
    SESSION_COOKIE,
    Argon2Passwords,
    csrf_token,
    limit_anonymous,
    requires,
    signed_in,
)
from chengyun.services.accounts import (
    authenticate,
    create_account,
    issue_token,
    revoke_token,
    set_account_disabled,
    sign_out_everywhere,
    verify_audit,
)
from chengyun.services.records import Account, ApiToken, NewAccount

router = APIRouter(tags=["auth 账号与权限"])
PASSWORDS = Argon2Passwords()

Anyone = Annotated[Principal | None, Depends(requires(Permission.PUBLIC))]
SignedIn = Annotated[Principal | None, Depends(requires(Permission.AUTHENTICATED))]
Manager = Annotated[Principal | None, Depends(requires(Permission.ACCOUNTS_MANAGE))]
Auditor = Annotated[Principal | None, Depends(requires(Permission.AUDIT_READ))]


class Credentials(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=200)
    name: str = Field("api", max_length=100, description="what the token is for")


class AccountOut(BaseModel):
    id: int
    username: str
    role: str
    role_label: str
    scope_kind: str
    scope_code: str | None
    person_number: str | None
    display_name: str
    disabled: bool


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    token_id: int
    expires_at: datetime | None
    account: AccountOut


def _account(a: Account) -> AccountOut:
    role = Role(a.role)
    return AccountOut(
        id=a.id,
        username=a.username,
        role=a.role,
        role_label=role.label,
        scope_kind=a.scope_kind,
        scope_code=a.scope_code,
        person_number=a.person_number,
        display_name=a.display_name,
        disabled=a.disabled,
    )


@router.post(
    "/auth/token",
    dependencies=[Depends(limit_anonymous)],
    response_model=TokenOut,
    summary="登录取令牌 / Sign in: username and password → bearer token",
    responses={401: {"description": "wrong credentials"}, 429: {"description": "locked"}},
)
async def token(request: Request, platform: PlatformDep, _: Anyone) -> TokenOut:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        raw: dict[str, object] = {k: v for k, v in form.items() if isinstance(v, str)}
    else:
        try:
            raw = await request.json()
        except ValueError as exc:
            raise InvalidInput(
                "请求体须为 JSON 或表单 / send JSON or a form",
                [Problem(("body",), "username and password", "format")],
            ) from exc
    try:
        credentials = Credentials.model_validate(raw)
    except ValidationError as error:
        raise invalid_body(error) from error
    account = authenticate(
        platform.uow(), platform.clock, PASSWORDS, credentials.username, credentials.password
    )
    raw_token, issued = issue_token(platform.uow(), platform.clock, account, credentials.name)
    return TokenOut(
        access_token=raw_token,
        token_id=issued.id,
        expires_at=issued.expires_at,
        account=_account(account),
    )


class Me(AccountOut):
    permissions: list[str]
    via: str
    csrf_token: str | None = Field(
        None, description="send as X-CSRF-Token with changes made through a session cookie"
    )


@router.get("/auth/me", response_model=Me, summary="当前账号 / Who am I, with my permissions")
def me(platform: PlatformDep, principal: SignedIn) -> Me:
    who = signed_in(principal)
    with platform.uow(reading=True) as uow:
        account = uow.accounts.by_id(who.account_id)
    if account is None:
        raise NotFound("账号不存在 / account gone")
    csrf = csrf_token(platform.settings.secret_key, who) if who.via == "session" else None
    return Me(
        **_account(account).model_dump(),
        permissions=sorted(p.value for p in who.permissions),
        via=who.via,
        csrf_token=csrf,
    )


class NewToken(BaseModel):
    name: str = Field(max_length=100)
    permissions: list[Permission] | None = Field(
        None, description="narrow the token below the role (omit: the role's permissions)"
    )
    ttl_hours: float | None = Field(
        12, gt=0, le=24 * 366, description="lifetime; null for a system token that lasts"
    )


class TokenInfo(BaseModel):
    id: int
    name: str
    permissions: list[str] | None
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


def _info(t: ApiToken) -> TokenInfo:
    return TokenInfo(
        id=t.id,
        name=t.name,
        permissions=t.permissions,
        created_at=t.created_at,
        expires_at=t.expires_at,
        last_used_at=t.last_used_at,
        revoked_at=t.revoked_at,
    )


@router.get("/auth/tokens", response_model=list[TokenInfo], summary="我的令牌 / My API tokens")
def my_tokens(platform: PlatformDep, principal: SignedIn) -> list[TokenInfo]:
    with platform.uow(reading=True) as uow:
        return [_info(t) for t in uow.accounts.tokens(signed_in(principal).account_id)]


class IssuedToken(TokenInfo):
    access_token: str


@router.post(
    "/auth/tokens",
    response_model=IssuedToken,
    status_code=201,
    summary="新令牌 / A new API token (shown once)",
)
def new_token(body: NewToken, platform: PlatformDep, principal: SignedIn) -> IssuedToken:
    who = signed_in(principal)
    with platform.uow(reading=True) as uow:
        account = uow.accounts.by_id(who.account_id)
    assert account is not None
    ttl = timedelta(hours=body.ttl_hours) if body.ttl_hours else None
    raw, issued = issue_token(
        platform.uow(), platform.clock, account, body.name, body.permissions, ttl
    )
    return IssuedToken(**_info(issued).model_dump(), access_token=raw)


@router.delete("/auth/tokens/{token_id}", status_code=204, summary="吊销令牌 / Revoke a token")
def delete_token(
    token_id: Annotated[int, Path(ge=1, le=MAX_ID)], platform: PlatformDep, principal: SignedIn
) -> Response:
    revoke_token(platform.uow(), platform.clock, signed_in(principal), token_id)
    return Response(status_code=204)


@router.post(
    "/auth/logout",
    status_code=204,
    summary="退出登录 / Sign out: ends every session of this account",
)
def logout(platform: PlatformDep, principal: SignedIn) -> Response:
    sign_out_everywhere(platform.uow(), platform.clock, signed_in(principal))
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE)
    return response


class AccountIn(BaseModel):
    username: str = Field(max_length=64)
    password: str | None = Field(None, max_length=200, description="none for system accounts")
    role: Role
    scope_kind: ScopeKind = ScopeKind.SUB_DISTRICT
    scope_code: str | None = Field(None, max_length=32)
    person_number: str | None = Field(None, max_length=32)
    display_name: str = Field("", max_length=100)


@router.get("/accounts", response_model=list[AccountOut], summary="账号列表 / Accounts")
def accounts(platform: PlatformDep, _: Manager) -> list[AccountOut]:
    with platform.uow(reading=True) as uow:
        return [_account(a) for a in uow.accounts.all()]


@router.post(
    "/accounts", response_model=AccountOut, status_code=201, summary="新建账号 / Create an account"
)
def add_account(body: AccountIn, platform: PlatformDep, principal: Manager) -> AccountOut:
    created = create_account(
        platform.uow(),
        platform.clock,
        PASSWORDS,
        signed_in(principal).username,
        NewAccount(
            body.username,
            None,
            body.role.value,
            body.scope_kind.value,
            body.scope_code,
            body.person_number,
            body.display_name,
        ),
        body.password,
    )
    return _account(created)


class AccountChange(BaseModel):
    disabled: bool = Field(description="停用 (true) or enable again (false)")


@router.patch(
    "/accounts/{account_id}",
    response_model=AccountOut,
    summary="停用或启用账号 / Disable or enable an account",
)
def change_account(
    account_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    body: AccountChange,
    platform: PlatformDep,
    principal: Manager,
) -> AccountOut:
    changed = set_account_disabled(
        platform.uow(), platform.clock, signed_in(principal), account_id, body.disabled
    )
    return _account(changed)


class RolePermissions(BaseModel):
    role: str
    label: str
    permissions: list[str]


@router.get(
    "/roles",
    response_model=list[RolePermissions],
    summary="角色与权限 / Roles and what each may do",
)
def roles(_: SignedIn) -> list[RolePermissions]:
    return [
        RolePermissions(
            role=r.value, label=r.label, permissions=sorted(p.value for p in ROLE_PERMISSIONS[r])
        )
        for r in Role
    ]


class AuditCheck(BaseModel):
    records: int
    intact: bool
    head: str
    breaks: list[dict[str, object]]


@router.get(
    "/audit/verify",
    response_model=AuditCheck,
    summary="校验审计链 / Verify the audit log's hash chain",
)
def audit_verify(
    platform: PlatformDep,
    _: Auditor,
    after: Annotated[
        str | None,
        Query(
            description="the hash of the last record archived (kept with the archive), when "
            "older months were taken out of the log: the first record left must follow it"
        ),
    ] = None,
) -> AuditCheck:
    count, breaks, head = verify_audit(platform.uow(), after, ("query", "after"))
    return AuditCheck(
        records=count,
        intact=not breaks,
        head=head,
        breaks=[{"record": b.record_id, "reason": b.reason} for b in breaks],
    )
