"""What the use cases need from storage: repositories and one transaction boundary."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

from chengyun.domain.access import CaseView
from chengyun.domain.audit import AuditRecord
from chengyun.domain.forces import Assignment, Person, Roster, Shift
from chengyun.domain.points import Citizen, LedgerEntry
from chengyun.domain.taxonomy import Taxonomy
from chengyun.domain.territory import Territory
from chengyun.services.district_records import DistrictRepository, OutboxAdminRepository
from chengyun.services.hotline_store import HotlineRepository
from chengyun.services.open311_records import Open311Repository
from chengyun.services.records import (
    Account,
    ApiToken,
    CaseFilter,
    CaseRecord,
    CaseSummary,
    Delivery,
    NearbyCase,
    NewAccount,
    OutboxMessage,
    PendingMessage,
    PhotoRecord,
)
from chengyun.services.shop_store import ShopRepository
from chengyun.services.vision_store import VisionRepository
from chengyun.services.wecom_store import WeComRepository


class TerritoryRepository(Protocol):
    def get(self) -> Territory | None: ...
    def replace(self, territory: Territory) -> int:
        """Store ``territory`` instead of the current one; returns the new revision."""
        ...

    def revision(self) -> int: ...


class ForcesRepository(Protocol):
    def roster(self) -> Roster: ...
    def get(self, number: str) -> Person | None: ...
    def assignments_of(self, number: str) -> list[Assignment]: ...
    def save_person(self, person: Person, assignments: Sequence[Assignment]) -> None:
        """Insert or update ``person`` and replace their assignments."""
        ...

    def delete_person(self, number: str) -> bool: ...
    def replace(self, roster: Roster, shifts: Sequence[Shift]) -> None:
        """Upsert the roster's people and replace all assignments on ``shifts``."""
        ...

    def count_assignments_outside(self, grid_codes: set[str], unit_codes: set[str]) -> int: ...


class TaxonomyRepository(Protocol):
    def get(self) -> Taxonomy | None:
        """The stored taxonomy, or ``None`` when the shipped default is in force."""
        ...

    def replace(self, taxonomy: Taxonomy) -> None: ...

    def lock(self) -> None:
        """Serialise edits of the taxonomy until the transaction ends."""
        ...

    def revision(self) -> int:
        """The taxonomy's revision counter, which every change bumps."""
        ...


class CaseRepository(Protocol):
    def next_sequence(self, prefix: str, count: int = 1) -> int:
        """The next number in the daily sequence of ``prefix`` (subclass code + date); with
        ``count``, the last of the next ``count`` numbers."""
        ...

    def next_sequences(self, counts: Mapping[str, int]) -> dict[str, int]:
        """``next_sequence`` for several prefixes in one go (prefix → how many numbers):
        prefix → the last of its numbers, taken in the prefixes' sorted order."""
        ...

    def renumber(self, records: Sequence[CaseRecord]) -> None:
        """Store the numbers of cases added in this transaction (those whose rows are
        still held back are written with them)."""
        ...

    def hold_back(self, cases: int = 1) -> None:
        """Until ``flush``, keep back the rows of new cases that nothing in the transaction
        reads (their events and measure profiles, their Idempotency-Keys; a repository may
        hold back the cases and their photos too, giving them ids taken ahead for about
        ``cases`` cases) and then write each table's in one statement; ``flush`` raises
        ``DuplicateKey`` for a key stored before. Meanwhile ``open_counts`` reads each
        person's count once and adds the cases added since, ``nearby_open`` finds the
        cases added since (while open), saving a case rewrites its rows if they are still
        held, and reading or saving one writes what is held first when rows of that case
        are among them (a read by number always does)."""
        ...

    def write_ahead(self) -> None:
        """While rows are held back: write those that carry no case number (events,
        measure profiles, photos, keys…) now, their references to the cases checked at the
        commit, and go on holding back the cases themselves, if held; ``DuplicateKey`` as
        ``flush``. A repository may do nothing here."""
        ...

    def flush(self) -> None: ...

    def add(self, record: CaseRecord) -> int: ...
    def get(self, case_id: int, *, for_update: bool = False) -> CaseRecord | None: ...
    def get_for_page(
        self, case_id: int
    ) -> tuple[CaseRecord, list[PhotoRecord], list[Delivery]] | None:
        """A case with its photos and notifications, as its page shows them."""
        ...

    def get_by_number(self, number: str) -> CaseRecord | None: ...
    def save(self, record: CaseRecord, expected_version: int) -> None:
        """Store changes; ``Conflict`` when someone else changed the case meanwhile."""
        ...

    def lock(self, case_ids: Sequence[int]) -> None:
        """Lock these cases' rows, in id order, until the transaction ends (as reading
        one ``for_update`` does); a database that locks more at once may do nothing."""
        ...

    def open_counts(self, numbers: Iterable[str]) -> dict[str, int]: ...
    def expect_nearby(
        self, places: Sequence[tuple[str, float, float]], radius_m: float, since: datetime
    ) -> None:
        """While rows are held back: ask ahead, all at once, what ``nearby_open`` will be
        asked of each of ``places`` (subclass, longitude, latitude), for ``radius_m`` at
        most and since ``since`` at the earliest; it then answers those from what was
        found and the open cases added since. Other questions go to the database as
        before. A repository may do nothing here."""
        ...

    def nearby_open(
        self, subclass: str, lng: float, lat: float, radius_m: float, since: datetime
    ) -> list[NearbyCase]:
        """Open cases of ``subclass`` within ``radius_m`` reported since ``since``, oldest
        first."""
        ...

    def due(self, now: datetime, limit: int) -> list[int]:
        """Ids of open cases whose clocks need the sweeper, locked for this transaction
        (skipping rows another worker holds)."""
        ...

    def search(
        self, where: CaseFilter, limit: int, offset: int
    ) -> tuple[int, list[CaseRecord]]: ...
    def summaries(
        self, where: CaseFilter, limit: int, offset: int
    ) -> tuple[int, list[CaseSummary]]:
        """The number of cases ``where`` selects and a page of them as a list shows them,
        nearest deadline first."""
        ...

    def idempotency(self, key: str) -> tuple[str, int] | None: ...
    def remember_idempotency(
        self, key: str, request_hash: str, case_id: int, at: datetime
    ) -> None: ...
    def add_photo(self, photo: PhotoRecord) -> None: ...
    def photos(self, case_id: int) -> list[PhotoRecord]: ...
    def photo(self, photo_id: str) -> PhotoRecord | None: ...
    def view(self, case_id: int) -> CaseView | None:
        """What visibility asks of a case (without its events); ``None`` if there is none."""
        ...


class OutboxRepository(Protocol):
    def add(self, message: OutboxMessage, at: datetime) -> None: ...
    def add_all(self, messages: Sequence[OutboxMessage], at: datetime) -> None: ...
    def pending(self, now: datetime, limit: int) -> list[PendingMessage]: ...
    def delivered(self, message_ids: Sequence[int], at: datetime) -> None: ...
    def failed(self, message_id: int, error: str, retry_at: datetime, dead: bool) -> None: ...
    def for_case(self, case_id: int) -> list[Delivery]: ...


class AccountRepository(Protocol):
    def by_username(self, username: str) -> Account | None: ...
    def by_id(self, account_id: int) -> Account | None: ...
    def add(self, account: NewAccount, at: datetime) -> int: ...
    def add_many(self, accounts: Sequence[NewAccount], at: datetime) -> None: ...
    def all(self) -> list[Account]: ...
    def failed_login(self, account_id: int, at: datetime) -> None: ...
    def succeeded_login(self, account_id: int, password_hash: str | None = None) -> None: ...
    def set_password(self, account_id: int, password_hash: str) -> None: ...
    def set_disabled(self, account_id: int, disabled: bool) -> None: ...
    def bump_session_epoch(self, account_id: int) -> None: ...
    def add_token(
        self,
        account_id: int,
        name: str,
        token_hash: str,
        permissions: list[str] | None,
        at: datetime,
        expires_at: datetime | None,
    ) -> int: ...
    def token(self, token_hash: str) -> tuple[ApiToken, Account] | None: ...
    def tokens(self, account_id: int) -> list[ApiToken]: ...
    def revoke_token(self, token_id: int, account_id: int | None, at: datetime) -> bool: ...
    def touch_token(self, token_id: int, at: datetime) -> None: ...


class AuditRepository(Protocol):
    def append(
        self, at: datetime, actor: str, action: str, target: str, details: dict[str, object]
    ) -> None:
        """Add a record chained to the last one (appends are serialised)."""
        ...

    def append_all(
        self, records: Sequence[tuple[datetime, str, str, str, dict[str, object]]]
    ) -> None:
        """``append`` each of ``records`` (at, actor, action, target, details) in order,
        in one statement."""
        ...

    def hold(self) -> None:
        """Take the chain's turn now, for the rest of the transaction: a transaction that
        will append after taking other locks (a new case's number) takes its turn first,
        so that two such transactions never wait for each other in opposite order."""
        ...

    def records(self) -> Iterator[AuditRecord]: ...


class PointsRepository(Protocol):
    """Citizens, their points ledger, the points policy and the phone-hash salt."""

    def phone_salt(self, candidate: str, at: datetime) -> str:
        """The installation's salt for phone hashes, storing ``candidate`` if there is
        none yet (whoever stores first wins; everyone gets the stored one)."""
        ...

    def save_citizen(
        self,
        phone_hash: str,
        phone: str,
        nickname: str | None,
        party_member: bool | None,
        at: datetime,
    ) -> Citizen:
        """Insert or update the citizen with ``phone_hash``; ``None`` keeps a value."""
        ...

    def citizen(self, citizen_id: int, *, for_update: bool = False) -> Citizen | None:
        """A citizen; ``for_update`` holds them until the transaction ends (redemptions
        of one citizen wait for each other)."""
        ...

    def citizen_by_hash(self, phone_hash: str) -> Citizen | None: ...
    def entries(self, citizen_id: int) -> list[LedgerEntry]:
        """A citizen's ledger, oldest first."""
        ...

    def entries_for_case(self, case_id: int) -> list[LedgerEntry]: ...
    def add(self, entry: LedgerEntry) -> LedgerEntry:
        """Append ``entry``; returns it with its id."""
        ...

    def top(self, limit: int) -> list[tuple[Citizen, int, int]]:
        """The ``limit`` citizens with the most points kept (earned minus revoked) above
        zero: (citizen, points kept, reports that earned and were not revoked)."""
        ...

    def policy(self) -> dict[str, object] | None:
        """The stored points policy, or ``None`` while the defaults are in force."""
        ...

    def save_policy(self, value: dict[str, object], at: datetime, by: str) -> None: ...


class UnitOfWork(Protocol):
    @property
    def territory(self) -> TerritoryRepository: ...
    @property
    def forces(self) -> ForcesRepository: ...
    @property
    def taxonomy(self) -> TaxonomyRepository: ...
    @property
    def cases(self) -> CaseRepository: ...
    @property
    def outbox(self) -> OutboxRepository: ...
    @property
    def accounts(self) -> AccountRepository: ...
    @property
    def audit(self) -> AuditRepository: ...
    @property
    def points(self) -> PointsRepository: ...

    # integrations: each peer adds its repository property below (two lines each)
    @property
    def open311(self) -> Open311Repository: ...
    @property
    def district(self) -> DistrictRepository: ...
    @property
    def outbox_admin(self) -> OutboxAdminRepository: ...
    @property
    def vision(self) -> VisionRepository: ...
    @property
    def wecom(self) -> WeComRepository: ...
    @property
    def hotline(self) -> HotlineRepository: ...
    @property
    def shops(self) -> ShopRepository: ...

    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def reader(self) -> Self:
        """A unit of work on the same database that only reads: it may spare the
        transaction (see ``SqlUnitOfWork``); never write through it."""
        ...
