"""`overpaint models [install|remove|starters]`: the model manager on the command line.

`overpaint models` alone lists the models as before. Errors are EngineErrors, which the
CLI's main prints as one `error:` line with exit status 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from engine.comfy.cli_support import add_server_arg
from engine.model_manager.catalog import STARTERS
from engine.model_manager.install import install
from engine.model_manager.installed import remove_installed
from engine.model_manager.kinds import KIND_LABELS, KINDS
from engine.model_manager.transfer import Progress, TransferError, human_size


def add_models_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list, install or remove models")
    p.add_argument("--models-dir", action="append", default=[], type=Path)
    p.add_argument("--debug", action="store_true", help="show tracebacks and engine logs")

    add_server_arg(p)  # list what ComfyUI servers offer instead of the local models
    actions = p.add_subparsers(dest="models_command", metavar="ACTION")
    i = actions.add_parser(
        "install",
        help="install a model from a URL, a Hugging Face repo, a local file or folder, or "
        "the starter list",
    )
    i.add_argument("source", metavar="URL_OR_REPO", help="URL, owner/repo, path or starter id")
    i.add_argument("--file", default=None, help="the file to take from a Hugging Face repo")
    i.add_argument("--sha256", default=None, help="expected SHA-256 of the file")
    i.add_argument("--kind", choices=KINDS, default=None, help="place as this kind")
    i.add_argument("--link", action="store_true", help="link a local file instead of copying")
    i.add_argument("--debug", action="store_true", default=argparse.SUPPRESS)
    r = actions.add_parser("remove", help="move an installed model to the trash")
    r.add_argument("name", help="the model's name, file name or path")
    r.add_argument("--debug", action="store_true", default=argparse.SUPPRESS)
    s = actions.add_parser("starters", help="list the starter models with sizes and licences")
    s.add_argument("--debug", action="store_true", default=argparse.SUPPRESS)


class TerminalProgress:
    """`[#####.....] 45%  1.2/2.7 GB  12.3 MB/s  2 min 05 s left` on stderr: redrawn in
    place on a terminal, a line per tenth otherwise."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last = -1

    def __call__(self, p: Progress) -> None:
        fraction = p.fraction
        text = describe(p)
        if self.tty:
            filled = int(30 * (fraction or 0))
            self.stream.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {text}\x1b[K")
            if fraction == 1.0:
                self.stream.write("\n")
        else:
            tenth = int(10 * fraction) if fraction is not None else p.done // (100 << 20)
            if tenth != self._last:
                self._last = tenth
                self.stream.write(text + "\n")
        self.stream.flush()


def describe(p: Progress) -> str:
    """`45%  1.2 GB of 2.7 GB  12.3 MB/s  2 min 05 s left` (what is known of it)."""
    parts = []
    if p.fraction is not None:
        parts.append(f"{100 * p.fraction:.0f}%")
        parts.append(f"{human_size(p.done)} of {human_size(p.total)}")
    else:
        parts.append(human_size(p.done))
    if p.speed:
        parts.append(f"{human_size(p.speed)}/s")
    left = p.seconds_left
    if left is not None:
        secs = int(round(left))
        parts.append(f"{secs // 60} min {secs % 60:02d} s left" if secs >= 60 else f"{secs} s left")
    return "  ".join(parts)


def run_models(args: argparse.Namespace, list_models: Callable[[argparse.Namespace], int]) -> int:
    action = getattr(args, "models_command", None)
    if action == "install":
        return _install(args)
    if action == "remove":
        model, where = remove_installed(args.name, tuple(args.models_dir))
        print(f"moved {model.path} to the trash ({where})")
        return 0
    if action == "starters":
        for m in STARTERS:
            gated = "\tgated: accept its licence, then `hf auth login`" if m.gated else ""
            print(
                f"{m.id}\t{KIND_LABELS[m.kind]}\t~{human_size(m.size)}\t{m.licence}\t{m.title}"
                + gated
            )
        return 0
    return list_models(args)


def _install(args: argparse.Namespace) -> int:
    source, file = args.source, args.file
    starter = next((m for m in STARTERS if m.id == source), None)
    if starter is not None and not Path(source).exists():
        source, file = starter.repo, file or starter.file
    try:
        result = install(
            source, file, args.sha256, args.kind, args.link, progress=TerminalProgress()
        )
    except TransferError:
        sys.stderr.write("\n" if sys.stderr.isatty() else "")
        raise
    family = f", {result.family}" if result.family else ""
    print(
        f"installed {result.name} ({KIND_LABELS[result.kind]}{family}, "
        f"{human_size(result.size)}) at {result.path}"
    )
    return 0
