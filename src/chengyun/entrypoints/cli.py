"""The ``chengyun`` command line: serve, demo, database, territory and forces tables."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from chengyun.config import Settings
from chengyun.domain.errors import DomainError
from chengyun.domain.forces import Shift
from chengyun.entrypoints.platform import Platform
from chengyun.entrypoints.worker import BUSY_INTERVAL_S

app = typer.Typer(
    help="城运 chengyun — 一网统管城运网格管理平台 / city-operations grid management.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
db_app = typer.Typer(help="数据库 / Database schema.", no_args_is_help=True)
territory_app = typer.Typer(
    help="辖区 / Territory GeoJSON import and export.", no_args_is_help=True
)
forces_app = typer.Typer(help="力量表 / Day and night force tables (.xlsx).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(territory_app, name="territory")
app.add_typer(forces_app, name="forces")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def input_file(help: str) -> Any:
    """An argument naming a file that must exist and be readable."""
    return typer.Argument(help=help, exists=True, dir_okay=False, readable=True)


def _fail(error: DomainError) -> typer.Exit:
    err.print(f"[bold red]✗ {error.message}[/]")
    for problem in error.problems[:200]:
        where = " / ".join(str(p) for p in problem.location) or "-"
        err.print(f"  [yellow]{where}[/]: {problem.message}")
    if len(error.problems) > 200:
        err.print(f"  … {len(error.problems) - 200} more / 另有 {len(error.problems) - 200} 处")
    return typer.Exit(code=1)


@contextmanager
def _platform(settings: Settings | None = None) -> Iterator[Platform]:
    """The platform for one command; its connections are closed when the command ends."""
    platform = Platform(settings or Settings())
    try:
        yield platform
    finally:
        platform.engine.dispose()


def _require_schema(platform) -> None:  # type: ignore[no-untyped-def]
    from alembic.script import ScriptDirectory

    from chengyun.adapters.db.engine import alembic_config, current_revision

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    current = current_revision(platform.engine)
    if current != head:
        err.print(
            f"[bold red]✗ 数据库结构不是最新 ({current} ≠ {head})，请先运行 `chengyun db upgrade` / "
            f"the database schema is not current: run `chengyun db upgrade` first[/]"
        )
        raise typer.Exit(code=1)


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Option(help="target revision")] = "head",
) -> None:
    """Build or upgrade the schema by running the migrations / 升级数据库结构."""
    from chengyun.adapters.db.engine import upgrade

    with _platform() as platform:
        upgrade(platform.engine, revision)
        url = platform.engine.url.render_as_string(hide_password=True)
    out.print(f"✓ 数据库已升级 / database upgraded to {revision}: {url}")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="listen address")] = None,
    port: Annotated[int | None, typer.Option(help="listen port")] = None,
    workers: Annotated[int, typer.Option(help="server processes / 服务进程数", min=1)] = 1,
    hang_timeout: Annotated[
        float,
        typer.Option(
            help="with several processes on Linux: seconds a process may stop answering "
            "before it is killed and replaced, 0 for never / 进程无响应多少秒后重启",
            min=0,
        ),
    ] = 60.0,
    access_log: Annotated[
        bool | None,
        typer.Option(
            "--access-log/--no-access-log",
            help="a log line per request (default: CHENGYUN_ACCESS_LOG, on); behind nginx, "
            "which logs every request itself, it can be off / 访问日志",
            show_default=False,
        ),
    ] = None,
    pin_cpus: Annotated[
        bool,
        typer.Option(
            "--pin-cpus/--no-pin-cpus",
            help="with several processes on Linux, no more than the cores: each process on "
            "a core of its own / 每个服务进程绑定一个CPU核",
        ),
    ] = True,
) -> None:
    """Serve the platform (API and pages) / 启动服务.

    With several processes on Linux, the parent listens and deals the connections to them
    in turn, one that dies or hangs is replaced, and while there are no more processes
    than cores each keeps to a core of its own (``chengyun.entrypoints.serving``)."""
    import uvicorn

    from chengyun.entrypoints import serving

    settings = Settings()
    with _platform(settings) as platform:
        _require_schema(platform)
    host, port = host or settings.host, port or settings.port
    logged = settings.access_log if access_log is None else access_log
    if workers > 1 and serving.deals_connections():
        raise typer.Exit(
            code=serving.serve(
                host,
                port,
                workers,
                hang_timeout_s=hang_timeout,
                access_log=logged,
                pin_cpus=pin_cpus,
            )
        )
    uvicorn.run(
        serving.APP,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        access_log=logged,
        # a worker loads the territory and the taxonomy before it answers: more than
        # uvicorn's default 5 s on a busy machine, after which it would be killed
        timeout_worker_healthcheck=60,
    )


@app.command()
def worker(
    once: Annotated[bool, typer.Option("--once", help="one pass, then exit")] = False,
    interval: Annotated[
        float, typer.Option(help="seconds between passes / 轮询间隔（秒）", min=0.01)
    ] = 1.0,
    busy_interval: Annotated[
        float,
        typer.Option(
            help="seconds to the next pass after one that delivered messages / "
            "有消息投递时的轮询间隔（秒）",
            min=0.01,
        ),
    ] = BUSY_INTERVAL_S,
) -> None:
    """SLA sweep (warn, escalate) and outbox delivery / 后台任务：超时预警、升级、消息投递."""
    from chengyun.entrypoints.senders import build_sender
    from chengyun.entrypoints.worker import PartitionUpkeep, run, run_once

    with _platform() as platform:
        _require_schema(platform)
        if once:
            done = run_once(platform, build_sender(platform), PartitionUpkeep())
            out.print(
                f"✓ 扫描 / swept {done.sweep.looked_at} (warned {done.sweep.warned}, escalated "
                f"{done.sweep.escalated}); 投递 / delivered {done.delivery.delivered}, failed "
                f"{done.delivery.failed}"
            )
            if done.partitions:
                out.print(f"✓ 新建分区 / partitions made: {', '.join(done.partitions)}")
            return
        out.print(
            f"worker running every {interval:g} s, every {min(busy_interval, interval):g} s "
            "while messages flow — Ctrl+C to stop / 按 Ctrl+C 停止"
        )
        try:
            run(platform, build_sender(platform), interval=interval, busy_interval=busy_interval)
        except KeyboardInterrupt:
            out.print("stopped / 已停止")


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="listen port")] = 8000,
    host: Annotated[str, typer.Option(help="listen address")] = "127.0.0.1",
    data_dir: Annotated[Path, typer.Option(help="where the fresh demo database is made")] = Path(
        ".demo-data"
    ),
    serve_: Annotated[bool, typer.Option("--serve/--no-serve", help="serve after loading")] = True,
    cases: Annotated[int, typer.Option(help="sample cases reported at start")] = 24,
    simulation: Annotated[
        bool,
        typer.Option(
            "--simulation/--no-simulation",
            help="feed a simulated stream of incidents through the API / 实时推演",
        ),
    ] = True,
    speed: Annotated[
        float, typer.Option(min=0.1, max=1000, help="simulated minutes per minute")
    ] = 1.0,
) -> None:
    """A fresh demo sub-district on SQLite, then serve it / 演示街道."""
    import uvicorn

    from chengyun.adapters.db.engine import upgrade
    from chengyun.demo.cases import seed_cases
    from chengyun.demo.loader import DEMO_PASSWORD, load_demo
    from chengyun.demo.shops import demo_citizen_url
    from chengyun.entrypoints.api.app import create_app

    if data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True)
    url = f"sqlite:///{(data_dir / 'chengyun.sqlite3').resolve()}"
    base = f"http://{host}:{port}"
    settings = Settings(
        mode="demo", database_url=url, data_dir=data_dir.resolve(), public_base_url=base
    )
    with (
        _platform(settings) as platform,
        out.status("建立演示数据库 / building the demo database…"),
    ):
        upgrade(platform.engine)
        loaded = load_demo(platform.uow(), platform.clock)
        with platform.uow() as uow:
            territory, roster = uow.territory.get(), uow.forces.roster()
        assert territory is not None
        seeded = seed_cases(platform.uow, platform.cases, territory, roster, count=cases)
        citizen = demo_citizen_url(platform.uow(), settings.secret_key, base)
    out.print(
        f"✓ 演示街道已就绪 / demo sub-district ready: {loaded.grids} grids, {loaded.units} units "
        f"({loaded.key_units} key), {loaded.people} people, {loaded.assignments} assignments, "
        f"{seeded} sample cases\n"
        f"  数据库 database: {url}\n"
        f"  API 文档 docs:   {base}/docs\n"
        f"  管理单元 units:  {base}/api/v1/territory/units\n"
        f"  值班 duty:       {base}/api/v1/duty\n"
        f"  案件 cases:      {base}/api/v1/cases?open=true\n"
        f"  城运中心 command centre: {base}/command · 考核态势 dashboard: {base}/dashboard · "
        f"系统管理 administration: {base}/admin/\n"
        f"  手机端 phone pages: {base}/m/ (sign in as a patrol member, e.g. YPG1-005)\n"
        f"  市民扫码 citizen page: {citizen or '—'}\n"
        f"  Open311: {base}/open311/v2/discovery.json — api_key [bold]demo-open311-key[/]\n"
        f"  登录 sign in:    {base}/login — admin, or any person number (e.g. YPC-ZB01, "
        f"an operator), password [bold]{DEMO_PASSWORD}[/] (demo database only)"
    )
    if serve_:
        from chengyun.entrypoints.platform import Platform
        from chengyun.entrypoints.worker import start_in_background

        platform = Platform(settings)
        stop = start_in_background(platform)  # the demo runs its worker in-process
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(platform=platform),
                host=host,
                port=port,
                log_level="info",
                access_log=settings.access_log,
            )
        )
        feeder = None
        if simulation:
            from chengyun.simulation.live import LiveFeeder, issued_tokens, start_in_thread

            feeder = LiveFeeder(
                base, territory, roster, tokens=issued_tokens(platform), speed=speed
            )
            start_in_thread(feeder, ready=lambda: server.started)
            out.print(f"  实时推演 live simulation: {speed:g}× — `--no-simulation` turns it off")
        try:
            server.run()
        finally:
            stop.set()
            if feeder is not None:
                feeder.stop.set()


@territory_app.command("import")
def territory_import(
    file: Annotated[Path, input_file("a territory GeoJSON FeatureCollection (WGS-84)")],
    tolerance: Annotated[float, typer.Option(help="overlap tolerance in m²")] = 1.0,
) -> None:
    """Import a territory (all or nothing) / 导入辖区."""
    from chengyun.adapters.geo.geojson import territory_from_geojson
    from chengyun.services.territory import import_territory

    try:
        data = json.loads(file.read_text("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        err.print(f"[bold red]✗ {file}: 不是有效的JSON / not valid JSON: {exc}[/]")
        raise typer.Exit(code=1) from exc
    with _platform() as platform:
        _require_schema(platform)
        try:
            territory = territory_from_geojson(data, tolerance_m2=tolerance)
            result = import_territory(platform.uow(), territory)
        except DomainError as error:
            raise _fail(error) from error
    out.print(
        f"✓ 已导入 / imported: {result.grids} grids, {result.units} units "
        f"({result.key_units} key), {result.areas} areas — revision {result.revision}"
    )


@territory_app.command("export")
def territory_export(
    file: Annotated[Path, typer.Argument(help="where to write the GeoJSON ('-' for stdout)")],
) -> None:
    """Export the territory as GeoJSON / 导出辖区."""
    from chengyun.adapters.geo.geojson import territory_to_geojson
    from chengyun.services.territory import current_territory

    with _platform() as platform:
        _require_schema(platform)
        try:
            territory = current_territory(platform.uow())
        except DomainError as error:
            raise _fail(error) from error
    text = json.dumps(territory_to_geojson(territory), ensure_ascii=False, indent=1)
    if str(file) == "-":
        sys.stdout.write(text + "\n")
        return
    file.write_text(text + "\n", "utf-8")
    out.print(
        f"✓ 已导出 / exported {len(territory.grids)} grids, {len(territory.units)} units to {file}"
    )


@forces_app.command("import")
def forces_import(
    file: Annotated[Path, input_file("the .xlsx with 日间/夜间 (Day/Night) sheets")],
) -> None:
    """Import the day and/or night tables (all or nothing) / 导入力量表."""
    from chengyun.adapters.spreadsheets.forces_xlsx import roster_from_xlsx
    from chengyun.services.forces import import_roster
    from chengyun.services.territory import current_territory

    with _platform() as platform:
        _require_schema(platform)
        try:
            territory = current_territory(platform.uow())
            roster, shifts = roster_from_xlsx(file.read_bytes(), territory)
            import_roster(platform.uow(), roster, shifts)
        except DomainError as error:
            raise _fail(error) from error
    out.print(
        f"✓ 已导入 / imported {', '.join(s.label for s in shifts)}: {len(roster.people)} "
        f"people, {len(roster.assignments)} assignments"
    )


@forces_app.command("export")
def forces_export(
    file: Annotated[Path, typer.Argument(help="the .xlsx to write")],
    template: Annotated[bool, typer.Option(help="a blank template with the code lists")] = False,
    shift: Annotated[list[Shift] | None, typer.Option(help="only this table (day/night)")] = None,
) -> None:
    """Export the day and night tables / 导出力量表."""
    from chengyun.adapters.spreadsheets.forces_xlsx import roster_to_xlsx
    from chengyun.domain.forces import Roster
    from chengyun.services.territory import current_territory

    with _platform() as platform:
        _require_schema(platform)
        try:
            territory = current_territory(platform.uow())
        except DomainError as error:
            raise _fail(error) from error
        with platform.uow() as uow:
            roster = Roster((), ()) if template else uow.forces.roster()
    file.write_bytes(roster_to_xlsx(roster, territory, shift or list(Shift)))
    out.print(f"✓ 已导出 / exported {len(roster.people)} people to {file}")


taxonomy_app = typer.Typer(
    help="分类 / Case taxonomy and rules (.xlsx or .json).", no_args_is_help=True
)
app.add_typer(taxonomy_app, name="taxonomy")
TAXONOMY_FORMATS = (".xlsx", ".json")


def _taxonomy_format(file: Path) -> str:
    suffix = file.suffix.lower()
    if suffix not in TAXONOMY_FORMATS:
        err.print(
            f"[bold red]✗ {file}: 文件须为 .xlsx 或 .json / the file must end in .xlsx or .json[/]"
        )
        raise typer.Exit(code=1)
    return suffix


def _taxonomy_summary(kinds: list[str]) -> str:
    """``kinds``: the kind of every subclass (``component`` / ``event``)."""
    return (
        f"{len(kinds)} subclasses ({kinds.count('component')} components, "
        f"{kinds.count('event')} events)"
    )


@taxonomy_app.command("export")
def taxonomy_export(
    file: Annotated[Path, typer.Argument(help="the .xlsx or .json to write")],
    default: Annotated[
        bool, typer.Option("--default", help="the shipped default, not the one in force")
    ] = False,
) -> None:
    """Export the taxonomy in force (or the shipped default) / 导出分类."""
    from chengyun.adapters.spreadsheets.taxonomy_xlsx import taxonomy_to_xlsx
    from chengyun.adapters.taxonomy_file import (
        default_taxonomy_json,
        load_default_taxonomy,
        taxonomy_to_json,
    )
    from chengyun.services.taxonomy import current_taxonomy

    suffix = _taxonomy_format(file)
    taxonomy = load_default_taxonomy()
    if not default:
        with _platform() as platform:
            _require_schema(platform)
            taxonomy = current_taxonomy(platform.uow(), taxonomy)
    if suffix == ".xlsx":
        file.write_bytes(taxonomy_to_xlsx(taxonomy))
    else:
        shipped = default_taxonomy_json() if default else {}
        document = taxonomy_to_json(
            taxonomy, source=shipped.get("source"), version=shipped.get("version")
        )
        file.write_text(json.dumps(document, ensure_ascii=False, indent=1) + "\n", "utf-8")
    out.print(
        f"✓ 已导出 / exported {_taxonomy_summary([s.kind.value for s in taxonomy])} to {file}"
    )


@taxonomy_app.command("import")
def taxonomy_import(
    file: Annotated[
        Path, input_file('the .xlsx (sheet "分类 Taxonomy") or .json ({"subclasses": [...]})')
    ],
) -> None:
    """Replace the taxonomy (all or nothing) / 导入分类."""
    from chengyun.adapters.spreadsheets.taxonomy_xlsx import taxonomy_from_xlsx
    from chengyun.adapters.taxonomy_file import load_default_taxonomy, taxonomy_from_json
    from chengyun.services.taxonomy import replace_taxonomy

    suffix = _taxonomy_format(file)
    data: object = None
    if suffix == ".json":
        try:
            data = json.loads(file.read_text("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            err.print(f"[bold red]✗ {file}: 不是有效的JSON / not valid JSON: {exc}[/]")
            raise typer.Exit(code=1) from exc
    with _platform() as platform:
        _require_schema(platform)
        try:
            taxonomy = (
                taxonomy_from_json(data)
                if suffix == ".json"
                else taxonomy_from_xlsx(file.read_bytes())
            )
            replace_taxonomy(platform.uow(), taxonomy, default=load_default_taxonomy())
        except DomainError as error:
            raise _fail(error) from error
    out.print(f"✓ 已导入 / imported {_taxonomy_summary([s.kind.value for s in taxonomy])}")


@taxonomy_app.command("reset")
def taxonomy_reset() -> None:
    """Put the shipped default taxonomy back in force / 恢复默认分类."""
    from chengyun.adapters.taxonomy_file import load_default_taxonomy
    from chengyun.services.taxonomy import reset_taxonomy

    with _platform() as platform:
        _require_schema(platform)
        try:
            taxonomy = reset_taxonomy(platform.uow(), load_default_taxonomy())
        except DomainError as error:
            raise _fail(error) from error
    out.print(
        f"✓ 已恢复默认分类 / the shipped taxonomy is in force: {_taxonomy_summary([s.kind.value for s in taxonomy])}"
    )


audit_app = typer.Typer(help="审计 / The hash-chained audit log.", no_args_is_help=True)
accounts_app = typer.Typer(help="账号 / Accounts and API tokens.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
app.add_typer(accounts_app, name="accounts")


@audit_app.command("verify")
def audit_verify(
    after: Annotated[
        str | None,
        typer.Option(
            help="the hash of the last record archived (kept with the archive), when older "
            "months were taken out of the log / 已归档的最后一条记录的哈希"
        ),
    ] = None,
) -> None:
    """Check that no audit record was altered or removed / 校验审计链."""
    from chengyun.services.accounts import verify_audit

    with _platform() as platform:
        _require_schema(platform)
        try:
            count, breaks, head = verify_audit(platform.uow(), after, ("--after",))
        except DomainError as error:
            raise _fail(error) from error
    if breaks:
        err.print(f"[bold red]✗ 审计链断裂 / the audit chain is broken ({len(breaks)} place(s))[/]")
        for found in breaks:
            err.print(f"  record {found.record_id}: {found.reason}")
        raise typer.Exit(code=1)
    since = f", from {after.strip().lower()}" if after else ""
    out.print(f"✓ 审计链完整 / audit chain intact: {count} records{since}; head {head or '-'}")


@accounts_app.command("add")
def accounts_add(
    username: Annotated[str, typer.Argument(help="login name")],
    role: Annotated[str, typer.Option(help="administrator, operator, system, …")],
    scope_kind: Annotated[str, typer.Option(help="sub_district, grid, unit, department")] = (
        "sub_district"
    ),
    scope_code: Annotated[str | None, typer.Option(help="the grid/unit/department code")] = None,
    person: Annotated[str | None, typer.Option(help="the person number (编号) it belongs to")] = (
        None
    ),
    password: Annotated[
        str | None,
        typer.Option(help="omit for a system account that only uses tokens", prompt=False),
    ] = None,
) -> None:
    """Create an account / 新建账号."""
    from chengyun.entrypoints.api.security import Argon2Passwords
    from chengyun.services.accounts import create_account
    from chengyun.services.records import NewAccount

    with _platform() as platform:
        _require_schema(platform)
        try:
            account = create_account(
                platform.uow(),
                platform.clock,
                Argon2Passwords(),
                "cli",
                NewAccount(username, None, role, scope_kind, scope_code, person),
                password,
            )
        except DomainError as error:
            raise _fail(error) from error
    out.print(f"✓ 账号已建 / account created: {account.username} ({account.role})")


@accounts_app.command("token")
def accounts_token(
    username: Annotated[str, typer.Argument(help="the account")],
    name: Annotated[str, typer.Option(help="what the token is for")] = "cli",
    days: Annotated[float | None, typer.Option(help="lifetime in days; omit: no expiry")] = None,
) -> None:
    """Issue an API token for an account and print it once / 签发令牌."""
    from datetime import timedelta

    from chengyun.services.accounts import issue_token

    with _platform() as platform:
        _require_schema(platform)
        with platform.uow() as uow:
            account = uow.accounts.by_username(username)
        if account is None:
            err.print(f"[bold red]✗ 没有账号 {username} / no account {username}[/]")
            raise typer.Exit(code=1)
        raw, token = issue_token(
            platform.uow(),
            platform.clock,
            account,
            name,
            ttl=timedelta(days=days) if days else None,
        )
    out.print(f"token {token.id} for {username}: {raw}")


class _ProgressBar:
    """A rich progress bar on stderr (only on a terminal), one line per table or stage;
    called as ``bar(stage, done, total)``."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TaskID,
            TextColumn,
            TimeElapsedColumn,
        )

        self._bar = Progress(
            TextColumn("{task.description:<22}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
            disable=not err.is_terminal,
        )
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> _ProgressBar:
        self._bar.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._bar.stop()

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage not in self._tasks:
            self._tasks[stage] = self._bar.add_task(stage, total=total)
        self._bar.update(self._tasks[stage], completed=done, total=total)


@app.command()
def backup(
    file: Annotated[Path, typer.Argument(help="the .zip to write (replaced once complete)")],
    no_photos: Annotated[
        bool, typer.Option("--no-photos", help="the database only, without the case photos")
    ] = False,
) -> None:
    """Back up the database and the photos to one .zip / 备份数据库和照片."""
    from chengyun.adapters.backup import create_backup

    with _platform() as platform:
        _require_schema(platform)
        try:
            with _ProgressBar() as progress:
                summary = create_backup(
                    platform.engine,
                    file,
                    None if no_photos else platform.photos,
                    progress=progress,
                )
        except DomainError as error:
            raise _fail(error) from error
    manifest = summary.manifest
    for table in summary.unknown_tables:
        err.print(f"[yellow]! 未备份 / not backed up: table {table} is unknown to chengyun[/]")
    for name in manifest.missing_photos:
        err.print(f"[yellow]! 照片文件缺失 / photo file missing from the store: {name}[/]")
    photos = "no photos" if no_photos else f"{manifest.photos} photos"
    size = (
        f"{summary.size / 1024 / 1024:.1f} MB"
        if summary.size >= 1024 * 1024
        else f"{summary.size / 1024:.0f} KB"
    )
    out.print(
        f"✓ 已备份 / backed up {sum(manifest.row_counts.values())} rows in "
        f"{len(manifest.tables)} tables and {photos} (revision {manifest.revision}) to "
        f"{summary.path} ({size})"
    )


@app.command()
def restore(
    file: Annotated[Path, typer.Argument(help="a .zip written by `chengyun backup`")],
    force: Annotated[
        bool,
        typer.Option("--force", help="delete everything in the database first (same transaction)"),
    ] = False,
) -> None:
    """Restore a backup into an empty database at its schema revision / 从备份恢复."""
    from chengyun.adapters.backup import restore_backup

    with _platform() as platform:
        try:
            with _ProgressBar() as progress:
                summary = restore_backup(
                    platform.engine, file, platform.photos, force=force, progress=progress
                )
        except DomainError as error:
            raise _fail(error) from error
        url = platform.engine.url.render_as_string(hide_password=True)
    manifest = summary.manifest
    photos = (
        f"{summary.photos_copied} photos copied, {summary.photos_present} already there"
        + (f", {summary.photos_replaced} damaged ones replaced" if summary.photos_replaced else "")
        if manifest.photos_included
        else "the backup holds no photos"
    )
    out.print(
        f"✓ 已恢复 / restored {sum(manifest.row_counts.values())} rows in "
        f"{len(manifest.tables)} tables (backup of {manifest.created_at:%Y-%m-%d %H:%M %Z}, "
        f"revision {manifest.revision}) into {url}"
        + (" after emptying it" if summary.emptied else "")
        + f"; {photos}"
    )


report_app = typer.Typer(help="报表 / Published reports.", no_args_is_help=True)
app.add_typer(report_app, name="report")


@report_app.command("monthly")
def report_monthly(
    month: Annotated[str, typer.Option(help="the month, e.g. 2020-07 (China time)")],
    out_dir: Annotated[
        Path, typer.Option("--out", help="the folder to write the two files to", file_okay=False)
    ] = Path("."),
) -> None:
    """The monthly assessment report, .xlsx and printable PDF / 督查考核月报."""
    from chengyun.adapters.db.assessment import settings_store
    from chengyun.adapters.db.measures import reader
    from chengyun.adapters.reports.monthly import filename, monthly_pdf, monthly_xlsx
    from chengyun.domain.assessment import parse_month
    from chengyun.services.assessment import monthly_assessment

    stage = "督查考核月报 report"
    with _platform() as platform:
        _require_schema(platform)
        try:
            now = platform.clock.now()
            period = parse_month(month, now)
            with _ProgressBar() as progress:
                progress(stage, 0, 3)
                assessment = monthly_assessment(
                    platform.read_uow(), reader, settings_store, period, now
                )
                progress(stage, 1, 3)
                workbook = monthly_xlsx(assessment)
                progress(stage, 2, 3)
                document = monthly_pdf(assessment)
                progress(stage, 3, 3)
        except DomainError as error:
            raise _fail(error) from error
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for content, suffix in ((workbook, "xlsx"), (document, "pdf")):
        path = out_dir / filename(assessment, suffix)
        path.write_bytes(content)
        written.append(str(path))
    scored = [
        f"{sum(1 for s in ranking if s.rank is not None)}/{len(ranking)}"
        for ranking in (assessment.discovery, assessment.handling)
    ]
    out.print(
        f"✓ 已生成 {assessment.month} 督查考核月报 / monthly report written: {', '.join(written)} "
        f"(scored: {scored[0]} discovery units, {scored[1]} handling units)"
    )


measures_app = typer.Typer(help="考核指标 / The measures.", no_args_is_help=True)
app.add_typer(measures_app, name="measures")


@measures_app.command("rebuild")
def measures_rebuild() -> None:
    """Recompute every case's measure profile from its facts / 重算案件考核画像.

    The profiles are written with each case; this is for after facts were changed in the
    database by hand, or a rule of the measures changed. One transaction: on failure the
    old profiles stay."""
    from chengyun.adapters.db.case_measures import rebuild_profiles

    with _platform() as platform:
        _require_schema(platform)
        with _ProgressBar() as progress, platform.engine.begin() as connection:
            count = rebuild_profiles(connection, progress=progress)
    out.print(f"✓ 已重算 {count} 件案件的考核画像 / measure profiles of {count} cases rebuilt")


# integrations: each peer's command group below (``app.add_typer(...)``), one line each
from chengyun.entrypoints.cli_simulate import simulate as simulate_command  # noqa: E402

app.command("simulate")(simulate_command)
from chengyun.entrypoints.cli_outbox import outbox_app  # noqa: E402

app.add_typer(outbox_app, name="outbox")
from chengyun.entrypoints.cli_vision import cameras_app  # noqa: E402

app.add_typer(cameras_app, name="cameras")
from chengyun.entrypoints.cli_apps import apps_app  # noqa: E402

app.add_typer(apps_app, name="apps")
from chengyun.entrypoints.cli_shops import shops_app  # noqa: E402

app.add_typer(shops_app, name="shops")
from chengyun.entrypoints.cli_hotline import gazetteer_app, hotline_app  # noqa: E402

app.add_typer(hotline_app, name="hotline")
app.add_typer(gazetteer_app, name="gazetteer")
from chengyun.entrypoints.cli_wecom import wecom_app  # noqa: E402

app.add_typer(wecom_app, name="wecom")
from chengyun.entrypoints.cli_partitions import db_partitions  # noqa: E402

db_app.command("partitions")(db_partitions)


def main() -> None:
    try:
        app()
    except ValueError as exc:  # unsafe settings are refused with their reason
        err.print(f"[bold red]✗ {exc}[/]")
        sys.exit(2)


if __name__ == "__main__":
    main()
