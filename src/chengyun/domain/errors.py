"""Typed domain errors; the HTTP layer maps each kind to one status code.

Every error says what was wrong and how to fix it, in Chinese and English, and
may carry a list of problems, each naming where it was found.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input, and where: a path such as
    ``("features", 3, "geometry")`` or ``("日间 Day", 12, "网格 Grid")``."""

    location: tuple[str | int, ...]
    message: str
    kind: str = "invalid"


@dataclass
class DomainError(Exception):
    """Base of the errors the domain and services raise on purpose."""

    message: str
    problems: list[Problem] = field(default_factory=list)
    code: str = "invalid"

    def __str__(self) -> str:
        if not self.problems:
            return self.message
        lines = [self.message]
        lines.extend(
            f"  - {'/'.join(str(p) for p in problem.location) or '-'}: {problem.message}"
            for problem in self.problems
        )
        return "\n".join(lines)


class InvalidInput(DomainError):
    """The input cannot be accepted as given (HTTP 422)."""


class NotFound(DomainError):
    """The thing asked for does not exist (HTTP 404)."""


class Conflict(DomainError):
    """The request clashes with the current state (HTTP 409)."""


class OutsideTerritory(InvalidInput):
    """A position lies outside the sub-district (HTTP 422)."""


class Unauthorized(DomainError):
    """Not signed in, or the credentials are wrong (HTTP 401)."""


class Forbidden(DomainError):
    """Signed in, but not allowed (HTTP 403)."""


class TooManyRequests(DomainError):
    """Too many attempts; try again later (HTTP 429)."""

    retry_after: int = 60
