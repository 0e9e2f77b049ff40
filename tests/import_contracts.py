"""An import-linter contract type for submodules of an external package.

import-linter's own "forbidden" contract can forbid a whole external package (PySide6) but
not one of its submodules (PySide6.QtWidgets): its graph knows external packages only by
their top-level name. Overpaint's layering needs exactly that ("editor.model may use QtCore
and QtGui, never QtWidgets"), so this contract reads the import statements the graph
recorded for each import of the top-level package, and follows internal imports so an
indirect route (model -> some helper -> QtWidgets) counts too.

Registered in pyproject.toml under [tool.importlinter] contract_types; lint-imports runs
from the repository root, which it puts on sys.path.
"""

from __future__ import annotations

import re

from grimp import ImportGraph
from importlinter import Contract, ContractCheck, fields, output
from importlinter.domain.helpers import module_expressions_to_modules

_FROM_RE = re.compile(r"^\s*from\s+([\w.]+)\s+import\s+\(?\s*([\w\s,.]*)")
_IMPORT_RE = re.compile(r"^\s*import\s+(.+)$")


def imported_names(line: str) -> list[str]:
    """The dotted modules an import statement can bring in ("from a import b" -> a, a.b)."""
    if match := _FROM_RE.match(line):
        base = match.group(1)
        names = [n.split(" as ")[0].strip() for n in match.group(2).split(",")]
        return [base, *(f"{base}.{name}" for name in names if name)]
    if match := _IMPORT_RE.match(line):
        return [part.split(" as ")[0].strip() for part in match.group(1).split(",")]
    return []


def _is_within(name: str, forbidden: str) -> bool:
    return name == forbidden or name.startswith(forbidden + ".")


class ForbiddenExternalSubmodulesContract(Contract):
    """Source modules (and what they import, transitively) never import the given
    submodules of external packages, e.g. ``PySide6.QtWidgets``."""

    type_name = "forbidden_external_submodules"

    source_modules = fields.ListField(subfield=fields.ModuleExpressionField())
    forbidden_modules = fields.ListField(subfield=fields.StringField())

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        offenders = self._direct_offenders(graph)
        broken: list[tuple[list[str], str, int, str]] = []
        sources = module_expressions_to_modules(graph, self.source_modules)  # type: ignore[arg-type]
        for source in sorted(sources, key=lambda m: m.name):
            inside = graph.find_descendants(source.name) | {source.name}
            reachable = inside | graph.find_upstream_modules(source.name, as_package=True)
            for module in sorted(reachable & offenders.keys()):
                # A module of the source package is its own route; else the shortest one.
                chain = (module,) if module in inside else None
                chain = chain or graph.find_shortest_chain(source.name, module, as_packages=True)
                for forbidden, line_number, line in offenders[module]:
                    broken.append((list(chain), forbidden, line_number, line))
        output.verbose_print(verbose, f"{len(broken)} forbidden submodule imports found.")
        return ContractCheck(kept=not broken, metadata={"broken": broken})

    def _direct_offenders(self, graph: ImportGraph) -> dict[str, list[tuple[str, int, str]]]:
        found: dict[str, list[tuple[str, int, str]]] = {}
        for forbidden in self.forbidden_modules:  # type: ignore[attr-defined]
            top = forbidden.split(".")[0]
            if top not in graph.modules:
                continue
            for importer in graph.find_modules_that_directly_import(top):
                for detail in graph.get_import_details(importer=importer, imported=top):
                    line = detail["line_contents"]
                    if any(_is_within(name, forbidden) for name in imported_names(line)):
                        found.setdefault(importer, []).append(
                            (forbidden, detail["line_number"], line)
                        )
        return found

    def render_broken_contract(self, check: ContractCheck) -> None:
        for chain, forbidden, line_number, line in check.metadata["broken"]:
            route = " -> ".join(chain)
            output.print_error(f"{route} imports {forbidden} (l.{line_number}: {line})")
            output.new_line()
