"""``chengyun cameras``: the camera registry of the video algorithms as .xlsx, and a list."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from chengyun.config import Settings
from chengyun.domain.errors import DomainError
from chengyun.entrypoints.platform import Platform

cameras_app = typer.Typer(
    help="摄像头台账 / The video algorithms' camera registry (.xlsx).", no_args_is_help=True
)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _fail(error: DomainError) -> typer.Exit:
    err.print(f"[bold red]✗ {error.message}[/]")
    for problem in error.problems[:200]:
        where = " / ".join(str(p) for p in problem.location) or "-"
        err.print(f"  [yellow]{where}[/]: {problem.message}")
    return typer.Exit(code=1)


def _platform() -> Platform:
    from chengyun.entrypoints.cli import _require_schema

    platform = Platform(Settings())
    _require_schema(platform)
    return platform


@cameras_app.command("import")
def cameras_import(
    file: Annotated[
        Path,
        typer.Argument(
            help="the .xlsx (编号 Camera ID, 名称 Name, 经度 Longitude, 纬度 Latitude, …)",
            exists=True,
            dir_okay=False,
            readable=True,
        ),
    ],
) -> None:
    """Register or update cameras from a workbook, all or nothing / 导入摄像头台账."""
    from chengyun.adapters.spreadsheets.cameras_xlsx import cameras_from_xlsx
    from chengyun.services.vision import import_cameras

    platform = _platform()
    try:
        rows = cameras_from_xlsx(file.read_bytes())
        count = import_cameras(platform.uow(), platform.cases, rows, "cli")
    except DomainError as error:
        raise _fail(error) from error
    finally:
        platform.engine.dispose()
    out.print(f"✓ 已导入 / imported {count} cameras")


@cameras_app.command("export")
def cameras_export(
    file: Annotated[Path, typer.Argument(help="the .xlsx to write")],
    template: Annotated[bool, typer.Option(help="a blank template")] = False,
) -> None:
    """Write the camera registry to a workbook / 导出摄像头台账."""
    from chengyun.adapters.spreadsheets.cameras_xlsx import cameras_to_xlsx
    from chengyun.services.vision import cameras

    platform = _platform()
    try:
        found = [] if template else cameras(platform.uow())
    finally:
        platform.engine.dispose()
    file.write_bytes(cameras_to_xlsx(found))
    out.print(f"✓ 已导出 / exported {len(found)} cameras to {file}")


@cameras_app.command("list")
def cameras_list() -> None:
    """Show the registered cameras / 列出摄像头."""
    from chengyun.services.vision import cameras

    platform = _platform()
    try:
        found = cameras(platform.uow())
    finally:
        platform.engine.dispose()
    table = Table("编号 ID", "名称 Name", "经度 Lng", "纬度 Lat", "管理单元 Unit", "启用 Active")
    for camera in found:
        table.add_row(
            camera.camera_id,
            camera.name,
            f"{camera.lng:.6f}",
            f"{camera.lat:.6f}",
            camera.unit_code or "-",
            "是 yes" if camera.active else "否 no",
        )
    out.print(table)
    out.print(f"{len(found)} cameras / 个摄像头")
