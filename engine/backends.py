"""The engine interface the worker and the CLI talk to, and the choice between engines.

Two engines implement it: the in-process diffusers Engine (engine/local/engine.py) and the
ComfyEngine that runs jobs on ComfyUI servers (engine/comfy/engine.py). Nothing above
this choice knows which one runs: both build on engine.base.EngineBase, which checks the
request, prepares its pixels, runs classical fill and composites every result, so they
take the same request and inputs and give the same kind of results. This module alone
knows both engines; they never import each other (an import-linter contract).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from engine.comfy.engine import ComfyEngine
from engine.local.engine import Engine
from engine.request import GenerationInputs, GenerationRequest, GenerationResult

# (url, token) pairs; an empty token sends no Authorization header.
ServerList = tuple[tuple[str, str], ...]


class GenerationEngine(Protocol):
    def run(
        self,
        request: GenerationRequest,
        inputs: GenerationInputs | None = None,
        on_progress: object | None = None,
        should_cancel: object | None = None,
    ) -> list[GenerationResult]: ...

    def unload(self) -> None: ...


def as_server_list(servers: Sequence[str | tuple[str, str]]) -> ServerList:
    return tuple((s, "") if isinstance(s, str) else (str(s[0]), str(s[1])) for s in servers)


def make_engine(extra_dirs: Sequence[Path] = (), servers: ServerList = ()) -> GenerationEngine:
    """ComfyUI servers when any are given, else the local engine (nothing loaded yet)."""
    if servers:
        return ComfyEngine(servers)
    return Engine(extra_dirs)
