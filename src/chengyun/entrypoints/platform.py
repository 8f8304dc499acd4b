"""What every entry point shares in a process: settings, engine, clock, calendar, caches."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from chengyun.adapters.calendar import china_calendar
from chengyun.adapters.db.engine import make_engine
from chengyun.adapters.db.read_cache import ReadCache
from chengyun.adapters.db.unit_of_work import Replica, SqlUnitOfWork
from chengyun.adapters.geo.crs import Crs
from chengyun.adapters.geo.index import TerritoryIndexCache
from chengyun.adapters.photos import PhotoStore
from chengyun.adapters.taxonomy_file import load_default_taxonomy
from chengyun.clock import Clock, SystemClock
from chengyun.config import Settings
from chengyun.domain.cases import Channel
from chengyun.domain.territory import Location, Territory
from chengyun.domain.working_time import WorkingCalendar
from chengyun.services.cases import CaseEnvironment, IntakePolicy
from chengyun.services.group_commit import GroupCommit

_GROUP_COMMIT_LOCK = threading.Lock()
#: How long a connection to the read replica may take before its screens use the primary.
REPLICA_CONNECT_TIMEOUT_S = 2


@dataclass
class Platform:
    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    engine_override: Engine | None = None
    _group_commit: GroupCommit | None = field(default=None, init=False, repr=False)

    @cached_property
    def engine(self) -> Engine:
        return self.engine_override or make_engine(self.settings.resolved_database_url)

    @cached_property
    def read_engine(self) -> Engine:
        """The read replica when one is configured, else the primary."""
        url = self.settings.read_database_url
        if not url:
            return self.engine
        # Its screens read from the primary while it does not answer (``replica``): a pooled
        # connection is pinged before each use (a round trip more a screen) so that one the
        # replica dropped is found at the checkout, where the primary can take over, and
        # not half-way through the screen's reads (a 503); and a replica that does not
        # answer is given up on after a few seconds, not after the operating system's minutes.
        parsed = sa.make_url(url)
        if parsed.get_backend_name() != "postgresql" or "connect_timeout" in parsed.query:
            return make_engine(url, pool_pre_ping=True)
        timeout = {"connect_timeout": REPLICA_CONNECT_TIMEOUT_S}
        return make_engine(url, pool_pre_ping=True, connect_args=timeout)

    @cached_property
    def replica(self) -> Replica | None:
        """Whether the read replica answers (``None`` without one)."""
        if not self.settings.read_database_url:
            return None
        return Replica(
            self.settings.read_replica_retry_seconds, self.settings.read_replica_max_lag_seconds
        )

    @cached_property
    def calendar(self) -> WorkingCalendar:
        return china_calendar(self.settings.day_start, self.settings.day_end)

    @cached_property
    def read_cache(self) -> ReadCache:
        return ReadCache()

    def uow(self, *, reading: bool = False) -> SqlUnitOfWork:
        """A unit of work on the primary; ``reading`` for one that only reads what must be
        current, such as a case's page after an action (see ``SqlUnitOfWork``)."""
        return SqlUnitOfWork(self.engine, self.read_cache, reading=reading)

    def read_uow(self) -> SqlUnitOfWork:
        """A unit of work for screens that only read (measures, assessment, case lists):
        on the replica, which may lag the primary by a moment, or on the primary while the
        replica does not answer (``Replica``); never write through it."""
        return SqlUnitOfWork(
            self.read_engine,
            self.read_cache,
            reading=True,
            primary=self.engine if self.replica is not None else None,
            replica=self.replica,
        )

    @cached_property
    def territory_index(self) -> TerritoryIndexCache:
        def load() -> tuple[Territory | None, int]:
            # the revision first: a territory imported in between is then kept under the
            # older revision and read again at the next check, never the other way round
            with self.uow(reading=True) as uow:
                revision = uow.territory.revision()
                return uow.territory.get(), revision

        def revision() -> int:
            with self.uow(reading=True) as uow:
                return uow.territory.revision()

        return TerritoryIndexCache(load, revision, self.settings.territory_refresh_seconds)

    @cached_property
    def photos(self) -> PhotoStore:
        return PhotoStore(self.settings.photos_dir or self.settings.data_dir / "photos")

    def locate(self, lng: float, lat: float) -> Location:
        return self.territory_index.get().locate(lng, lat, Crs.WGS84)

    @cached_property
    def cases(self) -> CaseEnvironment:
        """What the case services need, built once per process."""
        return CaseEnvironment(
            clock=self.clock,
            calendar=self.calendar,
            locator=self,
            default_taxonomy=load_default_taxonomy(),
            policy=IntakePolicy(
                auto_register=frozenset(Channel)
                - {Channel(c) for c in self.settings.manual_register_channels},
                auto_dispatch_all=self.settings.auto_dispatch_all,
                duplicate_radius_m=self.settings.duplicate_radius_m,
                duplicate_window=timedelta(hours=self.settings.duplicate_window_hours),
                self_handled_sample_percent=self.settings.self_handled_sample_percent,
            ),
        )

    @property
    def group_commit(self) -> GroupCommit:
        """This process's committing thread for new reports (成组提交): the reports that
        arrive while one transaction commits are written together in the next. Made once,
        under a lock: Open311 asks for it from several threads at once."""
        with _GROUP_COMMIT_LOCK:
            if self._group_commit is None:
                self._group_commit = GroupCommit(
                    self.uow, self.cases, linger_s=self.settings.group_commit_linger_ms / 1000
                )
            return self._group_commit
