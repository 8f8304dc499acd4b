"""The case taxonomy and its rules (分类与立结案规范) over HTTP: list, read and edit
subclasses, replace the whole taxonomy, exchange it as .xlsx. Thin: parse, call one
service, render."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, File, Query, Response, UploadFile
from pydantic import BaseModel, Field

from chengyun.adapters.spreadsheets.taxonomy_xlsx import taxonomy_from_xlsx, taxonomy_to_xlsx
from chengyun.adapters.taxonomy_file import (
    load_default_taxonomy,
    subclass_from_mapping,
    subclass_to_mapping,
    taxonomy_from_json,
)
from chengyun.domain.access import Permission
from chengyun.domain.errors import InvalidInput, NotFound, Problem
from chengyun.domain.taxonomy import CaseKind, Sector, Stage, Subclass, Taxonomy, TimeUnit, Urgency
from chengyun.entrypoints.api.deps import PlatformDep
from chengyun.entrypoints.api.security import requires
from chengyun.services.taxonomy import current_taxonomy, replace_taxonomy, save_subclass

router = APIRouter(tags=["taxonomy 分类"])
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_XLSX_BYTES = 10 * 1024 * 1024
#: Fields the API writes for reading only; a body sent back as read is accepted.
LABEL_FIELDS = frozenset({"kind_label", "sector_label", "urgency_label", "responsible_label"})


class LimitOut(BaseModel):
    amount: int | float = Field(description="> 0")
    unit: TimeUnit = Field(description="minutes (clock time), working_hours or working_days")


class SubclassOut(BaseModel):
    """A subclass (小类) with its rule (立结案规范)."""

    code: str = Field(description="kind letter + class + subclass, e.g. E0102")
    kind: CaseKind
    kind_label: str
    class_code: str = Field(description="2 digits, the code's 2nd–3rd characters")
    class_name_zh: str
    class_name_en: str
    name_zh: str
    name_en: str
    sector: Sector
    sector_label: str
    filing: str = Field(description="立案条件 / when a report is accepted")
    closure: str = Field(description="结案条件 / what counts as done")
    urgency: Urgency
    urgency_label: str
    responsible: str = Field(description="a first-line team type or one of the seven departments")
    responsible_label: str
    limits: dict[Stage, LimitOut] = Field(description="stage → time limit, all six stages")


class TaxonomySaved(BaseModel):
    subclasses: int
    components: int
    events: int


def _out(subclass: Subclass) -> SubclassOut:
    return SubclassOut(
        **subclass_to_mapping(subclass),
        kind_label=subclass.kind.label,
        sector_label=subclass.sector.label,
        urgency_label=subclass.urgency.label,
        responsible_label=subclass.responsible.label,
    )


def _saved(taxonomy: Taxonomy) -> TaxonomySaved:
    components = sum(1 for s in taxonomy if s.kind is CaseKind.COMPONENT)
    return TaxonomySaved(
        subclasses=len(taxonomy), components=components, events=len(taxonomy) - components
    )


def _without_labels(entry: Any) -> Any:
    if not isinstance(entry, Mapping):
        return entry
    return {k: v for k, v in entry.items() if k not in LABEL_FIELDS}


def _matches(subclass: Subclass, text: str) -> bool:
    folded = text.strip().casefold()
    return any(
        folded in value.casefold()
        for value in (
            subclass.code,
            subclass.name_zh,
            subclass.name_en,
            subclass.class_name_zh,
            subclass.class_name_en,
        )
    )


@router.get(
    "/taxonomy",
    dependencies=[Depends(requires(Permission.TAXONOMY_READ))],
    response_model=list[SubclassOut],
    summary="分类列表 / Subclasses and their rules, filtered",
)
def list_subclasses(
    platform: PlatformDep,
    kind: CaseKind | None = Query(None, description="component 部件 / event 事件"),
    class_code: str | None = Query(None, description="大类, e.g. 01"),
    q: str | None = Query(None, description="text in the code, subclass or class names"),
) -> list[SubclassOut]:
    taxonomy = current_taxonomy(platform.uow(), platform.cases.default_taxonomy)
    return [
        _out(s)
        for s in taxonomy
        if (kind is None or s.kind is kind)
        and (class_code is None or s.class_code == class_code.strip())
        and (not q or _matches(s, q))
    ]


@router.get(
    "/taxonomy.xlsx",
    dependencies=[Depends(requires(Permission.TAXONOMY_READ))],
    summary="导出分类表 / Export the taxonomy and its rules (.xlsx)",
    response_class=Response,
    responses={200: {"content": {XLSX: {}}}},
)
def export_taxonomy(platform: PlatformDep) -> Response:
    taxonomy = current_taxonomy(platform.uow(), platform.cases.default_taxonomy)
    return Response(
        taxonomy_to_xlsx(taxonomy),
        media_type=XLSX,
        headers={"Content-Disposition": 'attachment; filename="taxonomy.xlsx"'},
    )


@router.post(
    "/taxonomy.xlsx",
    dependencies=[Depends(requires(Permission.TAXONOMY_WRITE))],
    response_model=TaxonomySaved,
    summary="导入分类表 / Replace the taxonomy from an .xlsx (all or nothing)",
    responses={422: {"description": "every problem as sheet / row / column / message"}},
)
async def import_taxonomy(
    platform: PlatformDep,
    file: Annotated[UploadFile, File(description="the .xlsx workbook")],
) -> TaxonomySaved:
    data = await file.read(MAX_XLSX_BYTES + 1)
    if len(data) > MAX_XLSX_BYTES:
        raise InvalidInput(
            "文件过大 / file too large",
            [Problem(("file",), "the workbook may be at most 10 MB", "size")],
        )
    taxonomy = taxonomy_from_xlsx(data)
    replace_taxonomy(platform.uow(), taxonomy, default=platform.cases.default_taxonomy)
    return _saved(taxonomy)


def _example() -> dict[str, Any]:
    """A subclass of the shipped taxonomy, as the OpenAPI example of a body."""
    subclass = load_default_taxonomy().get("E0102")
    return subclass_to_mapping(subclass) if subclass is not None else {}


_EXAMPLE = _example()


@router.put(
    "/taxonomy",
    dependencies=[Depends(requires(Permission.TAXONOMY_WRITE))],
    response_model=TaxonomySaved,
    summary="替换分类 / Replace the whole taxonomy (all or nothing)",
    responses={422: {"description": "every problem, located as subclasses / index / field"}},
)
def put_taxonomy(
    platform: PlatformDep,
    body: Annotated[
        dict[str, Any],
        Body(
            description='{"subclasses": [subclass, …]} — every subclass in force afterwards',
            examples=[{"subclasses": [_EXAMPLE]}],
        ),
    ],
) -> TaxonomySaved:
    entries = body.get("subclasses")
    document = body
    if isinstance(entries, list):
        document = {"subclasses": [_without_labels(e) for e in entries]}
    taxonomy = taxonomy_from_json(document)
    replace_taxonomy(platform.uow(), taxonomy, default=platform.cases.default_taxonomy)
    return _saved(taxonomy)


@router.get(
    "/taxonomy/{code}",
    dependencies=[Depends(requires(Permission.TAXONOMY_READ))],
    response_model=SubclassOut,
    summary="小类 / One subclass and its rule",
)
def get_subclass(code: str, platform: PlatformDep) -> SubclassOut:
    subclass = current_taxonomy(platform.uow(), platform.cases.default_taxonomy).get(code)
    if subclass is None:
        raise NotFound(
            f"分类中没有小类 {code} / no subclass {code} in the taxonomy",
            [Problem(("code",), "see GET /api/v1/taxonomy for the codes", "unknown")],
        )
    return _out(subclass)


@router.put(
    "/taxonomy/{code}",
    dependencies=[Depends(requires(Permission.TAXONOMY_WRITE))],
    response_model=SubclassOut,
    summary="保存小类 / Add or change one subclass and its rule",
    responses={422: {"description": "every problem, located by field (limits / stage / unit)"}},
)
def put_subclass(
    code: str,
    platform: PlatformDep,
    body: Annotated[
        dict[str, Any],
        Body(
            description="one subclass; the label fields of GET may be sent back and are ignored",
            examples=[_EXAMPLE],
        ),
    ],
) -> SubclassOut:
    entry = _without_labels(body)
    entry.setdefault("code", code)
    subclass, problems = subclass_from_mapping(entry)
    given = entry.get("code")
    if not isinstance(given, str) or given.strip() != code:
        problems.insert(
            0,
            Problem(("code",), f"代码须与路径一致 / the code must be {code}, as in the path"),
        )
    if problems or subclass is None:
        raise InvalidInput(
            f"小类 {code} 有 {len(problems)} 处问题，未保存 / subclass {code} has "
            f"{len(problems)} problem(s); nothing was saved",
            problems,
        )
    return _out(save_subclass(platform.uow(), platform.cases.default_taxonomy, subclass))
