"""``chengyun wecom``: the person ↔ government WeChat (政务微信) user id mapping, and a
test message to check the configuration end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from chengyun.adapters.http import PeerError
from chengyun.domain.errors import DomainError
from chengyun.services.records import PendingMessage

wecom_app = typer.Typer(
    help="政务微信 / Government WeChat: staff messages and sign-in.", no_args_is_help=True
)
users_app = typer.Typer(help="人员与政务微信账号对照 / Person ↔ WeChat user id.")
wecom_app.add_typer(users_app, name="users")


@users_app.command("import")
def users_import(
    file: Annotated[
        Path,
        typer.Argument(
            help=".xlsx or .csv: person_number, userid (header row)",
            exists=True,
            dir_okay=False,
            readable=True,
        ),
    ],
) -> None:
    """Import the mapping (all rows or none) / 导入政务微信账号对照表."""
    from chengyun.adapters.spreadsheets.wecom_users import read_user_rows
    from chengyun.entrypoints.cli import _fail, _platform, _require_schema, out
    from chengyun.services.wecom_users import import_users

    with _platform() as platform:
        _require_schema(platform)
        try:
            rows = read_user_rows(file.read_bytes(), file.name)
            count = import_users(platform.uow(), platform.clock, rows)
        except DomainError as error:
            raise _fail(error) from error
    out.print(f"✓ 已导入 {count} 条政务微信账号对照 / {count} WeChat user ids imported")


@wecom_app.command("test-message")
def test_message(
    person: Annotated[str, typer.Argument(help="the person number to send a test card to")],
) -> None:
    """Send a test card (or SMS) to one person now / 发送测试消息."""
    from chengyun.entrypoints.cli import _platform, _require_schema, err, out
    from chengyun.entrypoints.staff_channels import staff_sender

    with _platform() as platform:
        _require_schema(platform)
        with platform.uow() as uow:
            known = uow.forces.get(person) is not None
        if not known:
            err.print(f"[bold red]✗ 人员编号 {person} 未登记 / no person numbered {person}[/]")
            raise typer.Exit(code=1)
        sender = staff_sender(platform)
        if sender.wecom is None and sender.sms is None:
            err.print(
                "[bold red]✗ 未配置政务微信或短信网关 / neither government WeChat "
                "(CHENGYUN_WECOM_CORP_ID, _SECRET, _AGENT_ID) nor an SMS gateway "
                "(CHENGYUN_SMS_GATEWAY_URL) is configured[/]"
            )
            raise typer.Exit(code=1)
        message = PendingMessage(0, "test", person, {}, 0, None)
        try:
            sender.send(message)
        except (PeerError, DomainError, Exception) as error:  # any failure, as it is
            err.print(f"[bold red]✗ 发送失败 / not sent: {error}[/]")
            raise typer.Exit(code=1) from error
    for sent in sender.sent:
        out.print(f"✓ 已发送 / sent to {sent.to} via {sent.channel}")
