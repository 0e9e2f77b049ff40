from __future__ import annotations

import os

# Tests never reach a model hub, and Qt never needs a screen.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# torch's OpenMP workers spin while they wait: on a busy machine (more runnable processes
# than cores) a tiny-model job took ~10 s with 2 threads and ~1 s with 1 (2 cores, load 10).
# Set before torch is imported; export OMP_NUM_THREADS to override.
os.environ.setdefault("OMP_NUM_THREADS", "1")

from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402


def pytest_collection_finish(session: pytest.Session) -> None:
    """A session with a test of the default LoRA training run starts that run at once, in a
    child process beside the tests before it (tests/training/background.py)."""
    from tests.training import background  # only in sessions that need it

    if not session.config.option.collectonly and any(
        background.FIXTURE in getattr(item, "fixturenames", ()) for item in session.items
    ):
        background.start()


def pytest_sessionfinish(session: pytest.Session) -> None:
    from tests.training import background  # only in sessions that need it

    background.stop()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight SD1.x-architecture diffusers folder, built once per run."""
    from tests.tiny_model import build_tiny_sd_folder

    return build_tiny_sd_folder(tmp_path_factory.mktemp("models") / "tiny-sd")


@pytest.fixture(scope="session")
def tiny_modern_dir(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """The tiny diffusers folder of a transformer family ("flux", "sd3", ...: the keys of
    tests.tiny_modern.BUILDERS), each built once per run when first asked for."""
    from tests.tiny_modern import build_tiny_modern_folder

    root = tmp_path_factory.mktemp("modern")
    built: dict[str, Path] = {}

    def folder(family: str) -> Path:
        if family not in built:
            built[family] = build_tiny_modern_folder(family, root / f"tiny-{family}")
        return built[family]

    return folder


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep settings, models and recovery files of each test away from the real user's."""
    monkeypatch.setenv("OVERPAINT_DATA_DIR", str(tmp_path / "userdata"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    # Model discovery also scans the Hugging Face cache: a developer's real models must
    # not change what tests see.
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))


@pytest.fixture
def one_torch_thread():
    """Speed only: on these shared 2-core machines two torch threads run ~15x slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch):
    """A local hub (tests.model_server): HF_ENDPOINT points at it and huggingface_hub may
    go online."""
    import huggingface_hub.constants

    from tests.model_server import Served, serve

    served = Served()
    with serve(served) as url:
        monkeypatch.setenv("HF_ENDPOINT", url)
        monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
        yield served
