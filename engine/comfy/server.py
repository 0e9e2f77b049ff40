"""One ComfyUI server over its HTTP and websocket API (requests + websocket-client).

Every failure becomes one sentence naming the server. A server that cannot be reached
or drops the connection raises ServerGone, which the pool treats as "retry the sample
elsewhere"; everything else (a refused workflow, out of memory, a missing model) is the
job's own fault and raises the engine's usual errors.
"""

from __future__ import annotations

import io
import ipaddress
import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import numpy as np
from PIL import Image

from engine.core.errors import Cancelled, EngineError, InvalidRequestError, OutOfMemoryError

log = logging.getLogger(__name__)

# Seconds to wait for a connection: a dead URL must fail well within 10 s.
CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 60.0
# ComfyUI 0.3.x is the API this client speaks (DifferentialDiffusion, prompt_id on /prompt).
MIN_VERSION = (0, 3, 0)
_POLL = 0.25  # seconds between cancel checks while waiting for a sample

StepCallback = Callable[[int, int, "np.ndarray | None"], None]


class ServerGone(EngineError):
    """The server cannot be reached or went away; its work can be retried elsewhere."""


@dataclass(frozen=True)
class ServerInfo:
    url: str
    version: str
    device: str
    nodes: frozenset[str]
    checkpoints: tuple[str, ...]
    loras: tuple[str, ...]
    controlnets: tuple[str, ...]
    samplers: tuple[str, ...]
    schedulers: tuple[str, ...]
    queue: int = 0
    # The split files of the transformer families (engine.comfy.server_models).
    diffusion_models: tuple[str, ...] = ()
    text_encoders: tuple[str, ...] = ()
    vaes: tuple[str, ...] = ()
    # FLUX.1 Redux's files (engine.comfy.redux).
    style_models: tuple[str, ...] = ()
    clip_visions: tuple[str, ...] = ()


@dataclass
class ServerConfig:
    url: str
    token: str = ""  # sent as a bearer header when set
    warnings: list[str] = field(default_factory=list)


def normalise_url(url: str) -> str:
    url = url.strip().rstrip("/")
    if "://" not in url:
        url = "http://" + url
    return url


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def plain_http_warning(url: str) -> str | None:
    """The warning for sending pictures unencrypted to another machine, or None."""
    if url.startswith("http://") and not is_loopback(url):
        return (
            f"The ComfyUI server at {url} is reached over plain http, so pictures and the "
            "token travel unencrypted; use https for servers on other machines."
        )
    return None


def _option_list(info: dict, node: str, name: str) -> tuple[str, ...]:
    try:
        spec = info[node]["input"]["required"][name]
    except (KeyError, TypeError):
        return ()
    options = spec[0] if spec else ()
    if isinstance(options, str) and len(spec) > 1:  # the newer "COMBO" spelling
        options = spec[1].get("options", ())
    return tuple(str(o) for o in options) if isinstance(options, (list, tuple)) else ()


def parse_version(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.strip().lstrip("vV").split(".")[:3]:
        digits = re.match(r"\d*", piece).group()  # leading digits: "2rc1" is 2
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


class ComfyServer:
    """HTTP + websocket client for one server. Thread-safe for separate prompts."""

    def __init__(self, url: str, token: str = "") -> None:
        import requests  # ~90 ms: loaded when a server is first asked, not at start-up

        self.url = normalise_url(url)
        self.token = token
        self._http = requests.Session()
        if token:
            self._http.headers["Authorization"] = f"Bearer {token}"
        self.info: ServerInfo | None = None

    # -- HTTP ----------------------------------------------------------------------------

    def _request(self, method: str, path: str, timeout: float = READ_TIMEOUT, **kw: Any) -> Any:
        import requests  # ~90 ms: loaded when a server is first asked, not at start-up

        try:
            response = self._http.request(
                method, self.url + path, timeout=(CONNECT_TIMEOUT, timeout), **kw
            )
        except requests.exceptions.SSLError as e:
            raise ServerGone(
                f"The ComfyUI server at {self.url} has a TLS certificate that could not be "
                f"verified ({_reason(e)})."
            ) from e
        except requests.exceptions.RequestException as e:
            raise ServerGone(
                f"Could not reach the ComfyUI server at {self.url} ({_reason(e)})."
            ) from e
        if response.status_code in (401, 403):
            raise EngineError(
                f"The ComfyUI server at {self.url} refused the access token "
                f"(HTTP {response.status_code}); check the token in Settings > Servers."
            )
        return response

    def _json(self, method: str, path: str, timeout: float = READ_TIMEOUT, **kw: Any) -> Any:
        response = self._request(method, path, timeout, **kw)
        if response.status_code >= 400:
            raise EngineError(
                f"The ComfyUI server at {self.url} answered {path} with HTTP "
                f"{response.status_code}."
            )
        try:
            return response.json()
        except ValueError as e:
            raise EngineError(
                f"The ComfyUI server at {self.url} sent an answer that is not JSON for {path}."
            ) from e

    def check(self, timeout: float = 10.0) -> ServerInfo:
        """Version, nodes and models of the server (a health check); raises on trouble."""
        stats = self._json("GET", "/system_stats", timeout)
        version = str(stats.get("system", {}).get("comfyui_version", "0"))
        if parse_version(version) < MIN_VERSION:
            wanted = ".".join(map(str, MIN_VERSION))
            raise EngineError(
                f"The ComfyUI server at {self.url} runs version {version}; Overpaint needs "
                f"{wanted} or newer."
            )
        nodes = self._json("GET", "/object_info", max(timeout, 30.0))
        queue = self._json("GET", "/queue", timeout)
        devices = stats.get("devices") or [{}]
        self.info = ServerInfo(
            url=self.url,
            version=version,
            device=str(devices[0].get("name", "unknown device")),
            nodes=frozenset(nodes),
            checkpoints=_option_list(nodes, "CheckpointLoaderSimple", "ckpt_name"),
            loras=_option_list(nodes, "LoraLoader", "lora_name"),
            controlnets=_option_list(nodes, "ControlNetLoader", "control_net_name"),
            samplers=_option_list(nodes, "KSampler", "sampler_name"),
            schedulers=_option_list(nodes, "KSampler", "scheduler"),
            queue=len(queue.get("queue_running", [])) + len(queue.get("queue_pending", [])),
            diffusion_models=_option_list(nodes, "UNETLoader", "unet_name"),
            text_encoders=_option_list(nodes, "CLIPLoader", "clip_name"),
            vaes=_option_list(nodes, "VAELoader", "vae_name"),
            style_models=_option_list(nodes, "StyleModelLoader", "style_model_name"),
            clip_visions=_option_list(nodes, "CLIPVisionLoader", "clip_name"),
        )
        return self.info

    def upload(self, name: str, png: bytes) -> str:
        """Store a PNG in the server's input folder; returns the name to load it by."""
        files = {"image": (name, io.BytesIO(png), "image/png")}
        data = {"overwrite": "true", "type": "input"}
        answer = self._json("POST", "/upload/image", files=files, data=data)
        sub = answer.get("subfolder") or ""
        return f"{sub}/{answer['name']}" if sub else str(answer["name"])

    def interrupt(self, prompt_id: str, wait: float = 10.0) -> None:
        """Drop the prompt from the queue or stop it running, and wait (up to `wait` s)
        until the server has let go of it, so a cancelled job leaves nothing behind."""
        try:
            self._request("POST", "/queue", 5.0, json={"delete": [prompt_id]})
            self._request("POST", "/interrupt", 5.0, json={"prompt_id": prompt_id})
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and self._queued(prompt_id):
                time.sleep(_POLL)
        except EngineError:
            log.info("could not interrupt %s on %s", prompt_id, self.url, exc_info=True)

    def _queued(self, prompt_id: str) -> bool:
        queue = self._json("GET", "/queue", 5.0)
        items = queue.get("queue_running", []) + queue.get("queue_pending", [])
        return any(len(item) > 1 and item[1] == prompt_id for item in items)

    def forget(self, prompt_id: str) -> None:
        """Drop the prompt's history entry (results are fetched, or unwanted)."""
        try:
            self._request("POST", "/history", 5.0, json={"delete": [prompt_id]})
        except EngineError:
            log.info("could not clear history of %s on %s", prompt_id, self.url)

    # -- one prompt ----------------------------------------------------------------------

    def run(
        self,
        graph: dict,
        on_step: StepCallback | None = None,
        cancel: Callable[[], bool] = lambda: False,
    ) -> np.ndarray:
        """Queue `graph`, follow it over /ws, return its first result image (RGB uint8)."""
        client_id = uuid.uuid4().hex
        ws = self._connect_ws(client_id)
        prompt_id = uuid.uuid4().hex
        try:
            response = self._request(
                "POST",
                "/prompt",
                json={"prompt": graph, "client_id": client_id, "prompt_id": prompt_id},
            )
            if response.status_code == 400:
                raise InvalidRequestError(self._refusal(response))
            if response.status_code >= 400:
                raise EngineError(
                    f"The ComfyUI server at {self.url} refused the job (HTTP "
                    f"{response.status_code})."
                )
            self._follow(ws, prompt_id, on_step, cancel)
        except ServerGone:
            raise  # nothing there to clean up
        except BaseException:
            self.interrupt(prompt_id)
            self.forget(prompt_id)
            raise
        finally:
            ws.close()
        try:
            return self._result(prompt_id)
        finally:
            self.forget(prompt_id)

    def _connect_ws(self, client_id: str) -> Any:
        import websocket  # ~25 ms: loaded when a job first runs on a server

        ws_url = "ws" + self.url[len("http") :] + "/ws?" + urlencode({"clientId": client_id})
        headers = [f"Authorization: Bearer {self.token}"] if self.token else None
        try:
            ws = websocket.create_connection(ws_url, timeout=CONNECT_TIMEOUT, header=headers)
        except (OSError, websocket.WebSocketException) as e:
            raise ServerGone(
                f"Could not reach the ComfyUI server at {self.url} ({_reason(e)})."
            ) from e
        ws.settimeout(_POLL)
        return ws

    def _follow(
        self, ws: Any, prompt_id: str, on_step: StepCallback | None, cancel: Callable[[], bool]
    ) -> None:
        import websocket  # ~25 ms: loaded when a job first runs on a server

        preview = None
        while True:
            if cancel():
                raise Cancelled()
            try:
                frame = ws.recv()
            except websocket.WebSocketTimeoutException:
                continue
            except (OSError, websocket.WebSocketException) as e:
                raise ServerGone(
                    f"The ComfyUI server at {self.url} went away during the job ({_reason(e)})."
                ) from e
            if isinstance(frame, bytes):
                preview = _preview(frame)
                continue
            if not frame:  # a closed socket reads as an empty frame
                raise ServerGone(f"The ComfyUI server at {self.url} went away during the job.")
            message = json.loads(frame)
            kind, data = message.get("type"), message.get("data") or {}
            if data.get("prompt_id") not in (None, prompt_id):
                continue
            if kind == "progress" and on_step is not None and data.get("prompt_id"):
                on_step(int(data.get("value", 0)), int(data.get("max", 1)), preview)
            elif kind == "execution_error":
                raise self._execution_error(data)
            elif kind == "execution_interrupted":
                raise Cancelled()
            elif kind == "executing" and data.get("node") is None and data.get("prompt_id"):
                # Sent after the history entry is written; `execution_success` comes before.
                return

    def _result(self, prompt_id: str) -> np.ndarray:
        history = self._json("GET", f"/history/{prompt_id}").get(prompt_id, {})
        for output in history.get("outputs", {}).values():
            for image in output.get("images", []):
                query = urlencode(
                    {
                        "filename": image["filename"],
                        "subfolder": image.get("subfolder", ""),
                        "type": image.get("type", "output"),
                    }
                )
                response = self._request("GET", f"/view?{query}")
                if response.status_code >= 400:
                    break
                with Image.open(io.BytesIO(response.content)) as img:
                    return np.asarray(img.convert("RGB"))
        raise EngineError(f"The ComfyUI server at {self.url} finished the job but sent no image.")

    def _refusal(self, response: Any) -> str:
        try:
            body = response.json()
        except ValueError:
            body = {}
        error = body.get("error") or {}
        text = str(error.get("message") or "invalid workflow").rstrip(".")
        details = []
        for node_error in (body.get("node_errors") or {}).values():
            for err in node_error.get("errors", []):
                details.append(str(err.get("details") or err.get("message") or "").strip())
        detail = "; ".join(d for d in details if d)
        if detail:
            text += f" ({detail})"
        return f"The ComfyUI server at {self.url} refused the workflow: {text}."

    def _execution_error(self, data: dict) -> EngineError:
        message = str(data.get("exception_message", "")).strip().splitlines()
        first = message[0] if message else str(data.get("exception_type", "unknown error"))
        if "out of memory" in first.lower() or "OutOfMemory" in str(data.get("exception_type")):
            return OutOfMemoryError(
                f"The ComfyUI server at {self.url} ran out of memory; try a smaller region or "
                "size, or fewer samples."
            )
        node = data.get("node_type") or "a node"
        return EngineError(
            f"The ComfyUI server at {self.url} failed in {node}: {first.rstrip('.')}."
        )


def _preview(frame: bytes) -> np.ndarray | None:
    """A preview frame: 4-byte event type (1 = image), 4-byte format, then JPEG/PNG."""
    if len(frame) < 8 or int.from_bytes(frame[:4], "big") != 1:
        return None
    try:
        with Image.open(io.BytesIO(frame[8:])) as img:
            return np.asarray(img.convert("RGB"))
    except OSError:
        return None


def _reason(e: BaseException) -> str:
    """A short reason from a requests/websocket exception (its innermost cause)."""
    text = str(e)
    for marker in ("Connection refused", "timed out", "Name or service not known",
                   "No route to host", "certificate verify failed", "Connection reset"):  # fmt: skip
        if marker.lower() in text.lower():
            return marker.lower()
    if "ConnectionClosed" in type(e).__name__:  # a server stopped mid-job (websocket's)
        return "the connection closed"
    return type(e).__name__


def wait_until_up(url: str, timeout: float) -> bool:
    """Poll /system_stats until the server answers (used by tests and benchmarks)."""
    server = ComfyServer(url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            server._json("GET", "/system_stats", 5.0)
            return True
        except EngineError:
            time.sleep(0.5)
    return False
