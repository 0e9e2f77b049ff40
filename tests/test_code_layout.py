"""Small modules: none in editor/ or engine/ grows past MAX_LINES (docs/ARCHITECTURE.md).

The import layering is checked by `lint-imports` (pyproject.toml [tool.importlinter]),
which packaging/test.sh runs; the parser of its custom contract is tested here.
"""

from __future__ import annotations

import ast
import io
import tokenize
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


def _commented_lines(source: str) -> tuple[set[int], set[int]]:
    """Lines holding a comment, and lines holding nothing but one."""
    with_comment: set[int] = set()
    only_comment: set[int] = set()
    lines = source.splitlines()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            row = token.start[0]
            with_comment.add(row)
            if lines[row - 1].lstrip().startswith("#"):
                only_comment.add(row)
    return with_comment, only_comment


def _unexplained_imports(source: str) -> list[int]:
    """Line numbers of function-level imports with no reason comment.

    A comment counts on the import's own lines or on the line directly above it; a
    comment above a block of consecutive imports (blank lines between them allowed)
    covers the whole block.
    """
    with_comment, only_comment = _commented_lines(source)
    unexplained: list[int] = []

    def check_body(body: list[ast.stmt]) -> None:
        covered = False
        previous: ast.stmt | None = None
        for statement in body:
            if isinstance(statement, (ast.Import, ast.ImportFrom)):
                end = statement.end_lineno or statement.lineno
                own = any(row in with_comment for row in range(statement.lineno, end + 1))
                above = statement.lineno - 1 in only_comment
                in_block = isinstance(previous, (ast.Import, ast.ImportFrom)) and covered
                covered = own or above or in_block
                if not covered:
                    unexplained.append(statement.lineno)
            previous = statement

    def visit(node: ast.AST, in_function: bool) -> None:
        if in_function:
            for field in ("body", "orelse", "finalbody"):
                body = getattr(node, field, None)
                if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
                    check_body(body)
        for child in ast.iter_child_nodes(node):
            nested = isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            visit(child, in_function or nested)

    visit(ast.parse(source), False)
    return unexplained


def test_function_level_imports_say_why() -> None:
    """An import inside a function is there for start-up time (or a cycle): it says so."""
    unexplained = [
        f"{path.relative_to(ROOT)}:{row}"
        for package in ("editor", "engine")
        for path in sorted((ROOT / package).rglob("*.py"))
        if path.parent.relative_to(ROOT).parts[:2] != ("engine", "demo")
        for row in _unexplained_imports(path.read_text(encoding="utf-8"))
    ]
    assert not unexplained, (
        "function-level imports without a one-line reason comment (hoist them to the "
        f"module top unless start-up time requires them): {unexplained}"
    )


def test_reason_comments_cover_a_block_of_imports() -> None:
    source = (
        "def f():\n"
        "    # torch: slow to import\n"
        "    import torch\n"
        "\n"
        "    from engine import x\n"
        "    y = 1\n"
        "    import os\n"
        "    import sys  # cheap, but a cycle\n"
        "\n"
        "\n"
        "import json\n"
    )
    assert _unexplained_imports(source) == [7]


def test_only_the_application_imports_the_main_window() -> None:
    """Helpers take the window through small Protocols (editor/ui/window_roles.py, or one
    beside the helper), so none imports it, not even for typing."""
    importers = []
    for path in sorted((ROOT / "editor" / "ui").rglob("*.py")):
        if path == ROOT / "editor" / "ui" / "application.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            else:
                continue
            if "editor.ui.main_window" in names:
                importers.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not importers, f"modules importing editor.ui.main_window: {importers}"
