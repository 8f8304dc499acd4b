"""``chengyun outbox``: what the outbox holds (dead letters, failing, pending) and replaying
dead letters once the peer is back."""

from __future__ import annotations

from typing import Annotated

import typer

from chengyun.domain.errors import DomainError

outbox_app = typer.Typer(
    help="发件箱 / The outbox: dead letters, failing and pending messages, replay.",
    no_args_is_help=True,
)


@outbox_app.command("list")
def outbox_list(
    dead: Annotated[bool, typer.Option("--dead", help="only the dead letters (死信)")] = False,
    state: Annotated[str, typer.Option(help="dead, failing, pending or delivered")] = "pending",
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
) -> None:
    """List outbox messages with their attempts and last error / 查看发件箱."""
    from chengyun.entrypoints.cli import _fail, _platform, _require_schema, out
    from chengyun.services.outbox_admin import list_messages

    with _platform() as platform:
        _require_schema(platform)
        try:
            found = list_messages(platform.uow(), "dead" if dead else state, limit)
        except DomainError as error:
            raise _fail(error) from error
    counts = found.counts
    out.print(
        f"死信 dead {counts['dead']} · 重试中 failing {counts['failing']} · "
        f"待发 pending {counts['pending']}"
    )
    for entry in found.items:
        case = f" case {entry.case_id}" if entry.case_id else ""
        out.print(
            f"{entry.id:>8}  {entry.state:<9} {entry.topic} → {entry.recipient}{case}  "
            f"attempts {entry.attempts}  next {entry.available_at.isoformat(timespec='seconds')}",
            markup=False,
        )
        if entry.last_error:
            out.print(f"          {entry.last_error[:300]}", markup=False)
    if found.total > len(found.items):
        out.print(
            f"… {found.total - len(found.items)} more / 另有 {found.total - len(found.items)}"
        )


@outbox_app.command("replay")
def outbox_replay(
    message_id: Annotated[int | None, typer.Argument(help="the message id")] = None,
    all_dead: Annotated[
        bool, typer.Option("--all-dead", help="every dead letter (after an outage)")
    ] = False,
) -> None:
    """Replay a message now with its attempts reset, or every dead letter / 重发."""
    from chengyun.entrypoints.cli import _fail, _platform, _require_schema, err, out
    from chengyun.services.outbox_admin import replay, replay_dead

    if (message_id is None) == (not all_dead):
        err.print("[bold red]✗ 请给出消息编号或 --all-dead / give a message id or --all-dead[/]")
        raise typer.Exit(code=2)
    with _platform() as platform:
        _require_schema(platform)
        try:
            if message_id is not None:
                ids = [replay(platform.uow(), platform.clock, "cli", message_id).id]
            else:
                ids = replay_dead(platform.uow(), platform.clock, "cli")
        except DomainError as error:
            raise _fail(error) from error
    shown = ", ".join(str(i) for i in ids[:50]) or "-"
    out.print(f"✓ 已重发 / replayed {len(ids)}: {shown}")
