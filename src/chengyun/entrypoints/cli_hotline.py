"""``chengyun hotline`` and ``chengyun gazetteer``: exchange 12345 orders and the address
gazetteer as .xlsx with the offices that work in spreadsheets."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from chengyun.domain.errors import DomainError

hotline_app = typer.Typer(
    help="12345热线工单 / 12345 hotline work orders (.xlsx).", no_args_is_help=True
)
gazetteer_app = typer.Typer(
    help="地名地址库 / The address gazetteer (.xlsx).", no_args_is_help=True
)


def _moment(text: str | None, option: str) -> datetime | None:
    """A --from/--to value: a date (midnight China time) or a date and time."""
    from chengyun.domain.working_time import CHINA_TZ

    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise typer.BadParameter(
            f"须为日期或日期时间，如 2020-06-01 或 2020-06-01T08:00+08:00 / a date or date-time, "
            f"got {text!r}",
            param_hint=option,
        ) from exc
    if not 1900 <= parsed.year <= 2200:
        raise typer.BadParameter(
            "年份须在1900至2200之间 / a year from 1900 to 2200", param_hint=option
        )
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=CHINA_TZ)


@hotline_app.command("import")
def import_orders_command(
    file: Annotated[
        Path, typer.Argument(help="the .xlsx", exists=True, dir_okay=False, readable=True)
    ],
) -> None:
    """Receive the orders of a workbook (all rows checked first; a re-run adds nothing
    twice) / 导入工单表."""
    from chengyun.adapters.spreadsheets.hotline_xlsx import orders_from_xlsx
    from chengyun.entrypoints.cli import _fail, _platform, _ProgressBar, _require_schema, out
    from chengyun.services.hotline import import_orders

    with _platform() as platform:
        _require_schema(platform)
        try:
            sheet, rows = orders_from_xlsx(file.read_bytes())
            with _ProgressBar() as progress:
                done = import_orders(platform.uow(), platform.cases, rows, sheet, progress)
        except DomainError as error:
            raise _fail(error) from error
    out.print(
        f"✓ 已导入工单 / orders imported: {done.created} new, {done.unchanged} already received"
    )


@hotline_app.command("export")
def export_orders_command(
    file: Annotated[Path, typer.Argument(help="the .xlsx to write")],
    received_from: Annotated[
        str | None, typer.Option("--from", help="received on or after (date or date-time)")
    ] = None,
    received_to: Annotated[
        str | None, typer.Option("--to", help="received before (date or date-time)")
    ] = None,
) -> None:
    """Write the orders received in [--from, --to) with their state / 导出工单."""
    from chengyun.adapters.spreadsheets.hotline_xlsx import orders_to_xlsx
    from chengyun.entrypoints.cli import _platform, _ProgressBar, _require_schema, out
    from chengyun.services.hotline import orders_between

    start, end = _moment(received_from, "--from"), _moment(received_to, "--to")
    with _platform() as platform:
        _require_schema(platform)
        with _ProgressBar() as progress:
            progress("工单 Orders", 0, 2)
            records = orders_between(platform.uow(), start, end)
            progress("工单 Orders", 1, 2)
            data = orders_to_xlsx(records, platform.clock.now())
            progress("工单 Orders", 2, 2)
    file.write_bytes(data)
    out.print(f"✓ {len(records)} 张工单已导出 / orders exported to {file}")


@gazetteer_app.command("import")
def import_gazetteer_command(
    file: Annotated[
        Path, typer.Argument(help="the .xlsx", exists=True, dir_okay=False, readable=True)
    ],
) -> None:
    """Add or update gazetteer entries from a workbook (all or nothing) / 导入地名地址."""
    from chengyun.adapters.spreadsheets.hotline_xlsx import entries_from_xlsx
    from chengyun.entrypoints.cli import _fail, _platform, _ProgressBar, _require_schema, out
    from chengyun.services.gazetteer import import_entries

    with _platform() as platform:
        _require_schema(platform)
        try:
            sheet, rows = entries_from_xlsx(file.read_bytes())
            with _ProgressBar() as progress:
                added, updated = import_entries(
                    platform.uow(), platform.clock, rows, sheet, progress
                )
        except DomainError as error:
            raise _fail(error) from error
    out.print(f"✓ 地名地址已导入 / gazetteer imported: {added} added, {updated} updated")


@gazetteer_app.command("export")
def export_gazetteer_command(
    file: Annotated[Path, typer.Argument(help="the .xlsx to write")],
) -> None:
    """Write the whole gazetteer / 导出地名地址库."""
    from chengyun.adapters.spreadsheets.hotline_xlsx import entries_to_xlsx
    from chengyun.entrypoints.cli import _platform, _require_schema, out
    from chengyun.services.gazetteer import list_entries

    with _platform() as platform:
        _require_schema(platform)
        entries = list_entries(platform.uow())
    file.write_bytes(entries_to_xlsx(entries))
    out.print(f"✓ {len(entries)} 条地名已导出 / entries exported to {file}")
