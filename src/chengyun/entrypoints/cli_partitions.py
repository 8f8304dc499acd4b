"""``chengyun db partitions``: the monthly partitions of the case events and the audit log
on PostgreSQL, with their row counts, and making the coming months' ahead of the worker."""

from __future__ import annotations

from typing import Annotated

import typer

from chengyun.adapters.db.partitions import MONTHS_AHEAD


def db_partitions(
    ensure: Annotated[
        bool,
        typer.Option(
            "--ensure",
            help="先建好后续月份的分区 / first make the coming months' partitions, as the worker does",
        ),
    ] = False,
    months_ahead: Annotated[
        int,
        typer.Option(min=0, max=120, help="当月之后再建几个月 / months made after the current one"),
    ] = MONTHS_AHEAD,
) -> None:
    """List the monthly partitions and their rows / 查看按月分区及行数."""
    from chengyun.adapters.db.partitions import ensure_partitions, list_partitions
    from chengyun.entrypoints.cli import _platform, _require_schema, err, out

    with _platform() as platform:
        _require_schema(platform)
        if platform.engine.dialect.name != "postgresql":
            out.print(
                "SQLite 不分区 / on SQLite the case events and the audit log are plain tables: "
                "nothing to show"
            )
            return
        if ensure:
            made = ensure_partitions(platform.engine, platform.clock.now(), months_ahead)
            out.print(
                f"✓ 新建分区 / partitions made: {', '.join(made)}"
                if made
                else "✓ 分区已齐全 / every partition was there already"
            )
        partitions = list_partitions(platform.engine)
    table = ""
    for partition in partitions:
        if partition.table != table:
            table = partition.table
            out.print(f"[bold]{table}[/]")
        out.print(
            f"  {partition.name:<24} {partition.bounds:<72} {partition.rows:>12,} 行 rows",
            markup=False,
        )
    waiting = sum(p.rows for p in partitions if p.bounds == "DEFAULT")
    if waiting:
        err.print(
            f"[yellow]! DEFAULT 分区中有 {waiting} 行 / {waiting} rows wait in DEFAULT partitions: "
            f"`chengyun db partitions --ensure` (or the worker, hourly) moves them into their "
            f"months' partitions, except for a month detached for archiving[/]"
        )
