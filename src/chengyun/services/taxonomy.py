"""Use cases of the case taxonomy (案件分类): read the one in force, edit one subclass,
replace the whole taxonomy, go back to the shipped default.

The shipped default is passed in (``CaseEnvironment.default_taxonomy``): nothing is
stored until someone edits, and then the whole taxonomy is stored as one copy. A
subclass that stored cases use is never dropped, or those cases would lose their rule.
"""

from __future__ import annotations

from chengyun.domain.errors import InvalidInput, Problem
from chengyun.domain.taxonomy import Subclass, Taxonomy, subclass_problems
from chengyun.services.records import CaseFilter
from chengyun.services.unit_of_work import UnitOfWork


def _in_force(uow: UnitOfWork, default: Taxonomy) -> Taxonomy:
    """Inside an open unit of work: the stored taxonomy, else the default."""
    stored = uow.taxonomy.get()
    return stored if stored is not None else default


def current_taxonomy(uow: UnitOfWork, default: Taxonomy) -> Taxonomy:
    """The taxonomy in force: the stored one, or ``default`` while nothing is stored."""
    with uow.reader() as uow:
        return _in_force(uow, default)


def _taxonomy_problems(taxonomy: Taxonomy) -> list[Problem]:
    """Every subclass's rules and unique codes, located as ``("subclasses", index, …)``."""
    if not len(taxonomy):
        return [
            Problem(
                ("subclasses",),
                "分类不能为空 / the taxonomy needs at least one subclass",
                "missing",
            )
        ]
    problems: list[Problem] = []
    first_index: dict[str, int] = {}
    for index, subclass in enumerate(taxonomy):
        problems.extend(
            Problem(("subclasses", index, *p.location), p.message, p.kind)
            for p in subclass_problems(subclass)
        )
        earlier = first_index.setdefault(subclass.code, index)
        if earlier != index:
            problems.append(
                Problem(
                    ("subclasses", index, "code"),
                    f"代码 {subclass.code} 与第 {earlier} 项重复 / code {subclass.code} "
                    f"duplicates entry {earlier}",
                    "duplicate",
                )
            )
    return problems


def _dropped_in_use(uow: UnitOfWork, before: Taxonomy, after: Taxonomy) -> dict[str, Problem]:
    """By code, a problem for each subclass of ``before`` missing from ``after`` that
    stored cases use."""
    kept = {s.code for s in after}
    problems: dict[str, Problem] = {}
    for subclass in before:
        if subclass.code in kept:
            continue
        used, _ = uow.cases.search(CaseFilter(subclass=subclass.code), 1, 0)
        if used:
            problems[subclass.code] = Problem(
                ("subclasses",),
                f"小类 {subclass.code}（{subclass.name_zh}）有 {used} 件案件在用，不能删除 / "
                f"subclass {subclass.code} ({subclass.name_en}) is used by {used} stored "
                "case(s) and cannot be dropped: keep it in the taxonomy",
                "reference",
            )
    return problems


def _store(uow: UnitOfWork, taxonomy: Taxonomy, default: Taxonomy) -> None:
    """Inside an open unit of work: check ``taxonomy`` against the one in force and
    store it, or raise ``InvalidInput`` listing every problem."""
    problems = _taxonomy_problems(taxonomy)
    if problems:
        raise InvalidInput(
            f"分类有 {len(problems)} 处问题，未保存 / the taxonomy has {len(problems)} "
            "problem(s); nothing was saved",
            problems,
        )
    in_use = _dropped_in_use(uow, _in_force(uow, default), taxonomy)
    if in_use:
        codes = ", ".join(in_use)
        raise InvalidInput(
            f"案件在用的小类不能删除，未保存 / subclasses that stored cases use cannot be "
            f"dropped ({codes}); nothing was saved",
            list(in_use.values()),
        )
    uow.taxonomy.replace(taxonomy)


def replace_taxonomy(uow: UnitOfWork, taxonomy: Taxonomy, *, default: Taxonomy) -> Taxonomy:
    """Store ``taxonomy`` instead of the one in force (all or nothing).

    Refused, naming the codes, when codes repeat, a subclass breaks its rules, or a
    subclass that stored cases use would be dropped. ``default`` is the shipped
    taxonomy: while nothing is stored it is the one in force, so its subclasses that
    cases use are protected as well."""
    with uow:
        uow.taxonomy.lock()
        _store(uow, taxonomy, default)
        uow.commit()
    return taxonomy


def save_subclass(uow: UnitOfWork, default: Taxonomy, subclass: Subclass) -> Subclass:
    """Insert or replace one subclass in the taxonomy in force; the result is stored
    as a full copy. A new code takes its place in code order."""
    problems = subclass_problems(subclass)
    if problems:
        raise InvalidInput(
            f"小类 {subclass.code} 有 {len(problems)} 处问题，未保存 / subclass "
            f"{subclass.code} has {len(problems)} problem(s); nothing was saved",
            problems,
        )
    with uow:
        uow.taxonomy.lock()
        subclasses = list(_in_force(uow, default))
        codes = [s.code for s in subclasses]
        if subclass.code in codes:
            subclasses[codes.index(subclass.code)] = subclass
        else:
            position = next((i for i, c in enumerate(codes) if c > subclass.code), len(codes))
            subclasses.insert(position, subclass)
        _store(uow, Taxonomy(tuple(subclasses)), default)
        uow.commit()
    return subclass


def reset_taxonomy(uow: UnitOfWork, default: Taxonomy) -> Taxonomy:
    """Store the shipped default again (refused if it lacks a subclass cases use)."""
    return replace_taxonomy(uow, default, default=default)
