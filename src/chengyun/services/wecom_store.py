"""What the government WeChat (政务微信) use cases need from storage."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Protocol

from chengyun.services.records import Account


class WeComRepository(Protocol):
    def userids(self, numbers: Iterable[str]) -> dict[str, str]:
        """The mapped user ids of these people (people without a mapping are left out)."""
        ...

    def person_for(self, userid: str) -> str | None:
        """The person number a user id stands for: the mapping, else the person whose
        number it is — unless that person is mapped to another user id."""
        ...

    def save_users(self, pairs: Sequence[tuple[str, str]], at: datetime) -> None:
        """Insert or replace each person's mapping."""
        ...

    def account_for_person(self, number: str) -> Account | None:
        """The person's account: the one named by their number, else any that carries it."""
        ...
