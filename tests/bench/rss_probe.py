"""Child process for P6: RSS after txt2img, then after img2img and inpaint on the same model.

Usage: python -m tests.bench.rss_probe MODEL_DIR SIZE STEPS  (prints one JSON line)
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main(argv: list[str]) -> int:
    import numpy as np
    from PySide6.QtCore import QCoreApplication

    from engine.request import GenerationInputs, GenerationRequest
    from engine.worker import EngineClient
    from tests.bench.common import rss_bytes
    from tests.bench.engine_cost import PROMPT, SEED, run_job
    from tests.bench.models import weights_bytes

    model, size, steps = Path(argv[0]), int(argv[1]), int(argv[2])
    _app = QCoreApplication.instance() or QCoreApplication([])
    base = GenerationRequest(
        mode="txt2img",
        prompt=PROMPT,
        seed=SEED,
        steps=steps,
        width=size,
        height=size,
        model=str(model),
    )
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (size, size, 4), dtype=np.uint8)
    image[..., 3] = 255
    mask = np.zeros((size, size), np.uint8)
    mask[size // 4 : size * 3 // 4, size // 4 : size * 3 // 4] = 255
    out = {"weights": weights_bytes(model), "start": rss_bytes()}
    import diffusers  # noqa: F401 - only to show what the libraries alone cost
    import torch  # noqa: F401

    out["imports"] = rss_bytes()
    client = EngineClient()
    try:
        run_job(client, base)
        gc.collect()
        out["txt2img"] = rss_bytes()
        run_job(client, base.replace(mode="img2img", strength=0.6), GenerationInputs(image))
        gc.collect()
        out["img2img"] = rss_bytes()
        run_job(client, base.replace(mode="inpaint", strength=1.0), GenerationInputs(image, mask))
        gc.collect()
        out["all"] = rss_bytes()
        # Not something the app does: shows how much of any growth is freed heap that
        # glibc keeps for reuse rather than memory still in use.
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        out["all_trimmed"] = rss_bytes()
    finally:
        client.shutdown()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
