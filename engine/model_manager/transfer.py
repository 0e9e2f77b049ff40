"""HTTP transfers that resume, report speed and time left, and check SHA-256.

Bytes go to a `.part` file in the staging folder (never the models folder). A sidecar
`.part.json` remembers the URL and the server's validator (ETag / Last-Modified), so an
interrupted transfer of the same file resumes with an HTTP Range request; a server that
ignores the range (200 instead of 206) or a changed file restarts it from zero.

A connection that drops mid-transfer (or a server busy with a 5xx / 429) is retried by
itself, resuming with a Range request after a growing pause, as pip and the Hugging Face
client do; only when every retry fails does the user see one sentence, and running the
install again still resumes from the part file.
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import json
import logging
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from engine.core.errors import Cancelled, EngineError

log = logging.getLogger(__name__)

CHUNK = 1 << 20
TIMEOUT_S = 30
_SPEED_WINDOW_S = 5.0
# HTTP statuses that say "try again soon" rather than "this will never work".
_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class TransferError(EngineError):
    """A transfer failed; str() is one sentence for the user."""


class TransientTransferError(TransferError):
    """A failure that often goes away by itself: a dropped connection, a busy server."""


class UnreachableError(TransferError):
    """The host refused or could not be found. On the first try that is a wrong address
    or no network, which waiting rarely fixes; after a dropped transfer it is retried."""


@dataclass(frozen=True)
class Retry:
    """How often a dropped transfer is resumed by itself: `retries` more tries after the
    first, waiting first_wait_s, then twice that, ... (capped at max_wait_s)."""

    retries: int = 4
    first_wait_s: float = 1.0
    max_wait_s: float = 8.0

    def wait_s(self, retry: int) -> float:
        """The pause before retry number `retry` (1-based)."""
        return min(self.max_wait_s, self.first_wait_s * 2 ** (retry - 1))


# Read at call time, so a test (or a caller in a hurry) can shorten the pauses.
DEFAULT_RETRY = Retry()


@dataclass(frozen=True)
class Progress:
    done: int  # bytes so far (all files of the install)
    total: int | None  # None: the server did not say
    speed: float | None  # bytes per second over the last few seconds
    label: str = ""

    @property
    def seconds_left(self) -> float | None:
        if not self.total or not self.speed:
            return None
        return max(0.0, (self.total - self.done) / self.speed)

    @property
    def fraction(self) -> float | None:
        return min(1.0, self.done / self.total) if self.total else None


ProgressFn = Callable[[Progress], None]
CancelFn = Callable[[], bool]


class Meter:
    """Turns byte counts into Progress with a speed over a sliding window."""

    def __init__(self, total: int | None, report: ProgressFn | None, label: str = "") -> None:
        self.total, self.report, self.label = total, report, label
        self.done = 0
        self._samples: list[tuple[float, int]] = [(time.monotonic(), 0)]
        self._last_report = 0.0

    def rewind(self, done: int) -> None:
        """Go back to `done` bytes: a retried transfer counts its resumed bytes again."""
        self.done = done
        self._samples = [(time.monotonic(), done)]

    def add(self, n: int, force: bool = False) -> None:
        self.done += n
        now = time.monotonic()
        self._samples.append((now, self.done))
        while len(self._samples) > 2 and now - self._samples[0][0] > _SPEED_WINDOW_S:
            self._samples.pop(0)
        if self.report and (force or now - self._last_report >= 0.1):
            self._last_report = now
            self.report(Progress(self.done, self.total, self._speed(now), self.label))

    def _speed(self, now: float) -> float | None:
        t0, b0 = self._samples[0]
        return (self.done - b0) / (now - t0) if now - t0 > 0.05 else None


def human_size(n: float | None) -> str:
    if n is None:
        return "unknown size"
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def check_sha256(path: Path, expected: str | None, name: str) -> None:
    """TransferError when `path` does not hash to `expected` (the caller removes it)."""
    if not expected:
        return
    actual = sha256_file(path)
    if actual.lower() != expected.strip().lower():
        raise TransferError(
            f"{name} failed its SHA-256 check (expected {expected.strip().lower()[:16]}…, "
            f"got {actual[:16]}…), so it was not installed."
        )


def file_name_from(response_headers: Mapping[str, str], url: str) -> str:
    """The server's file name (Content-Disposition, as Civitai sends it) or the URL's."""
    disposition = response_headers.get("Content-Disposition", "") or ""
    match = re.search(r"filename\*=UTF-8''([^;]+)", disposition, re.IGNORECASE)
    if match:
        name = urllib.parse.unquote(match.group(1))
    else:
        match = re.search(r'filename="?([^";]+)"?', disposition, re.IGNORECASE)
        name = match.group(1) if match else urllib.parse.unquote(urllib.parse.urlsplit(url).path)
    return Path(name.strip().replace("\\", "/")).name


def open_url(url: str, headers: Mapping[str, str] | None = None, start: int = 0):
    """An HTTP response for `url` from byte `start`; TransferError with one sentence for
    404s, other HTTP errors and unreachable hosts."""
    request = urllib.request.Request(url, headers={"User-Agent": "overpaint", **(headers or {})})
    if start:
        request.add_header("Range", f"bytes={start}-")
    try:
        return urllib.request.urlopen(request, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as e:
        if e.code == 416 and start:
            return e  # the part file is already complete
        if e.code == 404:
            raise TransferError(f"{url} was not found (HTTP 404); check the address.") from e
        if e.code in (401, 403):
            raise TransferError(
                f"{url} refused the download (HTTP {e.code}); the model may need a login or "
                "an accepted licence on its web page."
            ) from e
        error = TransientTransferError if e.code in _RETRY_STATUSES else TransferError
        raise error(f"The server answered HTTP {e.code} for {url}.") from e
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        transient = isinstance(reason, (TimeoutError, ConnectionResetError, ConnectionAbortedError))
        error = TransientTransferError if transient else UnreachableError
        raise error(f"Cannot reach {_host(url)}: {reason}; check the network.") from e


def _host(url: str) -> str:
    return urllib.parse.urlsplit(url).netloc or url


def _validator(headers: Mapping[str, str]) -> str:
    return str(headers.get("ETag") or headers.get("Last-Modified") or "")


def download(
    url: str,
    part: Path,
    meter: Meter,
    headers: Mapping[str, str] | None = None,
    cancel: CancelFn | None = None,
    on_response: Callable[[Mapping[str, str], int | None], None] | None = None,
    retry: Retry | None = None,
) -> dict[str, str]:
    """Fetch `url` into `part`, resuming a matching earlier `part`; returns the response
    headers. `on_response(headers, total_size)` runs before any byte is written (the
    disk-space check). A dropped connection is resumed by itself (`retry`, default
    DEFAULT_RETRY); cancelling or a network error that outlasts the retries keeps `part`
    for a later resume; a full disk deletes it."""
    cancel = cancel or (lambda: False)
    retry = retry or DEFAULT_RETRY
    base = meter.done
    for attempt in range(retry.retries + 1):
        try:
            return _download_once(url, part, meter, headers, cancel, on_response)
        except (TransientTransferError, UnreachableError) as e:
            if isinstance(e, UnreachableError) and attempt == 0:
                raise
            if attempt == retry.retries:
                log.warning("giving up on %s after %d tries: %s", url, attempt + 1, e)
                raise TransientTransferError(_after_tries(str(e), attempt + 1)) from e
            wait = retry.wait_s(attempt + 1)
            have = part.stat().st_size if part.is_file() else 0
            log.warning(
                "transfer of %s dropped at byte %d (%s); retry %d of %d in %.1f s",
                url, have, e, attempt + 1, retry.retries, wait,
            )  # fmt: skip
            _pause(wait, cancel)
            meter.rewind(base)
    raise AssertionError("unreachable")  # the loop returns or raises


def _after_tries(message: str, tries: int) -> str:
    """`message` with how many tries were made, still one sentence."""
    head, sep, tail = message.partition(";")
    return f"{head} after {tries} tries{sep}{tail}" if sep else message


def _pause(seconds: float, cancel: CancelFn) -> None:
    """Sleep, but let Cancel end the wait at once."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        if cancel():
            raise Cancelled("Install cancelled; run it again to resume the transfer.")
        time.sleep(min(0.1, left))


def _download_once(
    url: str,
    part: Path,
    meter: Meter,
    headers: Mapping[str, str] | None,
    cancel: CancelFn,
    on_response: Callable[[Mapping[str, str], int | None], None] | None,
) -> dict[str, str]:
    sidecar = part.with_name(part.name + ".json")
    start = part.stat().st_size if part.is_file() else 0
    state = _read_state(sidecar)
    if start and state.get("url") != url:
        start = 0
    response = open_url(url, headers, start)
    with response:
        info = {k: v for k, v in response.headers.items()}
        status = getattr(response, "status", None) or response.getcode()
        if status == 416:
            meter.add(start, force=True)
            return {**state.get("headers", {}), **info}
        resumed = status == 206 and start > 0 and _validator(info) == state.get("validator", "")
        if not resumed:
            start = 0
        length = response.headers.get("Content-Length")
        total = (start + int(length)) if length and length.isdigit() else None
        if on_response:
            on_response(info, total)
        part.parent.mkdir(parents=True, exist_ok=True)
        state = {"url": url, "validator": _validator(info), "headers": info}
        sidecar.write_text(json.dumps(state), encoding="utf-8")
        if start:
            log.info("resuming %s at byte %d", url, start)
            meter.add(start, force=True)
        with open(part, "ab" if start else "wb") as out:
            _copy(response, out, meter, cancel, part)
    if total is not None and part.stat().st_size != total:
        raise TransientTransferError(
            f"The transfer from {_host(url)} stopped early ({human_size(part.stat().st_size)} of "
            f"{human_size(total)}); run the install again to resume it."
        )
    sidecar.unlink(missing_ok=True)
    return info


def _copy(response: BinaryIO, out: BinaryIO, meter: Meter, cancel: CancelFn, part: Path) -> None:
    try:
        while True:
            if cancel():
                raise Cancelled("Install cancelled; run it again to resume the transfer.")
            block = response.read(CHUNK)
            if not block:
                break
            out.write(block)
            meter.add(len(block))
        out.flush()
        meter.add(0, force=True)
    except OSError as e:
        if e.errno == errno.ENOSPC:
            out.close()
            part.unlink(missing_ok=True)
            part.with_name(part.name + ".json").unlink(missing_ok=True)
            raise TransferError(
                f"The disk is full ({part.parent}); free some space and install again."
            ) from e
        raise TransientTransferError(
            f"The transfer broke off ({e.strerror or e}); run the install again to resume it."
        ) from e
    except http.client.HTTPException as e:
        raise TransientTransferError(
            "The connection broke off during the transfer; run the install again to resume it."
        ) from e


def _read_state(sidecar: Path) -> dict:
    try:
        data = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
