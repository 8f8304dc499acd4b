"""String enums that carry their Chinese and English labels (and a colour where shown).

Each status, kind, role or channel is defined once, as a member of such an enum,
and stored in the database as its plain string value.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Self


class Labelled(StrEnum):
    """A ``StrEnum`` whose members are declared as ``NAME = "value", "中文", "English"``,
    optionally followed by a display colour (``"#2e7d32"``)."""

    zh: str
    en: str
    colour: str

    def __new__(cls, value: str, zh: str = "", en: str = "", colour: str = "", *_: Any) -> Self:
        member = str.__new__(cls, value)
        member._value_ = value
        member.zh = zh or value
        member.en = en or value
        member.colour = colour
        return member

    @property
    def label(self) -> str:
        """Both labels, Chinese first: ``社区 Community``."""
        return f"{self.zh} {self.en}"

    @classmethod
    def parse(cls, text: str) -> Self:
        """Find a member by its value, Chinese label, English label or ``"中文 English"``.

        Raises ``ValueError`` naming the accepted values.
        """
        wanted = text.strip()
        folded = wanted.casefold()
        for member in cls:
            if folded in (
                member.value.casefold(),
                member.zh.casefold(),
                member.en.casefold(),
                member.label.casefold(),
            ):
                return member
        choices = ", ".join(f"{m.value} ({m.zh})" for m in cls)
        raise ValueError(f"'{wanted}' is not one of / 不是以下之一: {choices}")
