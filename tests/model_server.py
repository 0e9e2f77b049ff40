"""Local HTTP servers for install tests: plain files with HTTP Range support, and a
minimal Hugging Face hub (the model-info API and /resolve/ URLs). Never the internet."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class Served:
    files: dict[str, bytes] = field(default_factory=dict)  # URL path -> bytes
    disposition: dict[str, str] = field(default_factory=dict)  # URL path -> file name
    # URL path -> bytes, then drop; a list drops the next len(list) responses in turn.
    cut_after: dict[str, int | list[int]] = field(default_factory=dict)
    drop_every: dict[str, int] = field(default_factory=dict)  # URL path -> bytes per response
    ranges: list[str] = field(default_factory=list)  # Range headers received
    hub: dict[str, dict] = field(default_factory=dict)  # repo id -> model-info JSON


def hub_repo(served: Served, repo_id: str, files: dict[str, bytes], sha: str = "c0ffee") -> None:
    """Publish `files` as a hub model repo, with LFS sha256 for .safetensors files."""
    siblings = []
    for name, data in sorted(files.items()):
        entry: dict = {"rfilename": name, "size": len(data)}
        if name.endswith(".safetensors"):
            digest = hashlib.sha256(data).hexdigest()
            entry["lfs"] = {"size": len(data), "sha256": digest, "pointerSize": 134}
        siblings.append(entry)
        served.files[f"/{repo_id}/resolve/{sha}/{name}"] = data
    served.hub[repo_id] = {"id": repo_id, "sha": sha, "siblings": siblings}


def folder_files(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


class _Handler(BaseHTTPRequestHandler):
    served: Served

    def log_message(self, *args: object) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path.startswith("/api/models/"):
            repo = path[len("/api/models/") :].split("/revision/")[0]
            info = self.served.hub.get(repo)
            if info is None:
                self.send_response(404)
                self.send_header("X-Error-Code", "RepoNotFound")
                self.end_headers()
                return
            body = json.dumps(info).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        data = self.served.files.get(path)
        if data is None:
            self.send_error(404)
            return
        start = 0
        header = self.headers.get("Range")
        if header:
            self.served.ranges.append(header)
            start = int(header.split("=")[1].split("-")[0])
        etag = '"' + hashlib.sha1(data).hexdigest() + '"'
        if start >= len(data) and header:
            self.send_response(416)
            self.end_headers()
            return
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(data) - start))
        self.send_header("ETag", etag)
        self.send_header("Accept-Ranges", "bytes")
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        if path in self.served.disposition:
            self.send_header(
                "Content-Disposition", f'attachment; filename="{self.served.disposition[path]}"'
            )
        self.end_headers()
        cut = self._cut(path)
        body = data[start:] if cut is None else data[start : start + cut]
        self.wfile.write(body)
        if cut is not None:
            self.wfile.flush()
            self.close_connection = True

    def _cut(self, path: str) -> int | None:
        """How many bytes this response sends before the connection drops (None: all)."""
        if path in self.served.drop_every:
            return self.served.drop_every[path]
        cut = self.served.cut_after.get(path)
        if isinstance(cut, list):
            value = cut.pop(0) if cut else None
            if not cut:
                del self.served.cut_after[path]
            return value
        return self.served.cut_after.pop(path, None)


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that hangs up early (a refused pickle) is part of the tests


@contextmanager
def serve(served: Served) -> Iterator[str]:
    """Serve `served` on 127.0.0.1; yields the base URL."""
    handler = type("Handler", (_Handler,), {"served": served})
    server = _QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
