"""What the Open311 use cases keep (registered applications, the requests they made) and
the repository they need; a leaf module so that the unit of work can name it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

#: The core idempotency key of a request's case is this prefix and the request's token.
CASE_KEY_PREFIX = "open311:"


@dataclass(frozen=True)
class Application:
    """A registered Open311 application (应用): its reports arrive on ``channel``; only the
    SHA-256 of its api_key is stored."""

    id: int
    name: str
    channel: str
    created_at: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None


@dataclass(frozen=True)
class Intake:
    """A request as it was received: its token, the application, the client's own
    ``Idempotency-Key`` (if any), a hash of what was sent and the media URL given."""

    token: str
    application_id: int
    client_key: str | None
    request_hash: str
    media_url: str
    created_at: datetime


@dataclass(frozen=True)
class RequestQuery:
    """The filters of GET requests, already resolved to case terms."""

    numbers: tuple[str, ...] = ()
    subclasses: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    limit: int = 1000


class Open311Repository(Protocol):
    def add_application(self, name: str, key_hash: str, channel: str, at: datetime) -> int: ...
    def application(self, name: str) -> Application | None: ...
    def application_by_key(self, key_hash: str) -> Application | None: ...
    def applications(self) -> list[Application]: ...
    def revoke(self, application_id: int, at: datetime) -> None:
        """Revoke the application's key; bumps the revision its cached keys are checked by."""
        ...

    def revision(self) -> int: ...
    def touch(self, application_id: int, at: datetime) -> None: ...
    def add_intake(self, intake: Intake) -> None:
        """Store ``intake``; ``DuplicateKey`` when the application already used its
        ``client_key``."""
        ...

    def intake(self, token: str) -> Intake | None: ...
    def intake_by_client_key(self, application_id: int, client_key: str) -> Intake | None: ...
    def remove_intake(self, token: str) -> None: ...
    def find(self, query: RequestQuery) -> Sequence[tuple[int, Intake]]:
        """(case id, intake) of the requests whose cases match, newest first."""
        ...

    def case_id(self, token: str) -> int | None:
        """The case made from the request with ``token``, if it was made."""
        ...

    def token_of_case(self, case_id: int) -> str | None:
        """The token of the request that made case ``case_id`` (``None``: not Open311's)."""
        ...
