"""The pages' words: each key written once (a second entry would silently replace the
first, changing a word on another page)."""

from __future__ import annotations

import ast
from pathlib import Path

from chengyun.entrypoints.web import i18n


def test_no_word_is_defined_twice() -> None:
    tree = ast.parse(Path(i18n.__file__).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            keys = [k.value for k in node.keys if isinstance(k, ast.Constant)]
            twice = sorted({k for k in keys if keys.count(k) > 1})
            assert twice == [], f"defined twice in i18n.py (line {node.lineno}): {twice}"
