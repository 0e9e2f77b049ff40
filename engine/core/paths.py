"""Where bundled resources and per-user data live."""

from __future__ import annotations

import os
from pathlib import Path

RESOURCES: Path = Path(__file__).resolve().parents[2] / "resources"
CLIP_TOKENIZER_DIR: Path = RESOURCES / "tokenizers" / "clip"


def user_data_dir() -> Path:
    """The per-user data folder (XDG on Linux), overridable with OVERPAINT_DATA_DIR."""
    override = os.environ.get("OVERPAINT_DATA_DIR")
    if override:
        return Path(override)
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    return Path(base) / "overpaint"


def user_models_dir() -> Path:
    return user_data_dir() / "models"
