"""The pages' words in Chinese (first, the default) and English, from Babel message
catalogs: ``src/chengyun/locale/<locale>/LC_MESSAGES/messages.po``. A word is added to both
catalogs under the same key; the import refuses a key either of them lacks;
statuses, channels, actions and the other domain labels come from their ``Labelled``
enums, where they are defined once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from babel.messages.pofile import read_po
from fastapi import Request

from chengyun.domain.access import Role
from chengyun.domain.cases import Action, CaseStatus, Channel, EscalationLevel, RejectReason
from chengyun.domain.forces import Department, Post, Shift, TeamType
from chengyun.domain.labels import Labelled
from chengyun.domain.sla import Light
from chengyun.domain.taxonomy import Stage, Urgency

Language = Literal["zh", "en"]
LANGUAGES: tuple[Language, ...] = ("zh", "en")
DEFAULT: Language = "zh"
COOKIE = "chengyun_lang"
HTML_LANG: dict[Language, str] = {"zh": "zh-CN", "en": "en"}

#: The message catalogs (Babel/gettext ``.po``), one per language: ``msgid`` is the word's
#: key, the templates' ``t.<key>``; the notifications' topics carry ``msgctxt "topic"``.
CATALOGS = Path(__file__).resolve().parents[2] / "locale"
CATALOG_LOCALES: dict[Language, str] = {"zh": "zh_Hans_CN", "en": "en"}
TOPIC = "topic"


def read_catalog(lang: Language) -> dict[tuple[str | None, str], str]:
    """One language's words by (context, key), from its ``messages.po``; a line Babel
    cannot read stops the import (read leniently, it only printed a warning and dropped
    what it could not read)."""
    path = CATALOGS / CATALOG_LOCALES[lang] / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as file:
        catalog = read_po(file, locale=CATALOG_LOCALES[lang], abort_invalid=True)
    return {(m.context, str(m.id)): str(m.string) for m in catalog if m.id}


def _pairs(
    zh: dict[tuple[str | None, str], str],
    en: dict[tuple[str | None, str], str],
    context: str | None,
) -> dict[str, tuple[str, str]]:
    """Every key of ``context`` with its Chinese and English words; a word missing or empty
    in either catalog stops the import, naming the key (it would show as a blank)."""
    keys = [key for (ctx, key) in zh if ctx == context]
    keys += [key for (ctx, key) in en if ctx == context and (ctx, key) not in zh]
    missing = [k for k in keys if not zh.get((context, k)) or not en.get((context, k))]
    if missing:
        raise RuntimeError(f"words missing from a catalog under {CATALOGS}: {sorted(missing)}")
    return {key: (zh[(context, key)], en[(context, key)]) for key in keys}


_ZH, _EN = read_catalog("zh"), read_catalog("en")
WORDS: dict[str, tuple[str, str]] = _pairs(_ZH, _EN, None)
#: What a notification is about (the outbox's topics).
TOPICS: dict[str, tuple[str, str]] = _pairs(_ZH, _EN, TOPIC)


def words(lang: Language) -> dict[str, str]:
    """Every word of the pages in one language."""
    index = LANGUAGES.index(lang)
    return {key: pair[index] for key, pair in WORDS.items()}


LABELLED: dict[str, type[Labelled]] = {
    "status": CaseStatus,
    "channel": Channel,
    "action": Action,
    "light": Light,
    "stage": Stage,
    "urgency": Urgency,
    "role": Role,
    "shift": Shift,
    "department": Department,
    "team": TeamType,
    "post": Post,
    "escalation": EscalationLevel,
    "reject_reason": RejectReason,
}


def labels(lang: Language) -> dict[str, dict[str, str]]:
    """The domain's labels in one language: ``labels("en")["status"]["dispatched"]``."""
    index = LANGUAGES.index(lang)
    found = {
        name: {m.value: (m.zh if lang == "zh" else m.en) for m in enum}
        for name, enum in LABELLED.items()
    }
    found["topic"] = {topic: pair[index] for topic, pair in TOPICS.items()}
    return found


def language(request: Request) -> Language:
    """``?lang=`` if given, else the remembered choice, else Chinese."""
    for wanted in (request.query_params.get("lang"), request.cookies.get(COOKIE)):
        if wanted in LANGUAGES:
            return "en" if wanted == "en" else "zh"
    return DEFAULT
