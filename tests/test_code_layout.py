"""Small modules: none in editor/ or engine/ grows past MAX_LINES (docs/ARCHITECTURE.md).

The import layering is checked by `lint-imports` (pyproject.toml [tool.importlinter]),
which packaging/test.sh runs; the parser of its custom contract is tested here.
"""

from __future__ import annotations

from pathlib import Path

from tests.import_contracts import imported_names

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 600


def test_no_module_exceeds_the_line_limit() -> None:
    too_long = {
        str(path.relative_to(ROOT)): lines
        for package in ("editor", "engine")
        for path in sorted((ROOT / package).rglob("*.py"))
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not too_long, f"modules over {MAX_LINES} lines (split them): {too_long}"


def test_contract_parser_sees_every_import_form() -> None:
    assert imported_names("from PySide6.QtWidgets import QWidget") == [
        "PySide6.QtWidgets",
        "PySide6.QtWidgets.QWidget",
    ]
    assert "PySide6.QtWidgets" in imported_names("from PySide6 import QtCore, QtWidgets as W")
    assert "PySide6.QtWidgets" in imported_names("from PySide6 import (QtWidgets,")
    assert imported_names("import PySide6.QtWidgets as w, os") == ["PySide6.QtWidgets", "os"]
    assert imported_names("x = 1") == []
