"""Shared by the command-line tests of regions and references: the command line run in
this process, a written picture's pixels, and the tiny IP-Adapter's models folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.cli.commands import main
from tests.tiny_ip_adapter import build_tiny_ip_models

SIZE = 64
ARGS = ["--prompt", "a field", "--steps", "3", "--seed", "4", "--no-watermark"]


def run_cli(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    """The exit code, stdout and stderr of `overpaint ARGV`."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def read_pixels(path: Path) -> np.ndarray:
    """A written picture's RGB, signed so that differences do not wrap."""
    return np.asarray(Image.open(path).convert("RGB"), np.int16)


@pytest.fixture(scope="module")
def models(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder holding the tiny IP-Adapter and image encoder (import it into a
    test module to use it there)."""
    return build_tiny_ip_models(tiny_model_dir, tmp_path_factory.mktemp("ip_cli_models"))
