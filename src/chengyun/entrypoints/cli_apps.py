"""``chengyun apps``: the applications that may POST Open311 requests (开放311应用) —
register one (its api_key is printed once), list them, revoke one."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from chengyun.config import Settings
from chengyun.domain.cases import Channel
from chengyun.domain.errors import DomainError
from chengyun.domain.working_time import as_china_time
from chengyun.entrypoints.platform import Platform
from chengyun.services import open311

apps_app = typer.Typer(
    help="Open311 应用 / Applications that submit Open311 requests (api keys).",
    no_args_is_help=True,
)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _fail(error: DomainError) -> typer.Exit:
    err.print(f"[bold red]✗ {error.message}[/]")
    for problem in error.problems:
        where = " / ".join(str(p) for p in problem.location) or "-"
        err.print(f"  [yellow]{where}[/]: {problem.message}")
    return typer.Exit(code=1)


def _platform() -> Platform:
    return Platform(Settings())


@apps_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="应用名称 / the application's name")],
    channel: Annotated[
        str,
        typer.Option(
            help="案件渠道 / the channel its requests arrive on: "
            + ", ".join(c.value for c in Channel)
        ),
    ] = Channel.CITIZEN_QR.value,
) -> None:
    """Register an application and print its api_key (shown once, stored hashed)."""
    platform = _platform()
    try:
        raw, application = open311.register_application(
            platform.uow(), platform.clock, name, channel
        )
    except DomainError as error:
        raise _fail(error) from error
    finally:
        platform.engine.dispose()
    out.print(
        f"✓ 已登记应用 {application.name}（渠道 {application.channel}）/ application registered "
        f"(channel {application.channel}). api_key — 仅显示一次 / shown only once:"
    )
    print(raw)


@apps_app.command("list")
def list_() -> None:
    """The registered applications: name, channel, when registered, last used, revoked."""
    platform = _platform()
    try:
        applications = open311.list_applications(platform.uow())
    finally:
        platform.engine.dispose()
    table = Table("name 名称", "channel 渠道", "created 登记", "last used 最近使用", "revoked 吊销")

    def when(moment: datetime | None) -> str:
        return as_china_time(moment).strftime("%Y-%m-%d %H:%M") if moment else "—"

    for a in applications:
        table.add_row(
            a.name, a.channel, when(a.created_at), when(a.last_used_at), when(a.revoked_at)
        )
    out.print(table)
    out.print(f"{len(applications)} 个应用 / applications")


@apps_app.command("revoke")
def revoke(name: Annotated[str, typer.Argument(help="应用名称 / the application's name")]) -> None:
    """Revoke an application's api_key: its requests stay, new ones are refused (403)."""
    platform = _platform()
    try:
        application = open311.revoke_application(platform.uow(), platform.clock, name)
    except DomainError as error:
        raise _fail(error) from error
    finally:
        platform.engine.dispose()
    out.print(f"✓ 已吊销 {application.name} / revoked: its api_key is refused from now on")
