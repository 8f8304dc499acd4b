"""The pages' words: both message catalogs hold the same keys, each once, none empty, and
the Chinese catalog is the default (a second entry for a key would silently replace the
first, changing a word on another page)."""

from __future__ import annotations

import re
from collections import Counter

from chengyun.entrypoints.web import i18n


def _entries(lang: i18n.Language) -> list[tuple[str | None, str]]:
    path = i18n.CATALOGS / i18n.CATALOG_LOCALES[lang] / "LC_MESSAGES" / "messages.po"
    text = path.read_text(encoding="utf-8")
    found = re.findall(r'(?:^msgctxt "([^"]*)"\n)?^msgid "([^"]+)"$', text, re.MULTILINE)
    return [(context or None, key) for context, key in found]


def test_each_word_is_written_once_in_each_catalog() -> None:
    for lang in i18n.LANGUAGES:
        twice = sorted(k for k, n in Counter(_entries(lang)).items() if n > 1)
        assert twice == [], f"defined twice in the {lang} catalog: {twice}"


def test_both_catalogs_hold_the_same_words() -> None:
    zh, en = i18n.read_catalog("zh"), i18n.read_catalog("en")
    assert zh.keys() == en.keys()
    assert all(zh.values()) and all(en.values())
    assert set(_entries("zh")) == set(zh)
    assert i18n.words("zh")["command_centre"] == "城运中心"
    assert i18n.words("en")["command_centre"] == "Command centre"
    assert i18n.labels("en")["topic"]["district.up"] == "Sent up to the district platform"
