"""The published monthly assessment report (督查考核月报): an .xlsx workbook (summary with
the seed's two targets, both rankings with a native chart, the figures behind every score,
the weights) and a printable A4 PDF drawn with ReportLab.

Chinese is set in ReportLab's built-in CID font ``STSong-Light`` (Adobe's Asian font
pack, which PDF readers supply), so nothing depends on the fonts of the machine that
writes the report. Given the same assessment, both files hold the same content.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

from openpyxl import Workbook
from openpyxl.chart import BarChart, Reference
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from chengyun.domain.assessment import (
    DEFAULT_WEIGHTS,
    INDICATORS,
    Component,
    Family,
    Standing,
    TargetCheck,
    published,
)
from chengyun.domain.measures import Ratio
from chengyun.domain.working_time import as_china_time
from chengyun.services.assessment import MonthlyAssessment

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PDF = "application/pdf"

SUMMARY_TITLE = "摘要 Summary"
RANKING_TITLES = {
    Family.DISCOVERY: "发现主体单位排名 Discovery",
    Family.HANDLING: "处置单位排名 Handling",
}
FIGURES_TITLE = "得分依据 Figures"
WEIGHTS_TITLE = "权重 Weights"
SHEET_TITLES = (SUMMARY_TITLE, *RANKING_TITLES.values(), FIGURES_TITLE, WEIGHTS_TITLE)

TITLE_ZH = "城运中心督查考核月报"
TITLE_EN = "Monthly assessment report"
SCOPE_LABELS = {"key": "重点管理单元 Key units", "all": "全街道 Whole sub-district"}


def filename(assessment: MonthlyAssessment, suffix: str) -> str:
    """``monthly-assessment-2020-07.xlsx`` (ASCII, safe in any download header)."""
    return f"monthly-assessment-{assessment.month}.{suffix}"


# --- words shared by both files --------------------------------------------------------------


def _month_zh(assessment: MonthlyAssessment) -> str:
    start = as_china_time(assessment.period.start)
    return f"{start.year}年{start.month}月"


def _month_en(assessment: MonthlyAssessment) -> str:
    return as_china_time(assessment.period.start).strftime("%B %Y")


def _when(at: datetime) -> str:
    return as_china_time(at).strftime("%Y-%m-%d %H:%M") + " (UTC+8)"


def _title(assessment: MonthlyAssessment) -> str:
    return f"{assessment.sub_district_name}{TITLE_ZH}（{_month_zh(assessment)}）"


def _weights_note(assessment: MonthlyAssessment) -> str:
    weights = assessment.weights
    if weights.default:
        return "默认权重 / default weights"
    when = _when(weights.updated_at) if weights.updated_at else "-"
    return f"{weights.updated_by} 于 {when} 设定 / set by {weights.updated_by} at {when}"


def _points(value: Fraction | Decimal | None) -> float | None:
    if value is None:
        return None
    return float(published(Fraction(value)))


def _rate(figure: Ratio | None) -> float | None:
    return figure.value if figure is not None else None


def _met(check: TargetCheck) -> str:
    return {True: "达标 met", False: "未达标 not met", None: "无数据 no data"}[check.met]


def _weight(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def _unit_type(standing: Standing) -> str:
    return standing.unit.type.zh


# --- the workbook ----------------------------------------------------------------------------

_HEADER_FONT = Font(bold=True, color="FFFFFF")
_HEADER_FILL = PatternFill("solid", fgColor="1F4E79")
_PERCENT = "0.00%"
_POINTS = "0.00"


def _header(sheet: Worksheet, row: int, titles: Sequence[str], widths: Sequence[int]) -> None:
    for i, (title, width) in enumerate(zip(titles, widths, strict=True), start=1):
        cell = sheet.cell(row=row, column=i, value=title)
        cell.font = _HEADER_FONT
        cell.fill = _HEADER_FILL
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        letter = get_column_letter(i)
        sheet.column_dimensions[letter].width = max(
            sheet.column_dimensions[letter].width or 0, width
        )


def _write_summary(sheet: Worksheet, a: MonthlyAssessment) -> None:
    sheet.append([f"{_title(a)} / {TITLE_EN}, {_month_en(a)}"])
    sheet["A1"].font = Font(bold=True, size=14)
    start, end = as_china_time(a.period.start), as_china_time(a.period.end)
    for label, value in (
        ("街道 Sub-district", f"{a.sub_district_name} ({a.sub_district_code})"),
        ("月份 Month", a.month),
        ("统计期间 Period", f"{start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} (UTC+8, end excluded)"),
        ("生成时间 Generated at", _when(a.generated_at)),
        ("权重 Weights", _weights_note(a)),
    ):
        sheet.append([label, value])
        sheet.cell(row=sheet.max_row, column=1).font = Font(bold=True)
    sheet.append([])
    sheet.append(["目标完成情况 Targets (seed: key units first-discovery ≥ 85 %, closure ≥ 97 %)"])
    sheet.cell(row=sheet.max_row, column=1).font = Font(bold=True, size=12)
    row = sheet.max_row + 1
    _header(
        sheet,
        row,
        [
            "指标 Measure",
            "范围 Scope",
            "目标 Target",
            "实际 Value",
            "分子 Numerator",
            "分母 Denominator",
            "是否达标 Met",
        ],
        [30, 26, 12, 12, 14, 14, 16],
    )
    for scope, checks in (("key", a.key_targets), ("all", a.all_targets)):
        for check in checks:
            sheet.append(
                [
                    check.measure.label,
                    SCOPE_LABELS[scope],
                    float(check.target),
                    check.figure.value,
                    check.figure.numerator,
                    check.figure.denominator,
                    _met(check),
                ]
            )
            current = sheet.max_row
            sheet.cell(row=current, column=3).number_format = _PERCENT
            sheet.cell(row=current, column=4).number_format = _PERCENT
    sheet.append([])
    sheet.append(["参评单位 Units assessed"])
    sheet.cell(row=sheet.max_row, column=1).font = Font(bold=True, size=12)
    for family in Family:
        ranking = a.ranking(family)
        ranked = [s for s in ranking if s.rank is not None]
        top = ranked[0] if ranked else None
        sheet.append(
            [
                family.label,
                f"{len(ranked)} / {len(ranking)} 有得分 scored",
                f"第一名 first: {top.unit.name} ({top.score.published})" if top else "-",
            ]
        )
    sheet.append([])
    sheet.append(
        [
            "得分 = Σ 得分率 × 权重 ÷ 计分权重 × 100；得分率为比率，退单率、返工率、漏报率取 1 - 比率；"
            "无可计数据的指标不计分，其权重按比例分摊。"
        ]
    )
    sheet.append(
        [
            "Score = Σ credit × weight ÷ measured weight × 100; the credit is the rate, or 1 - rate "
            "for the missed-report, return and rework rates; an indicator with nothing to count is "
            "left out and its weight shared out over the others. See the Figures sheet."
        ]
    )
    sheet.column_dimensions["A"].width = 34


def _ranking_columns(family: Family) -> list[tuple[str, int]]:
    columns = [
        ("名次 Rank", 8),
        ("类型 Type", 16),
        ("编号 Code", 18),
        ("名称 Name", 26),
        ("重点 Key", 8),
        ("综合得分 Score", 12),
    ]
    columns += [(f"{i.zh} 得分 points", 14) for i in INDICATORS[family]]
    columns.append(("计分权重 Measured weight", 14))
    return columns


def _write_ranking(sheet: Worksheet, a: MonthlyAssessment, family: Family) -> None:
    columns = _ranking_columns(family)
    _header(sheet, 1, [c[0] for c in columns], [c[1] for c in columns])
    ranking = a.ranking(family)
    for standing in ranking:
        score = standing.score
        sheet.append(
            [
                standing.rank,
                _unit_type(standing),
                standing.unit.code,
                standing.unit.name,
                "★" if standing.unit.key else None,
                _points(score.published),
                *[_points(c.points) for c in score.components],
                _weight(score.measured_weight),
            ]
        )
        row = sheet.max_row
        for column in range(6, 6 + len(score.components) + 1):
            sheet.cell(row=row, column=column).number_format = _POINTS
    sheet.freeze_panes = "A2"
    ranked = sum(1 for s in ranking if s.rank is not None)
    if ranked:
        chart = BarChart()
        chart.type = "bar"
        chart.style = 10
        chart.title = f"{family.zh}综合得分 {family.en} scores"
        chart.y_axis.title = "得分 Score"
        chart.y_axis.scaling.min = 0
        chart.y_axis.scaling.max = 100
        chart.x_axis.scaling.orientation = "maxMin"  # rank 1 on top
        chart.x_axis.delete = False
        chart.y_axis.delete = False
        chart.legend = None
        chart.add_data(
            Reference(sheet, min_col=6, min_row=1, max_row=1 + ranked), titles_from_data=True
        )
        chart.set_categories(Reference(sheet, min_col=4, min_row=2, max_row=1 + ranked))
        chart.width = 18
        chart.height = max(7.5, 0.6 * ranked + 3)
        sheet.add_chart(chart, f"{get_column_letter(len(columns) + 2)}2")


def _write_figures(sheet: Worksheet, a: MonthlyAssessment) -> None:
    titles = [
        ("考核对象 Family", 16),
        ("类型 Type", 16),
        ("编号 Code", 18),
        ("名称 Name", 24),
        ("指标 Indicator", 30),
        ("计分 Scored as", 22),
        ("分子 Numerator", 12),
        ("分母 Denominator", 12),
        ("比率 Rate", 10),
        ("得分率 Credit", 10),
        ("权重 Weight", 10),
        ("得分 Points", 10),
        ("说明 Note", 40),
    ]
    _header(sheet, 1, [t[0] for t in titles], [t[1] for t in titles])
    for family in Family:
        for standing in a.ranking(family):
            for c in standing.score.components:
                sheet.append(_figure_row(family, standing, c))
                row = sheet.max_row
                sheet.cell(row=row, column=9).number_format = _PERCENT
                sheet.cell(row=row, column=10).number_format = _PERCENT
                sheet.cell(row=row, column=12).number_format = _POINTS
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(titles))}{sheet.max_row}"


def _figure_row(family: Family, standing: Standing, c: Component) -> list[Any]:
    figure = c.figure
    if figure is None:
        note = c.note or "不适用 / not measurable"
    elif not figure.denominator:
        note = "本月无可计案件，不计分 / nothing to count this month: left out"
    else:
        note = c.note
    return [
        family.zh,
        _unit_type(standing),
        standing.unit.code,
        standing.unit.name,
        c.indicator.measure.label,
        f"{c.indicator.zh} / {c.indicator.en}",
        figure.numerator if figure is not None else None,
        figure.denominator if figure is not None else None,
        _rate(figure),
        float(c.credit) if c.credit is not None else None,
        _weight(c.weight),
        _points(c.points),
        note or None,
    ]


def _write_weights(sheet: Worksheet, a: MonthlyAssessment) -> None:
    _header(
        sheet,
        1,
        ["考核对象 Family", "指标 Indicator", "计分 Scored as", "权重 Weight", "默认 Default"],
        [18, 34, 30, 12, 12],
    )
    for family in Family:
        for item in INDICATORS[family]:
            sheet.append(
                [
                    family.label,
                    item.measure.label,
                    f"{item.zh} / {item.en}",
                    _weight(a.weights.weights.of(family).of(item)),
                    _weight(DEFAULT_WEIGHTS.of(family).of(item)),
                ]
            )
    sheet.append([])
    sheet.append([_weights_note(a)])


def monthly_xlsx(assessment: MonthlyAssessment) -> bytes:
    """The report as a workbook: summary, both rankings (each with a bar chart of the
    scores), the figures behind every score, and the weights."""
    workbook = Workbook()
    summary = workbook.active
    assert summary is not None
    summary.title = SUMMARY_TITLE
    _write_summary(summary, assessment)
    for family in Family:
        _write_ranking(workbook.create_sheet(RANKING_TITLES[family]), assessment, family)
    _write_figures(workbook.create_sheet(FIGURES_TITLE), assessment)
    _write_weights(workbook.create_sheet(WEIGHTS_TITLE), assessment)
    stamp = assessment.generated_at.astimezone(UTC).replace(tzinfo=None, microsecond=0)
    workbook.properties.creator = "chengyun"
    workbook.properties.title = _title(assessment)
    workbook.properties.created = stamp
    workbook.properties.modified = stamp
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# --- the PDF ---------------------------------------------------------------------------------

FONT = "STSong-Light"
_BLUE = "#1F4E79"
_SERIES = ("#2E75B6", "#C55A11")


def _register_font() -> None:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))


def _styles() -> dict[str, Any]:
    from reportlab.lib import colors
    from reportlab.lib.styles import ParagraphStyle

    base = ParagraphStyle("base", fontName=FONT, fontSize=9, leading=13)
    return {
        "title": ParagraphStyle(
            "title", parent=base, fontSize=18, leading=26, textColor=colors.HexColor(_BLUE)
        ),
        "subtitle": ParagraphStyle("subtitle", parent=base, fontSize=12, leading=18),
        "h2": ParagraphStyle(
            "h2",
            parent=base,
            fontSize=12,
            leading=18,
            spaceBefore=8,
            spaceAfter=4,
            textColor=colors.HexColor(_BLUE),
        ),
        "body": base,
        "small": ParagraphStyle("small", parent=base, fontSize=7.5, leading=10),
        "cell": ParagraphStyle("cell", parent=base, fontSize=7.5, leading=9.5),
        "head": ParagraphStyle(
            "head", parent=base, fontSize=7.5, leading=9.5, textColor=colors.white
        ),
    }


def _table_style(rows: int) -> Any:
    from reportlab.lib import colors
    from reportlab.platypus import TableStyle

    commands: list[tuple[Any, ...]] = [
        ("FONTNAME", (0, 0), (-1, -1), FONT),
        ("FONTSIZE", (0, 0), (-1, -1), 7.5),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor(_BLUE)),
        ("TEXTCOLOR", (0, 0), (-1, 0), colors.white),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#9DB3C8")),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
        ("LEFTPADDING", (0, 0), (-1, -1), 3),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3),
    ]
    commands += [
        ("BACKGROUND", (0, r), (-1, r), colors.HexColor("#EEF3F8")) for r in range(2, rows, 2)
    ]
    return TableStyle(commands)


def _target_chart(a: MonthlyAssessment) -> Any:
    """Bars of the two measures for the key units and the whole sub-district, with the
    seed's two targets as dashed lines (85 %, 97 %)."""
    from reportlab.graphics.charts.barcharts import VerticalBarChart
    from reportlab.graphics.charts.legends import Legend
    from reportlab.graphics.shapes import Drawing, Line, String
    from reportlab.lib import colors

    drawing = Drawing(500, 190)
    chart = VerticalBarChart()
    chart.x, chart.y, chart.width, chart.height = 50, 30, 300, 140
    values = [
        [100 * (check.figure.value or 0) for check in checks]
        for checks in (a.key_targets, a.all_targets)
    ]
    # one series per measure, one category per scope
    chart.data = [tuple(row[i] for row in values) for i in range(len(a.key_targets))]
    chart.categoryAxis.categoryNames = [SCOPE_LABELS["key"], SCOPE_LABELS["all"]]
    chart.categoryAxis.labels.fontName = FONT
    chart.categoryAxis.labels.fontSize = 8
    chart.valueAxis.valueMin = 0
    chart.valueAxis.valueMax = 100
    chart.valueAxis.valueStep = 20
    chart.valueAxis.labels.fontName = FONT
    chart.valueAxis.labels.fontSize = 7
    chart.valueAxis.labelTextFormat = "%d%%"
    chart.barWidth = 18
    chart.groupSpacing = 20
    chart.barLabelFormat = "%.1f%%"
    chart.barLabels.fontName = FONT
    chart.barLabels.fontSize = 7
    chart.barLabels.nudge = 6
    for i, colour in enumerate(_SERIES[: len(chart.data)]):
        chart.bars[i].fillColor = colors.HexColor(colour)
        chart.bars[i].strokeColor = None
    drawing.add(chart)
    legend_items = []
    for i, check in enumerate(a.key_targets):
        colour = colors.HexColor(_SERIES[i % len(_SERIES)])
        level = chart.y + chart.height * float(check.target)
        drawing.add(
            Line(
                chart.x,
                level,
                chart.x + chart.width,
                level,
                strokeColor=colour,
                strokeWidth=1,
                strokeDashArray=[4, 2],
            )
        )
        drawing.add(
            String(
                chart.x + chart.width + 4,
                level - 3,
                f"目标 {float(check.target):.0%}",
                fontName=FONT,
                fontSize=7,
                fillColor=colour,
            )
        )
        legend_items.append((colour, check.measure.zh))
    legend = Legend()
    legend.x, legend.y = 410, 110
    legend.fontName = FONT
    legend.fontSize = 8
    legend.alignment = "right"
    legend.colorNamePairs = legend_items
    drawing.add(legend)
    return drawing


def _score_chart(ranked: Sequence[Standing], family: Family) -> Any:
    """Horizontal bars of the scores, rank 1 on top."""
    from reportlab.graphics.charts.barcharts import HorizontalBarChart
    from reportlab.graphics.shapes import Drawing
    from reportlab.lib import colors

    band = min(14.0, 480.0 / max(len(ranked), 1))
    height = band * len(ranked)
    drawing = Drawing(500, height + 30)
    chart = HorizontalBarChart()
    chart.x, chart.y, chart.width, chart.height = 150, 20, 320, height
    ordered = list(reversed(ranked))  # the category axis runs bottom-up
    chart.data = [tuple(float(s.score.published or 0) for s in ordered)]
    chart.categoryAxis.categoryNames = [s.unit.name for s in ordered]
    chart.categoryAxis.labels.fontName = FONT
    chart.categoryAxis.labels.fontSize = min(7.5, band * 0.7)
    chart.categoryAxis.labels.boxAnchor = "e"
    chart.categoryAxis.labels.dx = -4
    chart.valueAxis.valueMin = 0
    chart.valueAxis.valueMax = 100
    chart.valueAxis.valueStep = 20
    chart.valueAxis.labels.fontName = FONT
    chart.valueAxis.labels.fontSize = 7
    chart.bars[0].fillColor = colors.HexColor(_SERIES[0 if family is Family.DISCOVERY else 1])
    chart.bars[0].strokeColor = None
    chart.barLabelFormat = "%.2f"
    chart.barLabels.fontName = FONT
    chart.barLabels.fontSize = min(7, band * 0.6)
    chart.barLabels.boxAnchor = "w"
    chart.barLabels.dx = 3
    drawing.add(chart)
    return drawing


def _component_cell(c: Component, styles: dict[str, Any]) -> Any:
    from reportlab.platypus import Paragraph

    if c.figure is None:
        return Paragraph("不适用<br/>n/a", styles["cell"])
    if not c.figure.denominator:
        return Paragraph("—<br/>0/0", styles["cell"])
    points = _points(c.points)
    return Paragraph(
        f"{points:.2f}<br/>{c.figure.numerator}/{c.figure.denominator}", styles["cell"]
    )


def _ranking_table(ranking: Sequence[Standing], family: Family, styles: dict[str, Any]) -> Any:
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, Table

    indicators = INDICATORS[family]
    head = [
        Paragraph("名次<br/>Rank", styles["head"]),
        Paragraph("单位 Unit", styles["head"]),
        Paragraph("得分<br/>Score", styles["head"]),
        *[Paragraph(f"{i.zh}<br/>{i.measure.en}", styles["head"]) for i in indicators],
    ]
    rows: list[list[Any]] = [head]
    for s in ranking:
        key = " ★" if s.unit.key else ""
        rows.append(
            [
                str(s.rank) if s.rank is not None else "—",
                Paragraph(
                    f"{s.unit.name}{key}<br/><font size=6>{s.unit.type.zh}</font>", styles["cell"]
                ),
                f"{_points(s.score.published):.2f}" if s.score.published is not None else "—",
                *[_component_cell(c, styles) for c in s.score.components],
            ]
        )
    rest = (180 * mm - 14 * mm - 52 * mm - 16 * mm) / len(indicators)
    table = Table(
        rows,
        colWidths=[14 * mm, 52 * mm, 16 * mm, *[rest] * len(indicators)],
        repeatRows=1,
    )
    table.setStyle(_table_style(len(rows)))
    return table


def _weights_table(a: MonthlyAssessment, styles: dict[str, Any]) -> Any:
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, Table

    rows: list[list[Any]] = [
        [
            Paragraph("考核对象 Family", styles["head"]),
            Paragraph("指标 Indicator（计分方式 scored as）", styles["head"]),
            Paragraph("权重 Weight", styles["head"]),
        ]
    ]
    for family in Family:
        for item in INDICATORS[family]:
            rows.append(
                [
                    family.zh,
                    Paragraph(f"{item.zh} / {item.en}", styles["cell"]),
                    f"{_weight(a.weights.weights.of(family).of(item))}",
                ]
            )
    table = Table(rows, colWidths=[30 * mm, 110 * mm, 22 * mm], repeatRows=1)
    table.setStyle(_table_style(len(rows)))
    return table


def _targets_table(a: MonthlyAssessment, styles: dict[str, Any]) -> Any:
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, Table

    rows: list[list[Any]] = [
        [
            Paragraph(text, styles["head"])
            for text in (
                "指标 Measure",
                "目标 Target",
                "重点管理单元 Key units",
                "是否达标 Met",
                "全街道 Whole sub-district",
            )
        ]
    ]
    for key, whole in zip(a.key_targets, a.all_targets, strict=True):
        rows.append(
            [
                Paragraph(key.measure.label, styles["cell"]),
                f"≥ {float(key.target):.0%}",
                _ratio_text(key.figure),
                _met(key),
                _ratio_text(whole.figure),
            ]
        )
    table = Table(rows, colWidths=[50 * mm, 20 * mm, 38 * mm, 28 * mm, 38 * mm])
    table.setStyle(_table_style(len(rows)))
    return table


def _ratio_text(figure: Ratio) -> str:
    if not figure.denominator:
        return "— (0/0)"
    return f"{(figure.value or 0):.1%} ({figure.numerator}/{figure.denominator})"


def monthly_pdf(assessment: MonthlyAssessment) -> bytes:
    """The report as a printable A4 PDF: title page with the targets and the weights,
    then each ranking with a bar chart of the scores and the figures behind them."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Spacer

    _register_font()
    styles = _styles()
    a = assessment
    buffer = io.BytesIO()
    footer = f"{a.sub_district_name}{TITLE_ZH} {a.month} | 生成 generated {_when(a.generated_at)}"

    def decorate(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(FONT, 7.5)
        canvas.drawString(15 * mm, 10 * mm, footer)
        canvas.drawRightString(A4[0] - 15 * mm, 10 * mm, f"第 {doc.page} 页 / page {doc.page}")
        canvas.restoreState()

    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=18 * mm,
        title=_title(a),
        author=a.sub_district_name or "chengyun",
        subject=f"{TITLE_EN} {a.month}",
        creator="chengyun",
        invariant=1,
    )
    start, end = as_china_time(a.period.start), as_china_time(a.period.end)
    story: list[Any] = [
        Paragraph(_title(a), styles["title"]),
        Paragraph(f"{TITLE_EN} — {_month_en(a)}", styles["subtitle"]),
        Spacer(1, 4 * mm),
        Paragraph(
            f"街道 Sub-district：{a.sub_district_name or '-'}（{a.sub_district_code or '-'}）<br/>"
            f"月份 Month：{a.month}（{start:%Y-%m-%d} 至 {end:%Y-%m-%d} 前 / up to, not including, "
            f"{end:%Y-%m-%d}）<br/>"
            f"生成时间 Generated at：{_when(a.generated_at)}<br/>"
            f"权重 Weights：{_weights_note(a)}",
            styles["body"],
        ),
        Paragraph("一、目标完成情况 Targets", styles["h2"]),
        Paragraph(
            "实施方案要求重点管理单元先行发现率达 85%、结案率达 97%。/ The plan's targets for the key "
            "units: first discovery 85 %, closure 97 %.",
            styles["small"],
        ),
        Spacer(1, 2 * mm),
        _targets_table(a, styles),
        Spacer(1, 3 * mm),
        _target_chart(a),
        Paragraph("二、考核权重 Weights", styles["h2"]),
        _weights_table(a, styles),
        Spacer(1, 2 * mm),
        Paragraph(
            "得分 = Σ 得分率 × 权重 ÷ 计分权重 × 100。得分率为比率；漏报率、退单率、返工率取 1 - 比率。"
            "本月无可计案件的指标不计分，其权重按比例分摊；表中每格为得分及其分子/分母。<br/>"
            "Score = Σ credit × weight ÷ measured weight × 100; the credit is the rate, or 1 - rate "
            "for the missed-report, return and rework rates. An indicator with nothing to count "
            "is left out and its weight shared out; each cell shows the points and the "
            "numerator/denominator behind them.",
            styles["small"],
        ),
    ]
    for number, family in (("三", Family.DISCOVERY), ("四", Family.HANDLING)):
        ranking = a.ranking(family)
        ranked = [s for s in ranking if s.rank is not None]
        story += [
            PageBreak(),
            Paragraph(f"{number}、{family.zh}排名 {family.en}", styles["h2"]),
            Paragraph(
                f"参评 {len(ranking)} 个，有得分 {len(ranked)} 个 / {len(ranking)} units, "
                f"{len(ranked)} with a score"
                + (
                    "。巡查队伍按派往该队伍的案件统计，联勤联动工作站按所在网格、居村网格工作站按所在管理单元统计。"
                    " / Teams are assessed on the cases sent to them, joint-duty workstations on "
                    "their grid's cases, community workstations on their unit's cases."
                    if family is Family.DISCOVERY
                    else "。职能部门按派往该部门的案件统计。 / Departments are assessed on the "
                    "cases sent to them."
                ),
                styles["small"],
            ),
            Spacer(1, 2 * mm),
        ]
        if ranked:
            story.append(_score_chart(ranked, family))
        story += [Spacer(1, 3 * mm), _ranking_table(ranking, family, styles)]
    document.build(story, onFirstPage=decorate, onLaterPages=decorate)
    return buffer.getvalue()


def render(assessment: MonthlyAssessment, fmt: str) -> tuple[bytes, str, str]:
    """(content, media type, file name) of the report in ``fmt`` (``xlsx`` or ``pdf``)."""
    if fmt == "pdf":
        return monthly_pdf(assessment), PDF, filename(assessment, "pdf")
    return monthly_xlsx(assessment), XLSX, filename(assessment, "xlsx")
