"""The measures dashboard (考核态势) at ``/dashboard``: trend lines against the seed's targets,
bars per grid and per unit, a map coloured by closure rate (or by a day's patrol coverage),
the channel mix — and every figure opens the list of cases behind it.

The page renders the frame and the choices; the figures come from ``/api/v1/measures``,
``/api/v1/measures/cases`` and ``/api/v1/patrol/coverage.geojson``.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from chengyun.domain.access import Permission, Principal
from chengyun.domain.measures import TARGETS, Measure
from chengyun.domain.working_time import CHINA_TZ
from chengyun.entrypoints.api.deps import PlatformDep
from chengyun.entrypoints.web.command import _frame, _render, _territory, _to_login, page_access
from chengyun.entrypoints.web.i18n import language

router = APIRouter(include_in_schema=False)

MeasuresViewer = Annotated[Principal | None, Depends(page_access(Permission.MEASURES_READ))]

#: The ratios the page offers, the two targets first.
SHOWN = (
    Measure.FIRST_DISCOVERY_RATE,
    Measure.CLOSURE_RATE,
    Measure.URGENT_ON_TIME_ARRIVAL_RATE,
    Measure.URGENT_ON_TIME_INITIAL_RESULT_RATE,
    Measure.ON_TIME_HANDLING_RATE,
    Measure.ON_TIME_CLOSURE_RATE,
    Measure.RETURN_RATE,
    Measure.REWORK_RATE,
    Measure.EXTENSION_RATE,
    Measure.INTELLIGENT_DISCOVERY_SHARE,
    Measure.SELF_HANDLED_SHARE,
)


def default_period(today: date) -> tuple[date, date]:
    """The last 30 days up to today (a trend needs more than this month's first days)."""
    return today - timedelta(days=29), today


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard(request: Request, platform: PlatformDep, who: MeasuresViewer) -> Response:
    """The measures dashboard (考核态势)."""
    if who is None:
        return _to_login(request)
    lang = language(request)
    territory = _territory(platform)
    start, end = default_period(platform.clock.now().astimezone(CHINA_TZ).date())

    def name(place_name: str, name_en: str | None) -> str:
        return (name_en or place_name) if lang == "en" else place_name

    grids = [(g.code, name(g.name, g.name_en)) for g in (territory.grids if territory else ())]
    units = [(u.code, name(u.name, u.name_en)) for u in (territory.units if territory else ())]
    context = _frame(request, platform, who, lang)
    measures = {m.value: (m.en if lang == "en" else m.zh) for m in SHOWN}
    context.update(
        grids=grids,
        units=units,
        measures=measures,
        period=(start.isoformat(), end.isoformat()),
        config={
            "lang": lang,
            "words": context["t"],
            "labels": context["l"],
            "serverNow": context["server_now"],
            "tileUrl": platform.settings.tile_url,
            "caseUrl": "/command/cases/",
            "measures": measures,
            "order": list(measures),  # the page's JSON has its keys sorted: keep this order
            "targets": dict(TARGETS),
            "may": {
                "territory": who.may(Permission.TERRITORY_READ),
                "coverage": who.may(Permission.DUTY_READ),
                "cases": who.may(Permission.CASES_READ),
            },
        },
    )
    return _render(request, platform, "dashboard.html", context)
