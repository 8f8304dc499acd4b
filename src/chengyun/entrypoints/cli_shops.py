"""``chengyun shops``: the shop registry of the citizen QR codes — import and export it as
.xlsx, add a shop, re-issue a poster's token, print the posters of a unit."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from chengyun.adapters.geo.crs import Crs
from chengyun.domain.errors import DomainError


class _Cli:
    """The main command's helpers (platform, schema check, failure, output), imported
    when a command runs: ``cli.py`` imports this module while it is being loaded."""

    def __getattr__(self, name: str) -> Any:
        from chengyun.entrypoints import cli as main

        return getattr(main, name)


cli = _Cli()

shops_app = typer.Typer(
    help="市民扫码店铺 / The shops whose posters carry the citizen QR code.",
    no_args_is_help=True,
)


@shops_app.command("import")
def shops_import(
    file: Annotated[
        Path,
        typer.Argument(
            help="the .xlsx (headers 店铺名称 Name, 经度 Longitude…)",
            exists=True,
            dir_okay=False,
            readable=True,
        ),
    ],
) -> None:
    """Add or update shops from a sheet, matched by code (all or nothing) / 导入店铺表."""
    from chengyun.adapters.spreadsheets.shops_xlsx import HEADER_BY_FIELD, shops_from_xlsx
    from chengyun.services.shops import import_shops

    with cli._platform() as platform:
        cli._require_schema(platform)
        try:
            sheet = shops_from_xlsx(file.read_bytes())
            done = import_shops(
                platform.uow(),
                platform.clock,
                platform,
                platform.settings.shop_token_days,
                sheet.rows,
                sheet.problems,
                HEADER_BY_FIELD,
            )
        except DomainError as error:
            raise cli._fail(error) from error
    cli.out.print(f"✓ 已导入 / imported: {done.created} new, {done.updated} updated shops")


@shops_app.command("export")
def shops_export(file: Annotated[Path, typer.Argument(help="the .xlsx to write")]) -> None:
    """Export the registry with each shop's unit, expiry and QR address / 导出店铺表."""
    from chengyun.adapters.spreadsheets.shops_xlsx import shops_to_xlsx
    from chengyun.services.shops import citizen_url, list_shops, shop_token

    with cli._platform() as platform:
        cli._require_schema(platform)
        found = list_shops(platform.uow())
        secret, base = platform.settings.secret_key, platform.settings.public_base_url
        urls = {s.code: citizen_url(base, shop_token(secret, s)) for s in found}
    file.write_bytes(shops_to_xlsx(found, urls))
    cli.out.print(f"✓ 已导出 / exported {len(found)} shops to {file}")


@shops_app.command("add")
def shops_add(
    name: Annotated[str, typer.Option(help="店铺名称 the shop's name")],
    lng: Annotated[float, typer.Option(help="经度 longitude")],
    lat: Annotated[float, typer.Option(help="纬度 latitude")],
    address: Annotated[str, typer.Option(help="地址 address")] = "",
    code: Annotated[str, typer.Option(help="店铺编号; default the next S00001-style")] = "",
    crs: Annotated[Crs, typer.Option(help="the position's CRS")] = Crs.WGS84,
) -> None:
    """Register one shop and print its QR address / 登记店铺."""
    from chengyun.adapters.geo.crs import to_wgs84
    from chengyun.adapters.geo.index import check_position
    from chengyun.services.shops import ShopIn, citizen_url, register_shop, shop_token

    with cli._platform() as platform:
        cli._require_schema(platform)
        try:
            check_position(lng, lat)
            x, y = to_wgs84(lng, lat, crs)
            shop = register_shop(
                platform.uow(),
                platform.clock,
                platform,
                platform.settings.shop_token_days,
                ShopIn(name, address, x, y, code),
            )
        except DomainError as error:
            raise cli._fail(error) from error
        url = citizen_url(
            platform.settings.public_base_url, shop_token(platform.settings.secret_key, shop)
        )
    cli.out.print(
        f"✓ 已登记 / registered {shop.code} {shop.name} in unit {shop.unit_code}\n  {url}"
    )


@shops_app.command("reissue")
def shops_reissue(code: Annotated[str, typer.Argument(help="the shop's code")]) -> None:
    """A new token for a shop: its old posters stop working / 换发二维码."""
    from chengyun.domain.errors import NotFound
    from chengyun.services.shops import citizen_url, reissue_token, shop_token

    with cli._platform() as platform:
        cli._require_schema(platform)
        with platform.uow() as uow:
            shop = uow.shops.by_code(code.strip().upper())
        try:
            if shop is None or shop.id is None:
                raise NotFound(f"没有编号为 {code} 的店铺 / no shop with code {code}")
            shop = reissue_token(
                platform.uow(), platform.clock, shop.id, platform.settings.shop_token_days
            )
        except DomainError as error:
            raise cli._fail(error) from error
        url = citizen_url(
            platform.settings.public_base_url, shop_token(platform.settings.secret_key, shop)
        )
    cli.out.print(
        f"✓ 已换发 / re-issued {shop.code} (version {shop.key_version}); print its new poster\n"
        f"  {url}"
    )


@shops_app.command("posters")
def shops_posters(
    out_dir: Annotated[
        Path, typer.Option("--out", help="the folder to write to", file_okay=False)
    ] = Path("."),
    unit: Annotated[str | None, typer.Option(help="管理单元编码: only this unit's shops")] = None,
    each: Annotated[
        bool, typer.Option("--each/--one-file", help="one PDF per shop, or one for all")
    ] = False,
) -> None:
    """Print the A5 posters of every active shop (of a unit) / 批量打印海报."""
    from chengyun.adapters.reports.posters import filename, posters_pdf
    from chengyun.domain.errors import NotFound
    from chengyun.entrypoints.api.v1.shops import poster_for
    from chengyun.services.shops import list_shops

    with cli._platform() as platform:
        cli._require_schema(platform)
        found = list_shops(platform.uow(), unit, active_only=True)
        if not found:
            raise cli._fail(
                NotFound("没有启用的店铺 / no active shop" + (f" in unit {unit}" if unit else ""))
            )
        posters = [poster_for(platform, s) for s in found]
    out_dir.mkdir(parents=True, exist_ok=True)
    stage = "海报 posters"
    written: list[Path] = []
    with cli._ProgressBar() as progress:
        if each:
            for done, poster in enumerate(posters):
                progress(stage, done, len(posters))
                path = out_dir / filename(poster.shop_code)
                path.write_bytes(posters_pdf([poster], poster.shop_name))
                written.append(path)
        else:
            progress(stage, 0, 1)
            path = out_dir / f"posters-{unit or 'all'}.pdf"
            path.write_bytes(posters_pdf(posters))
            written.append(path)
        progress(stage, len(posters), len(posters))
    where = written[0] if len(written) == 1 else out_dir
    cli.out.print(f"✓ 已生成 / wrote {len(posters)} posters ({len(written)} file(s)) to {where}")
