"""Real ComfyUI servers for tests and benchmarks: built once per machine, started on
loopback ports, each in a base folder of its own, stopped at the end.

packaging/comfyui.sh builds ComfyUI's venv and unpacks its source into a cache outside the
clone (~/.cache/overpaint, or $OVERPAINT_COMFY_CACHE); the test checkpoint is cached there
too. Under CI=true a missing piece is a failure, never a skip (see comfy_or_skip).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from engine.comfy.server import wait_until_up
from tests.ci import skip_or_fail
from tests.comfy.checkpoint import VERSION, write_comfy_sd15

ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = ROOT / "packaging" / "comfyui.sh"
CHECKPOINT = f"overpaint-test-sd15-v{VERSION}.safetensors"
START_TIMEOUT = 240.0  # ~40 s on an idle 2-core machine; much more while tests run beside


def comfy_or_skip(reason: str) -> None:
    """Skip on a developer's machine; fail under CI, where every piece must be there."""
    skip_or_fail(reason)


def build_comfy() -> Path:
    """The cache folder holding ComfyUI/ and comfyui-venv/ (built if needed)."""
    done = subprocess.run(["bash", str(BUILD_SCRIPT)], capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        comfy_or_skip(f"could not build ComfyUI: {done.stderr.strip()[-500:]}")
    return Path(done.stdout.strip().splitlines()[-1])


def test_checkpoint(cache: Path) -> Path:
    path = cache / "models" / CHECKPOINT
    if not path.exists():
        write_comfy_sd15(path)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ComfyProcess:
    """One ComfyUI server on 127.0.0.1 with the test checkpoint installed."""

    def __init__(
        self,
        cache: Path,
        checkpoint: Path,
        base: Path,
        threads: int = 1,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.cache, self.base, self.threads = cache, base, threads
        self.extra_args = extra_args  # e.g. ("--bf16-unet",)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        models = base / "models" / "checkpoints"
        models.mkdir(parents=True, exist_ok=True)
        link = models / checkpoint.name
        if not link.exists():
            link.symlink_to(checkpoint)
        self.proc: subprocess.Popen | None = None
        self.log = base / "server.log"

    def start(self) -> ComfyProcess:
        env = dict(os.environ)
        # One thread each: the same thread count on every server keeps float reductions,
        # and so the pixels, identical across servers.
        env.update(OMP_NUM_THREADS=str(self.threads), MKL_NUM_THREADS=str(self.threads))
        env.pop("CUDA_VISIBLE_DEVICES", None)
        args = [
            str(self.cache / "comfyui-venv" / "bin" / "python"),
            str(self.cache / "ComfyUI" / "main.py"),
            "--cpu", "--listen", "127.0.0.1", "--port", str(self.port),
            "--base-directory", str(self.base), "--database-url", "sqlite:///:memory:",
            "--disable-auto-launch", "--disable-all-custom-nodes",
            "--preview-method", "latent2rgb",  # preview frames over /ws, as users run it
            *self.extra_args,
        ]  # fmt: skip
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        return self

    def wait(self, timeout: float = START_TIMEOUT) -> ComfyProcess:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                break
            if wait_until_up(self.url, 2.0):
                return self
        tail = self.log.read_text(errors="replace")[-1500:] if self.log.exists() else ""
        self.stop()
        comfy_or_skip(f"ComfyUI did not start at {self.url}: {tail}")
        return self

    def kill(self) -> None:
        """Kill it at once (a server that goes away mid-job)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def window_settings(tmp_path: Path, urls: list[str]):  # -> editor.ui.settings.Settings
    """Settings of a window that generates on the servers at `urls`."""
    from editor.ui.settings import Settings  # Qt: only for the window tests

    settings = Settings(tmp_path / "settings" / "overpaint.ini")
    settings.qsettings.setValue("servers/urls", urls)
    settings.qsettings.setValue("servers/enabled", True)
    return settings


def check_soft_inpaint(picture, mask, result, outside_at_least: int) -> None:
    """The result laid on the picture keeps every pixel its patch leaves (at least
    `outside_at_least`) bit-identical, repaints the mask, and has a graded (soft) edge."""
    import numpy as np

    from engine.region import apply_patch

    out = apply_patch(picture, result.rgba, result.x, result.y)
    alpha = np.zeros(picture.shape[:2], np.uint8)
    ph, pw = result.rgba.shape[:2]
    alpha[result.y : result.y + ph, result.x : result.x + pw] = result.rgba[..., 3]
    outside = alpha == 0
    assert outside.sum() > outside_at_least
    np.testing.assert_array_equal(out[outside], picture[outside])
    inside = mask > 0
    assert np.abs(out[inside].astype(int) - picture[inside]).mean() > 5
    # The feathered edge is graded, not a hard cut: soft inpainting's band exists.
    assert ((alpha > 0) & (alpha < 255)).sum() > 100


def remove_base(base: Path) -> None:
    shutil.rmtree(base, ignore_errors=True)


@contextmanager
def files_linked(folder: Path, links: dict[str, Path]) -> Iterator[None]:
    """Files linked into a server's models folder ("subfolder/name": target) for a while."""
    made = []
    for name, target in links.items():
        link = folder / name
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.is_symlink():
            link.symlink_to(target)
            made.append(link)
    try:
        yield
    finally:
        for link in made:
            link.unlink(missing_ok=True)


if __name__ == "__main__":
    # packaging/test.sh runs this before pytest, so the slow first build (venv ~2 min,
    # checkpoint ~30 s, the SD 3.5 files ~20 s, the Redux files ~20 s) never counts
    # against a test's timeout.
    from tests.comfy.redux_files import write_redux_files
    from tests.comfy.sd3_files import write_sd3_files

    comfy = build_comfy()
    print(write_sd3_files(comfy, test_checkpoint(comfy)))
    print(write_redux_files(comfy))
