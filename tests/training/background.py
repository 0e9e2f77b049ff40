"""The `trained` fixture's run (every training setting at its default, as `overpaint
train --images --concept` runs) in a child process, started as soon as a session has
collected a test that uses the fixture.

The run takes ~150 s of one core. pytest runs one test at a time on one torch thread and
leaves the second core of these machines mostly idle, so the child's run overlaps the
tests before tests/training instead of adding to the suite's time. The fixture takes the
child's result, or trains in its own process where no child runs (--collect-only, or a
child that failed to start); the three tests assert the same either way.
"""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

FIXTURE = "trained"
ROOT = Path(__file__).resolve().parents[2]
# samples every 150 of the default 300 steps (test_training.TEST_STEPS)
SAMPLE_EVERY = 150

_child: tuple[subprocess.Popen[bytes], Path] | None = None


def train(folder: Path, out: Path) -> tuple[Any, list[Any], bool]:
    """The default run on the star pictures in `folder`: (TrainingResult, progress, whether
    its checkpoint folder was left behind). The last is read here because the checkpoint
    lives in the user data folder of the process that trained."""
    from engine.models import DEMO_MODEL_DIR  # torch via engine: not at conftest import
    from engine.training.settings import TrainingSettings
    from engine.training.trainer import train_lora, work_dir

    seen: list[Any] = []
    settings = TrainingSettings(
        images=folder,
        concept="star",
        out=out,
        model=str(DEMO_MODEL_DIR),
        sample_every=SAMPLE_EVERY,
    )
    result = train_lora(settings, on_progress=seen.append)
    return result, seen, work_dir(result.path).exists()


def start() -> None:
    """Start the child (once per session)."""
    global _child
    if _child is not None:
        return
    work = Path(tempfile.mkdtemp(prefix="overpaint-trained-"))
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "OMP_NUM_THREADS": "1",
        # Its checkpoint and settings stay away from the user's, as a test's do.
        "OVERPAINT_DATA_DIR": str(work / "userdata"),
        "XDG_CONFIG_HOME": str(work / "config"),
        "HF_HUB_CACHE": str(work / "hf-cache"),
    }
    with open(work / "child.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.training.background", str(work)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    _child = proc, work


def result(timeout: float) -> tuple[Any, list[Any], bool] | None:
    """The child's train() result, waiting for it; None when none was started.

    Fails the test with the child's output when its run failed."""
    import pytest  # only in a test session: `python -m` runs this module without it

    if _child is None:
        return None
    proc, work = _child
    try:
        code = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"the background training run took over {timeout:.0f} s")
    if code != 0:
        log = (work / "child.log").read_text(errors="replace")[-3000:]
        pytest.fail(f"the background training run failed (exit {code}):\n{log}")
    with open(work / "result.pickle", "rb") as f:
        return pickle.load(f)


def stop() -> None:
    """End the child if it still runs and remove its folder (the end of the session)."""
    global _child
    if _child is None:
        return
    proc, work = _child
    _child = None
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    shutil.rmtree(work, ignore_errors=True)


def _main(work: Path) -> None:
    import torch

    from tests.training.stars import write_star_folder

    # Behind the session's own tests when they need the cores; the first core is theirs.
    os.nice(5)
    torch.set_num_threads(1)
    folder = write_star_folder(work / "pictures" / "stars")
    done = train(folder, work / "loras" / "star.safetensors")
    with open(work / "result.tmp", "wb") as f:
        pickle.dump(done, f)
    (work / "result.tmp").replace(work / "result.pickle")


if __name__ == "__main__":
    _main(Path(sys.argv[1]))
