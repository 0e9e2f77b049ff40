"""Privacy: a whole editing + generation session makes no network connection, and the
logs carry no image data."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.reliability.conftest import small_model_copy

ROOT = Path(__file__).resolve().parents[2]
# Image data would show up as long base64 runs, escaped bytes, PNG/JPEG signatures or
# numpy array dumps in a log message.
SUSPICIOUS = [
    re.compile(r"[A-Za-z0-9+/]{200,}={0,2}"),
    re.compile(r"\\x89PNG|\x89PNG|JFIF|data:image/"),
    re.compile(r"array\(\[\[\["),
]


def looks_like_image_data(message: str) -> bool:
    escaped_bytes = len(re.findall(r"\\x[0-9a-fA-F]{2}", message))
    numbers = len(re.findall(r"\d+", message))
    return (
        len(message) > 50_000
        or escaped_bytes >= 64
        or numbers >= 150
        or any(p.search(message) for p in SUSPICIOUS)
    )


def test_the_detector_sees_image_data() -> None:
    import base64

    import numpy as np

    blob = np.random.default_rng(0).integers(0, 256, (8, 8, 3), np.uint8)
    assert looks_like_image_data(f"inputs: {base64.b64encode(blob.tobytes()).decode()}")
    assert looks_like_image_data(f"image {blob.tobytes()!r}")
    assert looks_like_image_data(f"image {blob!r}")
    assert looks_like_image_data(f"pixels {blob.ravel().tolist()}")
    assert not looks_like_image_data(
        'job 3 failed: Out of memory while generating; try a smaller region. {"mode": "inpaint"}'
    )


def test_no_network_and_no_image_data_in_logs(tiny_model_dir: Path, tmp_path: Path) -> None:
    model = small_model_copy(tiny_model_dir, tmp_path / "model")
    work = tmp_path / "work"
    work.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        # Not offline by configuration: the product itself must not reach out.
        if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")
    }
    env.update(
        QT_QPA_PLATFORM="offscreen",
        HF_HOME=str(tmp_path / "hf-home"),  # no cached token or models to phone home about
        OVERPAINT_SETTINGS=str(tmp_path / "settings.ini"),
        OMP_NUM_THREADS="1",
    )
    proc = subprocess.run(
        [sys.executable, "-m", "tests.reliability.privacy_child", str(model), str(work)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["outcomes"] == ["finished", "failed", "failed", "finished"]
    assert report["accepted"] and report["reopened"]
    assert (work / "project.ora").is_file() and (work / "out.png").is_file()
    assert report["attempts"] == []
    records = report["records"]
    assert any("generation failed for" in r for r in records)  # the failure paths did log
    leaks = [r[:200] for r in records if looks_like_image_data(r)]
    assert leaks == []
    print(f"{len(records)} log records, {sum(map(len, records))} chars, 0 connection attempts")


def test_nothing_imports_a_network_client_at_startup() -> None:
    """The editor and engine packages do not pull in HTTP clients on their own."""
    code = (
        "import sys, editor.app, editor.ui.main_window, engine.worker, engine.models;"
        "print(sorted(m for m in ('requests', 'httpx', 'urllib3', 'aiohttp') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
