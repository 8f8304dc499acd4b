"""What a simulation leaves behind: an ``.xlsx`` workbook (bilingual sheets, with charts)
and PNG charts drawn with Pillow (English labels: a CJK font may be missing), for one run
or two rosters side by side.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.chart import BarChart, Reference
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from PIL import Image, ImageDraw, ImageFont

from chengyun.domain.cases import Channel
from chengyun.domain.forces import Shift
from chengyun.domain.measures import TARGETS, Duration, Measure, Ratio
from chengyun.domain.working_time import as_china_time
from chengyun.simulation.engine import SimulationResult
from chengyun.simulation.incidents import write_recorded

#: The measures the grid, unit and comparison tables show (the rest are on the summary).
KEY_MEASURES = (
    Measure.FIRST_DISCOVERY_RATE,
    Measure.CLOSURE_RATE,
    Measure.URGENT_ON_TIME_ARRIVAL_RATE,
    Measure.URGENT_ON_TIME_INITIAL_RESULT_RATE,
    Measure.ON_TIME_HANDLING_RATE,
    Measure.INTELLIGENT_DISCOVERY_SHARE,
    Measure.SELF_HANDLED_SHARE,
)
_HEADER = Font(bold=True)
_FILL = PatternFill("solid", fgColor="DDEBF7")


def value_of(figure: Any) -> float | None:
    """A ratio's value, or a duration's mean in minutes."""
    if isinstance(figure, Ratio):
        return figure.value
    if isinstance(figure, Duration):
        return figure.mean_minutes
    return None


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


# --- the workbook ----------------------------------------------------------------------------


class _Sheet:
    """A write-only sheet (fast for tens of thousands of rows): a bold header, frozen,
    and the given columns (1-based) shown as percentages."""

    def __init__(
        self,
        workbook: Workbook,
        title: str,
        header: Sequence[str],
        percent: Iterable[int] = (),
        widths: Mapping[int, int] | None = None,
    ) -> None:
        self.sheet = workbook.create_sheet(title)
        self.percent = frozenset(percent)
        for index, text in enumerate(header, start=1):
            width = (widths or {}).get(index) or max(10, min(40, len(str(text)) + 4))
            self.sheet.column_dimensions[get_column_letter(index)].width = width
        self.sheet.freeze_panes = "A2"
        self.heading(header)

    def heading(self, values: Sequence[Any]) -> None:
        cells = []
        for value in values:
            cell = WriteOnlyCell(self.sheet, value)
            cell.font = _HEADER
            cell.fill = _FILL
            cells.append(cell)
        self.sheet.append(cells)

    def append(self, values: Sequence[Any], percent: Iterable[int] | None = None) -> None:
        columns = self.percent if percent is None else frozenset(percent)
        row: list[Any] = []
        for index, value in enumerate(values, start=1):
            if index in columns and isinstance(value, float):
                cell = WriteOnlyCell(self.sheet, value)
                cell.number_format = "0.0%"
                row.append(cell)
            else:
                row.append(value)
        self.sheet.append(row)


def _sheet(
    workbook: Workbook,
    title: str,
    header: Sequence[str],
    percent: Iterable[int] = (),
    widths: Mapping[int, int] | None = None,
) -> _Sheet:
    return _Sheet(workbook, title, header, percent, widths)


def _ratio_cells(figure: Any) -> list[Any]:
    if isinstance(figure, Ratio):
        return [figure.numerator, figure.denominator, figure.value]
    if isinstance(figure, Duration):
        return [figure.count, None, figure.mean_minutes]
    return [None, None, None]


def _flatten(prefix: str, value: Any) -> Iterable[tuple[str, str]]:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from _flatten(f"{prefix}.{f.name}" if prefix else f.name, getattr(value, f.name))
    elif isinstance(value, Mapping):
        for key in sorted(value):
            yield from _flatten(f"{prefix}.{key}", value[key])
    elif isinstance(value, tuple):
        yield prefix, ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    else:
        yield prefix, value.isoformat() if isinstance(value, date) else str(value)


def _local(at: datetime | None) -> datetime | None:
    return None if at is None else as_china_time(at).replace(tzinfo=None)


def build_workbook(result: SimulationResult) -> Workbook:
    workbook = Workbook(write_only=True)
    period_end = result.period.end - timedelta(days=1)
    summary = _sheet(workbook, "概要 Summary", ["项目 Item", "值 Value"], widths={1: 36, 2: 44})
    for item, value in (
        ("名称 Run", result.name or "-"),
        ("期间 Period", f"{result.period.start.date()} – {period_end.date()}"),
        ("天数 Days", result.config.days),
        ("随机种子 Seed", result.config.seed),
        ("发生事件 Incidents", result.incidents),
        ("发现并上报 Found (cases)", result.found),
        ("期末未发现 Not found by the end", result.undiscovered),
        ("曾无人可派 Cases that waited for someone on duty", result.queued_cases),
        ("自动升级次数 Automatic escalations", result.escalations),
        ("运行秒数 Seconds to simulate", round(result.elapsed_seconds, 1)),
    ):
        summary.append([item, value])
    summary.append([])
    summary.heading(
        [
            "指标 Measure",
            "Measure",
            "分子 Numerator",
            "分母 Denominator",
            "值 Value",
            "日间 Day",
            "夜间 Night",
            "目标 Target",
        ]
    )
    for measure in Measure:
        figure = result.figures.get(measure.value)
        numerator, denominator, value = _ratio_cells(figure)
        summary.append(
            [
                measure.zh + ("（分钟）" if measure is Measure.HANDLING_TIME else ""),
                measure.en + (" (mean minutes)" if measure is Measure.HANDLING_TIME else ""),
                numerator,
                denominator,
                value,
                value_of(result.by_shift[Shift.DAY].get(measure.value)),
                value_of(result.by_shift[Shift.NIGHT].get(measure.value)),
                TARGETS.get(measure.value),
            ],
            percent=() if measure is Measure.HANDLING_TIME else (5, 6, 7, 8),
        )

    channels = _sheet(
        workbook,
        "渠道 Channels",
        ["渠道 Channel", "Channel", "案件 Cases", "占比 Share"],
        percent=(4,),
    )
    total = sum(result.channels.values())
    for channel in Channel:
        count = result.channels.get(channel.value, 0)
        channels.append([channel.zh, channel.en, count, count / total if total else None])

    group_header = ["编号 Code", "名称 Name"]
    for measure in KEY_MEASURES:
        group_header += [f"{measure.zh} 分子", f"{measure.zh} 分母", f"{measure.en}"]
    for title, groups in (("网格 Grids", result.by_grid), ("管理单元 Units", result.by_unit)):
        sheet = _sheet(
            workbook, title, group_header, percent=[5 + 3 * i for i in range(len(KEY_MEASURES))]
        )
        for key, figures in groups:
            row: list[Any] = [key, result.names.get(key or "", "")]
            for measure in KEY_MEASURES:
                row += _ratio_cells(figures.get(measure.value))
            sheet.append(row)

    hours = _sheet(
        workbook,
        "时段 Hours",
        [
            "时 Hour",
            "发生 Incidents",
            "案件 Cases",
            "超时案件 Cases gone red",
            "超时占比 Share gone red",
            "紧急15分钟到场率 Urgent on scene ≤15 min",
            "按期处置率 On-time handling",
        ],
        percent=(5, 6, 7),
    )
    for h in result.by_hour:
        hours.append(
            [
                h.hour,
                h.found,
                h.cases,
                h.missed,
                h.miss_share,
                value_of(h.figures.get(Measure.URGENT_ON_TIME_ARRIVAL_RATE.value)),
                value_of(h.figures.get(Measure.ON_TIME_HANDLING_RATE.value)),
            ]
        )
    chart = BarChart()
    chart.title = "Incidents and cases gone red by hour"
    chart.y_axis.title = "count"
    chart.x_axis.title = "hour of day"
    chart.add_data(
        Reference(hours.sheet, min_col=2, max_col=2, min_row=1, max_row=25), titles_from_data=True
    )
    chart.add_data(
        Reference(hours.sheet, min_col=4, max_col=4, min_row=1, max_row=25), titles_from_data=True
    )
    chart.set_categories(Reference(hours.sheet, min_col=1, min_row=2, max_row=25))
    chart.width, chart.height = 22, 10
    hours.sheet.add_chart(chart, "I2")

    worst = _sheet(
        workbook,
        "最差时段 Worst hours",
        ["时 Hour", "案件 Cases", "超时案件 Gone red", "超时占比 Share gone red"],
        percent=(4,),
    )
    for h in result.worst_hours():
        worst.append([h.hour, h.cases, h.missed, h.miss_share])

    staff = _sheet(
        workbook,
        "人员 Staff",
        [
            "编号 Number",
            "姓名 Name",
            "职务 Post",
            "队伍/部门 Team or department",
            "班次 Shifts",
            "任务 Jobs",
            "自处理 Solved on the spot",
            "忙碌小时 Busy hours",
            "在岗小时 On-duty hours",
            "利用率 Utilisation",
        ],
        percent=(10,),
    )
    for s in result.staff:
        staff.append(
            [
                s.number,
                s.name,
                s.post.zh,
                s.force,
                "/".join(x.zh for x in s.shifts),
                s.jobs,
                s.self_handled,
                round(s.busy_minutes / 60, 1),
                round(s.duty_minutes / 60, 1),
                s.utilisation,
            ]
        )

    sla = _sheet(
        workbook,
        "超时 SLA",
        [
            "环节 Stage",
            "Stage",
            "预警(黄灯) Warned (yellow)",
            "超时升级(红灯) Gone red (escalated)",
        ],
    )
    for stage, (warned, escalated) in result.sla.items():
        sla.append([stage.zh, stage.en, warned, escalated])

    cases = _sheet(
        workbook,
        "案件 Cases",
        [
            "案件编号 Number",
            "小类 Subclass",
            "渠道 Channel",
            "紧急程度 Urgency",
            "网格 Grid",
            "管理单元 Unit",
            "发现时间 Found at",
            "状态 Status",
            "处置人 Assignee",
            "派遣次数 Dispatches",
            "退单 Returns",
            "返工 Reworks",
            "到场分钟 Minutes to arrive",
            "处置完成 Handled at",
            "结案时间 Closed at",
        ],
    )
    for f in result.facts:
        arrive = (
            round((f.arrive_done_at - f.arrive_started_at) / timedelta(minutes=1), 1)
            if f.arrive_done_at and f.arrive_started_at
            else None
        )
        cases.append(
            [
                f.number,
                f.subclass,
                f.channel.value,
                f.urgency.value,
                f.grid_code,
                f.unit_code,
                _local(f.first_found_at),
                f.status.value,
                f.assignee or (f.handlers[-1] if f.handlers else None),
                f.dispatches,
                f.returns,
                f.reworks,
                arrive,
                _local(f.handle_done_at),
                _local(f.closed_at),
            ]
        )

    parameters = _sheet(
        workbook, "参数 Parameters", ["参数 Setting", "值 Value"], widths={1: 48, 2: 60}
    )
    for key, value in _flatten("", result.config):
        parameters.append([key, value])
    return workbook


def comparison_workbook(results: Sequence[SimulationResult]) -> Workbook:
    """Measures of several rosters on the same incidents, side by side."""
    workbook = Workbook(write_only=True)
    names = [r.name or f"#{i + 1}" for i, r in enumerate(results)]
    sheet = _sheet(
        workbook,
        "对比 Comparison",
        ["指标 Measure", "Measure", "范围 Part", *names, "差 Δ"],
        widths={1: 24, 2: 40},
    )
    for measure in Measure:
        for part, shift in (
            ("全天 All", None),
            ("日间 Day", Shift.DAY),
            ("夜间 Night", Shift.NIGHT),
        ):
            values = [
                value_of((r.figures if shift is None else r.by_shift[shift]).get(measure.value))
                for r in results
            ]
            delta = (
                values[-1] - values[0]
                if len(values) > 1 and values[0] is not None and values[-1] is not None
                else None
            )
            sheet.append(
                [measure.zh, measure.en, part, *values, delta],
                percent=() if measure is Measure.HANDLING_TIME else range(4, 5 + len(results)),
            )
    totals = _sheet(workbook, "总量 Totals", ["项目 Item", *names], widths={1: 40})
    rows: list[tuple[str, list[Any]]] = [
        ("发生事件 Incidents", [r.incidents for r in results]),
        ("案件 Cases", [r.found for r in results]),
        ("期末未发现 Not found", [r.undiscovered for r in results]),
        ("曾无人可派 Waited for someone on duty", [r.queued_cases for r in results]),
        ("自动升级 Escalations", [r.escalations for r in results]),
        (
            "人员平均利用率 Mean utilisation",
            [
                sum(s.utilisation for s in r.staff) / len(r.staff) if r.staff else None
                for r in results
            ],
        ),
    ]
    for item, values in rows:
        totals.append([item, *values])
    return workbook


# --- PNG charts (Pillow) ---------------------------------------------------------------------

_W, _H = 960, 540
_MARGIN = (80, 60, 30, 70)  # left, top, right, bottom
_COLOURS = ("#1565c0", "#c62828", "#2e7d32", "#f9a825", "#6a1b9a", "#00838f", "#8d6e63")


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _frame(title: str, y_label: str, x_label: str) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    image = Image.new("RGB", (_W, _H), "white")
    draw = ImageDraw.Draw(image)
    draw.text((_W // 2, 18), title, fill="black", font=_font(20), anchor="mt")
    left, top, right, bottom = _MARGIN
    draw.line([(left, top), (left, _H - bottom), (_W - right, _H - bottom)], fill="black")
    draw.text(
        (14, top + (_H - top - bottom) // 2), y_label, fill="black", font=_font(13), anchor="lm"
    )
    draw.text((_W // 2, _H - 18), x_label, fill="black", font=_font(14), anchor="mb")
    return image, draw


def _y_axis(draw: ImageDraw.ImageDraw, top_value: float, percent: bool) -> None:
    left, top, right, bottom = _MARGIN
    height = _H - top - bottom
    for i in range(5):
        value = top_value * i / 4
        y = _H - bottom - height * i / 4
        draw.line([(left - 4, y), (_W - right, y)], fill="#e0e0e0" if i else "black")
        text = f"{value * 100:.0f}%" if percent else f"{value:.0f}"
        draw.text((left - 8, y), text, fill="black", font=_font(12), anchor="rm")


def bar_chart(
    path: Path,
    title: str,
    categories: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    *,
    y_label: str = "",
    x_label: str = "",
    percent: bool = False,
) -> Path:
    """Grouped vertical bars, one colour per series, with a legend."""
    image, draw = _frame(title, y_label, x_label)
    left, top, right, bottom = _MARGIN
    width, height = _W - left - right, _H - top - bottom
    values = [v for s in series.values() for v in s if v is not None]
    top_value = 1.0 if percent else max([*values, 1.0]) * 1.1
    _y_axis(draw, top_value, percent)
    slot = width / max(len(categories), 1)
    bar = slot * 0.8 / max(len(series), 1)
    for s_index, (name, data) in enumerate(series.items()):
        colour = _COLOURS[s_index % len(_COLOURS)]
        for c_index, value in enumerate(data):
            if value is None:
                continue
            x0 = left + c_index * slot + slot * 0.1 + s_index * bar
            y0 = _H - bottom - height * min(value / top_value, 1.0)
            draw.rectangle([x0, y0, x0 + bar - 1, _H - bottom], fill=colour)
        draw.rectangle(
            [_W - right - 190, top + 4 + 18 * s_index, _W - right - 178, top + 16 + 18 * s_index],
            fill=colour,
        )
        draw.text(
            (_W - right - 172, top + 10 + 18 * s_index),
            name,
            fill="black",
            font=_font(12),
            anchor="lm",
        )
    step = max(1, len(categories) // 24)
    for c_index, label in enumerate(categories):
        if c_index % step:
            continue
        x = left + c_index * slot + slot / 2
        draw.text((x, _H - bottom + 6), label, fill="black", font=_font(11), anchor="mt")
    image.save(path)
    return path


def line_over_bars(
    path: Path,
    title: str,
    categories: Sequence[str],
    bars: Sequence[float],
    line: Sequence[float | None],
    *,
    bar_label: str,
    line_label: str,
    x_label: str,
) -> Path:
    """Bars (counts, left axis) with a line (a rate, 0–100 % on the right axis)."""
    image, draw = _frame(title, bar_label, x_label)
    left, top, right, bottom = _MARGIN
    width, height = _W - left - right, _H - top - bottom
    top_value = max([*list(bars), 1.0]) * 1.1
    _y_axis(draw, top_value, False)
    slot = width / max(len(categories), 1)
    for i, value in enumerate(bars):
        x0 = left + i * slot + slot * 0.15
        y0 = _H - bottom - height * value / top_value
        draw.rectangle([x0, y0, x0 + slot * 0.7, _H - bottom], fill="#90caf9")
        draw.text(
            (x0 + slot * 0.35, _H - bottom + 6),
            categories[i],
            fill="black",
            font=_font(11),
            anchor="mt",
        )
    points = [
        (left + i * slot + slot / 2, _H - bottom - height * v)
        for i, v in enumerate(line)
        if v is not None
    ]
    if len(points) > 1:
        draw.line(points, fill="#c62828", width=3)
    for x, y in points:
        draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill="#c62828")
    for i in range(5):
        y = _H - bottom - height * i / 4
        draw.text((_W - right + 2, y), f"{25 * i}%", fill="#c62828", font=_font(11), anchor="lm")
    draw.rectangle([left + 10, top + 4, left + 22, top + 16], fill="#90caf9")
    draw.text((left + 28, top + 10), bar_label, fill="black", font=_font(12), anchor="lm")
    draw.line([(left + 10, top + 30), (left + 22, top + 30)], fill="#c62828", width=3)
    draw.text((left + 28, top + 30), line_label, fill="black", font=_font(12), anchor="lm")
    image.save(path)
    return path


def _short(measure: Measure) -> str:
    return {
        Measure.FIRST_DISCOVERY_RATE: "first found",
        Measure.CLOSURE_RATE: "closed",
        Measure.URGENT_ON_TIME_ARRIVAL_RATE: "urgent <=15'",
        Measure.URGENT_ON_TIME_INITIAL_RESULT_RATE: "urgent <=1h",
        Measure.ON_TIME_HANDLING_RATE: "on-time handling",
        Measure.INTELLIGENT_DISCOVERY_SHARE: "video AI",
        Measure.SELF_HANDLED_SHARE: "self-handled",
    }.get(measure, measure.value)


def write_charts(result: SimulationResult, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    hours = [f"{h.hour}" for h in result.by_hour]
    paths = [
        line_over_bars(
            folder / "hours.png",
            "Cases by hour found, and urgent cases on scene within 15 minutes",
            hours,
            [h.cases for h in result.by_hour],
            [
                value_of(h.figures.get(Measure.URGENT_ON_TIME_ARRIVAL_RATE.value))
                for h in result.by_hour
            ],
            bar_label="cases",
            line_label="urgent on scene <=15 min (right axis)",
            x_label="hour of day",
        ),
        bar_chart(
            folder / "measures.png",
            "Measures, day and night",
            [_short(m) for m in KEY_MEASURES],
            {
                "all": [value_of(result.figures.get(m.value)) for m in KEY_MEASURES],
                "day": [value_of(result.by_shift[Shift.DAY].get(m.value)) for m in KEY_MEASURES],
                "night": [
                    value_of(result.by_shift[Shift.NIGHT].get(m.value)) for m in KEY_MEASURES
                ],
            },
            y_label="rate",
            percent=True,
        ),
        bar_chart(
            folder / "channels.png",
            "Who found the problem first (share of cases)",
            [c.value for c in Channel],
            {
                "share": [
                    result.channels.get(c.value, 0) / max(sum(result.channels.values()), 1)
                    for c in Channel
                ]
            },
            y_label="share",
            percent=True,
        ),
    ]
    buckets = [0] * 11
    for s in result.staff:
        buckets[min(int(s.utilisation * 10), 10)] += 1
    paths.append(
        bar_chart(
            folder / "utilisation.png",
            "Staff by utilisation (busy / on-duty time)",
            [f"{10 * i}%" for i in range(10)] + [">=100%"],
            {"people": [float(b) for b in buckets]},
            y_label="people",
            x_label="utilisation",
        )
    )
    return paths


def write_outputs(result: SimulationResult, folder: Path) -> list[Path]:
    """``simulation.xlsx`` and the PNG charts in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    workbook_path = folder / "simulation.xlsx"
    build_workbook(result).save(workbook_path)
    incidents_path = folder / "incidents.xlsx"
    incidents_path.write_bytes(write_recorded(result.incident_list, result.config.start))
    return [workbook_path, incidents_path, *write_charts(result, folder)]


def write_comparison(results: Sequence[SimulationResult], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    workbook_path = folder / "comparison.xlsx"
    comparison_workbook(results).save(workbook_path)
    chart = bar_chart(
        folder / "comparison.png",
        "Rosters compared on the same incidents",
        [_short(m) for m in KEY_MEASURES],
        {
            (r.name or f"#{i + 1}"): [value_of(r.figures.get(m.value)) for m in KEY_MEASURES]
            for i, r in enumerate(results)
        },
        y_label="rate",
        percent=True,
    )
    night = bar_chart(
        folder / "comparison_night.png",
        "Rosters compared at night",
        [_short(m) for m in KEY_MEASURES],
        {
            (r.name or f"#{i + 1}"): [
                value_of(r.by_shift[Shift.NIGHT].get(m.value)) for m in KEY_MEASURES
            ]
            for i, r in enumerate(results)
        },
        y_label="rate",
        percent=True,
    )
    return [workbook_path, chart, night]
