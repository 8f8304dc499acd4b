"""The case repository that also announces what it wrote: each case added or saved in a
transaction becomes a ``CaseChange``, published as the transaction commits (and never
when it rolls back) — the seam the command centre's live updates hang on."""

from __future__ import annotations

from sqlalchemy.engine import Connection

from chengyun.adapters.db.case_repository import SqlCaseRepository
from chengyun.adapters.events import CaseChange, notify
from chengyun.services.records import CaseRecord


def change_of(record: CaseRecord) -> CaseChange:
    """What listeners hear of a case as it now stands."""
    case = record.case
    joint = case.joint or {}
    departments = (joint.get("lead"), *joint.get("partners", ()))
    responsible = record.extra.get("responsible")
    return CaseChange(
        case_id=record.id,
        kind=case.events[-1].action.value if case.events else "change",
        number=case.number,
        status=case.status.value,
        version=case.version,
        grid=case.grid_code,
        unit=case.unit_code,
        assignee=case.assignee,
        reporter=case.reporter,
        responsible=str(responsible) if responsible else None,
        handlers=tuple(case.handlers),
        departments=tuple(str(d) for d in departments if d),
    )


class LiveCaseRepository(SqlCaseRepository):
    """``SqlCaseRepository`` that collects the cases it writes; its unit of work has them
    announced as it commits (``announce``) and forgotten if it rolls back (``forget``)."""

    def __init__(self, connection: Connection) -> None:
        super().__init__(connection)
        self._changed: dict[int, CaseRecord] = {}

    def add(self, record: CaseRecord) -> int:
        case_id = super().add(record)
        self._changed[record.id] = record
        return case_id

    def save(self, record: CaseRecord, expected_version: int) -> None:
        super().save(record, expected_version)  # a stale save raises: nothing to announce
        self._changed[record.id] = record

    def announce(self) -> None:
        """Tell the listeners about the cases written, in the transaction about to commit
        (``notify``: sent by PostgreSQL only when it commits)."""
        changed, self._changed = self._changed, {}
        notify(self.connection, [change_of(r) for r in changed.values()])

    def forget(self) -> None:
        """The transaction rolled back: nothing written is announced."""
        self._changed = {}
