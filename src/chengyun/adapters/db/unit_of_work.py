"""The unit of work: one connection, one transaction, committed or rolled back as a whole."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from chengyun.adapters.db.account_repository import SqlAccountRepository, SqlAuditRepository
from chengyun.adapters.db.case_changes import LiveCaseRepository
from chengyun.adapters.db.case_repository import (
    SqlOutboxRepository,
    SqlTaxonomyRepository,
)
from chengyun.adapters.db.district_repository import (
    SqlDistrictRepository,
    SqlOutboxAdminRepository,
)
from chengyun.adapters.db.hotline_repository import SqlHotlineRepository
from chengyun.adapters.db.open311_repository import SqlOpen311Repository
from chengyun.adapters.db.points_repository import SqlPointsRepository
from chengyun.adapters.db.read_cache import ReadCache
from chengyun.adapters.db.repositories import SqlForcesRepository, SqlTerritoryRepository
from chengyun.adapters.db.shop_repository import SqlShopRepository
from chengyun.adapters.db.vision_repository import SqlVisionRepository
from chengyun.adapters.db.wecom_repository import SqlWeComRepository
from chengyun.adapters.db.writes import WROTE, first_word, only_reads, writes

#: The execution option that marks a reading unit of work's connection.
READING = "chengyun_reading"


class ReadingUnitOfWorkWrote(RuntimeError):
    """A write sent through a reading unit of work: a bug in the caller, stopped before
    the statement reaches the database (on PostgreSQL it would have committed alone)."""


@sa.event.listens_for(Engine, "before_cursor_execute")
def _watch_writes(
    conn: Connection, _cursor: Any, statement: str, _parameters: Any, context: Any, _many: bool
) -> None:
    """A reading unit of work refuses a write; any other notes one (``writes.WROTE``)."""
    word = first_word(statement)
    if context is not None and context.execution_options.get(READING):
        if writes(statement, word):
            raise ReadingUnitOfWorkWrote(
                "只读工作单元不能写入 / a reading unit of work does not write: "
                f"{statement.strip()[:80]}… — use a unit of work that is not reading"
            )
    elif not only_reads(statement, word):
        conn.info[WROTE] = True


log = logging.getLogger(__name__)


#: How far behind the primary a standby has replayed, in seconds: none while it replays
#: all it has received and still receives (an idle primary sends nothing new), else the
#: time since the last transaction it replayed; 0 on a server that is no standby.
REPLICA_LAG = sa.text(
    "SELECT CASE WHEN NOT pg_is_in_recovery() THEN 0"
    " WHEN EXISTS (SELECT 1 FROM pg_stat_wal_receiver)"
    " AND pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0"
    " ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0) END"
)


class Replica:
    """Whether the read replica (只读副本) answers, and is not too far behind the primary,
    as the reads that use it find out.

    A reading unit of work that cannot connect to the replica reads from the primary
    instead, and so do the next ones for ``retry_s`` seconds, after which one tries the
    replica again: while the replica is down (stopped, failed over, unreachable) the
    screens on it — the command centre's case lists, the measures, the assessment — go on
    answering from the primary rather than with 503s, without each waiting for a connection
    that fails. Every ``retry_s`` seconds a read also asks the replica how far behind it is
    (``REPLICA_LAG``); more than ``max_lag_s`` counts as down, so that a replica whose
    replay stopped does not keep a queue on an old picture. The outage and the recovery are
    logged once each."""

    def __init__(
        self,
        retry_s: float,
        max_lag_s: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.retry_s = retry_s
        self.max_lag_s = max_lag_s
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._retry_at = 0.0
        self._check_at = 0.0
        self.error: str | None = None
        """Why the replica was last found down (``None`` while it answers)."""

    def worth_trying(self) -> bool:
        with self._lock:
            return self._down_since is None or self._monotonic() >= self._retry_at

    def behind(self, connection: Connection) -> bool:
        """Whether the replica, on ``connection``, is too far behind (then it counts as
        down, as ``failed``); asked at most every ``retry_s`` seconds, and of a replica
        being tried again."""
        with self._lock:
            if self._down_since is None and self._monotonic() < self._check_at:
                return False
        if connection.dialect.name != "postgresql":
            return False
        lag = float(connection.execute(REPLICA_LAG).scalar_one() or 0)
        connection.commit()  # the question's transaction, before the reads set theirs
        if lag > self.max_lag_s:
            self._down(f"{lag:.1f} s behind the primary (more than {self.max_lag_s:g} s)")
            return True
        with self._lock:
            self._check_at = self._monotonic() + self.retry_s
        return False

    def failed(self, error: BaseException) -> None:
        lines = str(error).strip().splitlines() or [""]
        self._down(f"{type(error).__name__}: {lines[0][:200]}")

    def _down(self, why: str) -> None:
        with self._lock:
            now = self._monotonic()
            first = self._down_since is None
            if first:
                self._down_since = now
            self._retry_at = now + self.retry_s
            self.error = why
        if first:
            log.warning(
                "只读副本不可用，改从主库读取 / the read replica is unreachable or behind, "
                "reading from the primary (tried again every %s s): %s",
                self.retry_s,
                why,
            )

    def answered(self) -> None:
        with self._lock:
            if self._down_since is None:
                return
            seconds = self._monotonic() - self._down_since
            self._down_since, self.error = None, None
        log.warning(
            "只读副本已恢复 / the read replica answers again, after %.0f s on the primary",
            seconds,
        )

    @property
    def down(self) -> bool:
        return self._down_since is not None


class SqlUnitOfWork:
    """``reading``: the unit of work only reads. On PostgreSQL its statements then run
    without a transaction around them (autocommit), which spares the round trips of BEGIN
    and COMMIT (two of a case page's seven) and PostgreSQL's work for them; under READ
    COMMITTED every statement sees a snapshot of its own either way. It refuses to write
    (``ReadingUnitOfWorkWrote``): each statement would have committed alone."""

    def __init__(
        self,
        engine: Engine,
        cache: ReadCache | None = None,
        *,
        reading: bool = False,
        primary: Engine | None = None,
        replica: Replica | None = None,
    ) -> None:
        self.engine = engine
        self.cache = cache
        self.reading = reading
        self._primary = primary
        self._replica = replica
        self._connection: Connection | None = None

    def _connect(self) -> Connection:
        """A connection to ``engine``; for a reading unit of work on the replica
        (``replica`` and ``primary`` given), to the primary while the replica is down."""
        if self._primary is None or self._replica is None:
            return self.engine.connect()
        if not self._replica.worth_trying():
            return self._primary.connect()
        try:
            connection = self.engine.connect()
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as error:
            self._replica.failed(error)
            return self._primary.connect()
        try:
            behind = self._replica.behind(connection)
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as error:
            self._replica.failed(error)
            behind = True
        if behind:
            connection.close()
            return self._primary.connect()
        self._replica.answered()
        return connection

    def __enter__(self) -> Self:
        self._connection = self._connect()
        self._connection.info[WROTE] = False
        if self.reading:
            # for this checkout only: SQLAlchemy sets the isolation level back as the
            # connection returns, and the next checkout is a new ``Connection``
            if self._connection.dialect.name == "postgresql":
                self._connection.execution_options(isolation_level="AUTOCOMMIT", **{READING: True})
            else:
                self._connection.execution_options(**{READING: True})
        self._transaction = self._connection.begin()
        self.territory = SqlTerritoryRepository(self._connection)
        self.forces = SqlForcesRepository(self._connection, self.cache)
        self.taxonomy = SqlTaxonomyRepository(self._connection, self.cache)
        self.cases = LiveCaseRepository(self._connection)  # live updates: see commit
        self.outbox = SqlOutboxRepository(self._connection)
        self.accounts = SqlAccountRepository(self._connection)
        self.audit = SqlAuditRepository(self._connection)
        self.points = SqlPointsRepository(self._connection, self.cache)
        # integrations: each peer adds its repository below, one line each
        self.open311 = SqlOpen311Repository(self._connection, self.cases)
        self.district = SqlDistrictRepository(self._connection)
        self.outbox_admin = SqlOutboxAdminRepository(self._connection)
        self.vision = SqlVisionRepository(self._connection)
        self.wecom = SqlWeComRepository(self._connection)
        self.hotline = SqlHotlineRepository(self._connection)
        self.shops = SqlShopRepository(self._connection)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        connection = self._connection
        assert connection is not None
        try:
            if exc_type is None and not connection.info.get(WROTE) and connection.in_transaction():
                # left after reads only (since the last commit): a COMMIT ends them as a
                # ROLLBACK would, without making psycopg forget its prepared statements
                connection.commit()
            elif self._transaction.is_active:
                self.rollback()
        finally:
            connection.close()
            self._connection = None

    @property
    def connection(self) -> Connection:
        assert self._connection is not None, "use the unit of work in a with-block"
        return self._connection

    def commit(self) -> None:
        self.cases.announce()  # the live updates, sent as the transaction commits
        self._transaction.commit()
        self.connection.info[WROTE] = False  # what follows is judged afresh on leaving

    def reader(self) -> Self:
        return type(self)(
            self.engine, self.cache, reading=True, primary=self._primary, replica=self._replica
        )

    def rollback(self) -> None:
        self._transaction.rollback()
        self.cases.forget()
