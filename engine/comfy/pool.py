"""Several ComfyUI servers: health checks, and the samples of a job spread over them.

Each sample goes whole to one server, seeded as seed + i, so which server ran it does not
change its pixels. Every live server has a thread that takes the next waiting sample; a
server that goes away puts its sample back for the others and drops out. The job fails
(one sentence) only when samples are left and no server is.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from engine.comfy.server import ComfyServer, ServerGone, ServerInfo
from engine.core.errors import Cancelled, EngineError

log = logging.getLogger(__name__)

# run_sample(server, info, index) -> the sample's result (whatever the caller makes of it)
SampleFn = Callable[[ComfyServer, ServerInfo, int], Any]


class NoServerLeft(EngineError):
    pass


class ServerPool:
    def __init__(self, servers: Sequence[tuple[str, str]]) -> None:
        """`servers`: (url, token) pairs, in the user's order of preference."""
        if not servers:
            raise EngineError("No ComfyUI server is set; add one in Settings > Servers.")
        self.servers = [ComfyServer(url, token) for url, token in servers]
        self.last_errors: dict[str, str] = {}

    @property
    def urls(self) -> list[str]:
        return [s.url for s in self.servers]

    def check_all(self) -> list[tuple[ComfyServer, ServerInfo | None, str | None]]:
        """Health of every server, checked at once: (server, info or None, error or None)."""

        def one(server: ComfyServer) -> tuple[ComfyServer, ServerInfo | None, str | None]:
            try:
                return server, server.check(), None
            except EngineError as e:
                return server, None, str(e)

        with ThreadPoolExecutor(max_workers=len(self.servers)) as pool:
            return list(pool.map(one, self.servers))

    def live(self) -> list[tuple[ComfyServer, ServerInfo]]:
        """The servers that answer now; one sentence when none does."""
        states = self.check_all()
        alive = [(s, info) for s, info, _ in states if info is not None]
        self.last_errors = {s.url: err for s, _, err in states if err is not None}
        if not alive:
            if len(states) == 1:
                raise NoServerLeft(states[0][2] or "The ComfyUI server did not answer.")
            raise NoServerLeft(
                "None of the ComfyUI servers answers ("
                + "; ".join(f"{url}: {_short(err)}" for url, err in self.last_errors.items())
                + ")."
            )
        for server, err in ((s, e) for s, _, e in states if e is not None):
            log.warning("skipping %s: %s", server.url, err)
        return alive

    def run_samples(
        self,
        n: int,
        run_sample: SampleFn,
        cancel: Callable[[], bool],
        servers: list[tuple[ComfyServer, ServerInfo]] | None = None,
    ) -> list[Any]:
        """Results of run_sample for indices 0..n-1, in order, spread over live servers."""
        servers = self.live() if servers is None else servers
        waiting: queue.Queue[int] = queue.Queue()
        for i in range(n):
            waiting.put(i)
        results: dict[int, Any] = {}
        failures: list[BaseException] = []
        gone: dict[str, str] = dict(self.last_errors)
        lock = threading.Lock()
        done = threading.Event()

        def worker(server: ComfyServer, info: ServerInfo) -> None:
            while not done.is_set():
                try:
                    index = waiting.get(timeout=0.1)
                except queue.Empty:
                    continue
                try:
                    result = run_sample(server, info, index)
                except ServerGone as e:
                    waiting.put(index)  # another server takes it
                    with lock:
                        gone[server.url] = str(e)
                    log.warning("%s; its sample %d waits for another server", _short(str(e)), index)
                    return
                except BaseException as e:
                    with lock:
                        failures.append(e)
                    done.set()
                    return
                with lock:
                    results[index] = result
                    if len(results) == n:
                        done.set()

        threads = [
            threading.Thread(target=worker, args=pair, name=f"comfy-{i}", daemon=True)
            for i, pair in enumerate(servers)
        ]
        for t in threads:
            t.start()
        while not done.is_set():
            if not any(t.is_alive() for t in threads):
                break
            done.wait(0.1)
        done.set()
        for t in threads:
            t.join()
        if failures:
            cancelled = [f for f in failures if isinstance(f, Cancelled)]
            raise cancelled[0] if cancelled and cancel() else failures[0]
        if len(results) < n:
            if cancel():
                raise Cancelled()
            # Each reason names its server already: "url: The ComfyUI server at url…" said
            # it twice, and "1 of 1 sample(s) undone" told a one-picture job nothing.
            reasons = "; ".join(_lower_first(_short(err)) for err in gone.values())
            undone = "" if n == 1 else f" with {n - len(results)} of {n} samples undone"
            left = "" if len(gone) == 1 else ", and no server is left"
            raise NoServerLeft(f"The job stopped{undone}: {reasons}{left}.")
        return [results[i] for i in range(n)]


def _short(sentence: str) -> str:
    return sentence.rstrip(".")


def _lower_first(sentence: str) -> str:
    return sentence[:1].lower() + sentence[1:]
