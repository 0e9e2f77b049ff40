"""Background health checks of ComfyUI servers: online, offline or busy, and their models.

A HealthMonitor checks every server on a thread of its own, every `interval` seconds,
and reports the states whenever one changes. A server it has not reached yet (or lost)
gets the full check (version, nodes, models: `/object_info` is large, so only then); a
server that is up gets a light one (`/queue` and `/models/` of checkpoints, loras and
diffusion_models), so installing a model on the server shows up without a restart. A
server that comes back after going away is simply reached again on a later round: that
is the reconnect. No Qt in here; the window's wrapper (editor/ui/servers/status.py)
turns the reports into signals.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from engine.comfy.server import ComfyServer
from engine.comfy.server_models import ServerModel, server_models
from engine.core.errors import EngineError

log = logging.getLogger(__name__)

CHECK_SECONDS = 5.0  # between rounds; a dead server is noticed within one round + 3 s
LIGHT_TIMEOUT = 5.0  # a server busy sampling still answers /queue at once


@dataclass(frozen=True)
class ServerState:
    url: str
    online: bool
    queue: int = 0  # prompts running or waiting on the server
    version: str = ""
    device: str = ""
    error: str = ""  # one sentence, when offline
    checkpoints: tuple[str, ...] = ()
    loras: tuple[str, ...] = ()
    checked: bool = True  # False until the first answer (or failure) came
    diffusion_models: tuple[str, ...] = ()  # the transformer families' split files

    @property
    def label(self) -> str:
        if not self.checked:
            return "checking…"
        if not self.online:
            return "offline"
        return f"busy (queue {self.queue})" if self.queue else "online"


def offered_checkpoints(states: Sequence[ServerState]) -> tuple[str, ...]:
    """The checkpoints of the online servers, in server order, each name once."""
    return _union(state.checkpoints for state in states if state.online)


def offered_models(states: Sequence[ServerState]) -> tuple[ServerModel, ...]:
    """The models of the online servers grouped by family (what the picker lists)."""
    online = [state for state in states if state.online]
    return server_models(
        _union(s.checkpoints for s in online), _union(s.diffusion_models for s in online)
    )


def offered_loras(states: Sequence[ServerState]) -> tuple[str, ...]:
    """The LoRA files of the online servers, in server order, each name once."""
    return _union(state.loras for state in states if state.online)


def _union(lists: Iterable[tuple[str, ...]]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for names in lists:
        seen.update(dict.fromkeys(names))
    return tuple(seen)


def check_server(server: ComfyServer, previous: ServerState | None) -> ServerState:
    """One health check: full when the server was not online, light when it was."""
    try:
        if previous is None or not previous.online:
            info = server.check()
            return ServerState(server.url, True, info.queue, info.version, info.device, "",
                               info.checkpoints, info.loras,
                               diffusion_models=info.diffusion_models)  # fmt: skip
        queue = server._json("GET", "/queue", LIGHT_TIMEOUT)
        waiting = len(queue.get("queue_running", [])) + len(queue.get("queue_pending", []))
        checkpoints, loras = (
            _names(server, f"/models/{kind}") for kind in ("checkpoints", "loras")
        )
        try:  # a server without the folder (older than 0.3) is still up
            unets = _names(server, "/models/diffusion_models")
        except EngineError:
            unets = ()
        return ServerState(server.url, True, waiting, previous.version, previous.device, "",
                           checkpoints, loras, diffusion_models=unets)  # fmt: skip
    except EngineError as e:
        return ServerState(server.url, False, error=str(e))


def _names(server: ComfyServer, path: str) -> tuple[str, ...]:
    names = server._json("GET", path, LIGHT_TIMEOUT)
    return tuple(str(n) for n in names) if isinstance(names, list) else ()


class HealthMonitor:
    """Checks `servers` ((url, token) pairs) in the background and calls `on_change` with
    every server's state (in the given order) after the first round and whenever a
    state changes. `on_change` runs on the monitor's thread."""

    def __init__(
        self,
        servers: Sequence[tuple[str, str]],
        on_change: Callable[[list[ServerState]], None],
        interval: float = CHECK_SECONDS,
    ) -> None:
        self.servers = [ComfyServer(url, token) for url, token in servers]
        self.on_change = on_change
        self.interval = interval
        self._states = [ServerState(s.url, False, checked=False) for s in self.servers]
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def states(self) -> list[ServerState]:
        with self._lock:
            return list(self._states)

    def check_once(self) -> list[ServerState]:
        """One round over all servers at once; reports when anything changed."""
        previous = self.states()
        workers = max(1, len(self.servers))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="comfy-health") as pool:
            states = list(
                pool.map(
                    lambda pair: check_server(pair[0], pair[1] if pair[1].checked else None),
                    zip(self.servers, previous, strict=True),
                )
            )
        with self._lock:
            self._states = states
        if states != previous or not all(p.checked for p in previous):
            for old, new in zip(previous, states, strict=True):
                if old.online != new.online:
                    log.info("%s is %s", new.url, new.label)
            self.on_change(list(states))
        return states

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="comfy-health", daemon=True)
            self._thread.start()

    def check_soon(self) -> None:
        """Start the next round now (e.g. right after a job failed on a server)."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread; a round in flight ends within the connect timeout."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.check_once()
            except Exception:  # a broken report must not end the checks
                log.exception("server health check failed")
            self._wake.wait(self.interval)
            self._wake.clear()
