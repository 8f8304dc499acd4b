"""Group commit (成组提交): the reports that arrive while one transaction is committing
are taken together in the next.

Every report must be on disk before it is acknowledged, and a commit waits for the disk
(a couple of milliseconds), holds the audit chain's lock and sends the live-update
notice; taken one by one, reports queue behind each other's commits, and a second server
process barely helps. ``GroupCommit`` gives each process one committing thread: a
request hands its report over and waits for the answer; the thread takes every report
waiting (up to ``max_batch``) and writes them in one transaction with
``services.cases.report_cases``. Nothing is acknowledged before its commit, so nothing
acknowledged can be lost.

If a batch fails — one report refused, or an Idempotency-Key seen before — the batch is
undone and each of its reports is taken again alone with ``report_case``, so each gets
exactly the answer it would have had on its own (the refused one its error, a repeat its
stored case). A video alert joining an earlier case is taken in its batch's transaction
after the others (see ``report_cases``).

While reports come in together, the thread lingers (成组等待) before taking a batch:
until as many reports wait as the largest of the last ``RECENT`` batches held (the
senders of the last batches coming back; ``max_batch`` at most), or ``linger_s`` at
most. A transaction's statements, its commit and its turns on the locks cost about as
much for 4 reports as for 15, so fuller batches leave more of the machine to the reports
themselves (on the benchmark machine, in paired runs, a linger of 3 ms for ``max_batch``
took 1.26 × the reports a second at 0.82 × the server's CPU per report). A report that
misses its batch waits for the whole of the next, so the linger ends as soon as the
reports expected are there, and may then be longer: up to 10 ms took 1.09 × the reports
a second and 0.78 × the 99th percentile latency of the 3 ms one (20 ms, no more). A
report after a batch of one — nothing else coming — is taken at once.

The thread starts with the first report and ends after ``idle_s`` with nothing to do.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass

from chengyun.services.cases import (
    CaseEnvironment,
    Report,
    Reported,
    report_cases,
    report_one,
)
from chengyun.services.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

#: how many of the last batches' sizes the linger goes by
RECENT = 8


@dataclass
class GroupCommitStats:
    """What a ``GroupCommit`` has done since it was made."""

    reports: int = 0
    transactions: int = 0
    largest_batch: int = 0
    batches_undone: int = 0
    """Batches that failed and whose reports were taken again one by one."""
    lingered: int = 0
    """Batches the thread waited for (``linger_s``) before taking them."""
    cpu_s: float = 0.0
    """The committing thread's CPU time spent taking batches (its waits not counted)."""


class GroupCommit:
    """One process's committing thread for new reports (see the module docstring)."""

    def __init__(
        self,
        uow_factory: Callable[[], UnitOfWork],
        env: CaseEnvironment,
        *,
        max_batch: int = 32,
        idle_s: float = 2.0,
        linger_s: float = 0.003,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        if linger_s < 0:
            raise ValueError("linger_s must not be negative")
        self._uow_factory = uow_factory
        self._env = env
        self._max_batch = max_batch
        self.idle_s = idle_s
        self.linger_s = linger_s
        self._pending: list[tuple[Report, Future[Reported]]] = []
        #: the sizes of the last batches: the reports a linger waits for at most
        self._recent: deque[int] = deque(maxlen=RECENT)
        self._ready = threading.Condition()
        self._thread: threading.Thread | None = None
        self.stats = GroupCommitStats()

    def submit(self, report: Report) -> Future[Reported]:
        """Hand ``report`` over; its future holds the ``Reported`` once committed (or the
        error ``report_case`` would have raised)."""
        return self.submit_all([report])[0]

    def submit_all(self, reports: Sequence[Report]) -> list[Future[Reported]]:
        """Hand several reports over at once (they are taken together where they fit)."""
        futures: list[Future[Reported]] = [Future() for _ in reports]
        with self._ready:
            self._pending.extend(zip(reports, futures, strict=True))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="chengyun-group-commit", daemon=True
                )
                self._thread.start()
            self._ready.notify()
        return futures

    def report(self, report: Report) -> Reported:
        """``submit`` and wait: for callers already on a thread of their own."""
        return self.submit(report).result()

    def _run(self) -> None:
        together = False  # whether the last batch held more than one report
        while True:
            with self._ready:
                if not self._pending:
                    self._ready.wait(self.idle_s)
                    if not self._pending:
                        self._thread = None
                        return
                if together and self.linger_s and len(self._pending) < self._max_batch:
                    self.stats.lingered += 1
                    self._linger()
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
            together = len(batch) > 1
            self._recent.append(len(batch))
            started = time.thread_time()
            self._take(batch)
            self.stats.cpu_s += time.thread_time() - started

    def _linger(self) -> None:
        """Wait (holding ``_ready``) up to ``linger_s`` for as many reports as the largest
        of the last batches held (``max_batch`` at most)."""
        deadline = time.monotonic() + self.linger_s
        enough = min(max(self._recent, default=self._max_batch), self._max_batch)
        while len(self._pending) < enough:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._ready.wait(left)

    def _take(self, batch: list[tuple[Report, Future[Reported]]]) -> None:
        # a waiter that gave up before its report was taken leaves nothing behind; once
        # taken, a report is committed (or refused) even if its waiter goes away
        batch = [(r, f) for r, f in batch if f.set_running_or_notify_cancel()]
        self.stats.reports += len(batch)
        self.stats.largest_batch = max(self.stats.largest_batch, len(batch))
        try:
            self._write(batch)
        except BaseException as error:  # never leave a request waiting, nor stop the thread
            log.exception("group commit failed; its reports are answered with the error")
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)

    def _write(self, batch: list[tuple[Report, Future[Reported]]]) -> None:
        # a batch of one too: as a batch, a report holds the audit chain's turn only for
        # the batch's short tail, where alone it holds it from its start (see
        # ``report_cases``), and other processes' batches wait for that turn
        stats = self.stats
        if not batch:
            return
        try:
            taken = report_cases(self._uow_factory(), self._env, [r for r, _ in batch])
        except BaseException as error:
            stats.batches_undone += 1
            # a lone refused report (a 4xx) is routine: only batches are worth a line
            log.log(
                logging.INFO if len(batch) > 1 else logging.DEBUG,
                "group commit of %d reports undone (%s); taking each alone",
                len(batch),
                type(error).__name__,
            )
        else:
            stats.transactions += 1
            for (_, future), reported in zip(batch, taken, strict=True):
                future.set_result(reported)
            return
        self._write_alone(batch)

    def _write_alone(self, batch: list[tuple[Report, Future[Reported]]]) -> None:
        stats = self.stats
        for report, future in batch:
            stats.transactions += 1
            try:
                future.set_result(report_one(self._uow_factory(), self._env, report))
            except BaseException as error:  # the request waiting for it answers with it
                future.set_exception(error)
