"""What is installed in the models folders, and removing it to the trash.

The trash is the freedesktop.org one ($XDG_DATA_HOME/Trash: files/ + info/*.trashinfo),
which file managers show and restore from.
"""

from __future__ import annotations

import datetime
import logging
import os
import shutil
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from engine.core.errors import ModelError
from engine.core.paths import user_models_dir
from engine.discovery import BUNDLED_MODELS_DIR, entries, has_config, has_model_index, model_dirs
from engine.model_files import transformer_files
from engine.model_manager.kinds import KIND_DIRS, classify
from engine.models import inspect_folder

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InstalledModel:
    name: str
    kind: str
    family: str
    size: int
    path: Path
    bundled: bool = False  # ships with Overpaint (resources/models): never removed


def _size(path: Path) -> int:
    try:
        if path.is_dir():
            return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        return path.stat().st_size
    except OSError:
        return 0


def _is_model_folder(folder: Path) -> bool:
    return has_model_index(folder) or has_config(folder)


def _entries(root: Path, depth: int) -> list[Path]:
    """Model files and folders under `root`: .safetensors files, and folders holding a
    model_index.json or config.json, down to `depth` levels."""
    # GGUF transformers lie in diffusion_models/ or unet/, where entries() sees only
    # .safetensors files.
    gguf = [f for f in transformer_files(root) if f.suffix.lower() == ".gguf"]
    return list(entries(root, depth, _is_model_folder)) + gguf


def list_installed(extra_dirs: Sequence[Path] = ()) -> list[InstalledModel]:
    """Everything in the user's and the extra models folders, with its kind and family;
    files that are none of the known kinds are left out (and logged)."""
    roots = model_dirs(extra_dirs)
    items: dict[Path, InstalledModel] = {}
    for root in roots:
        if not root.is_dir():
            continue
        for path in _entries(root, depth=3):
            try:
                kind = classify(path)
            except ModelError as e:
                log.info("not listing %s: %s", path, e)
                continue
            name = path.stem if path.is_file() else path.name
            items.setdefault(
                path.resolve(), InstalledModel(name, kind.kind, kind.family, _size(path), path)
            )
    return sorted(items.values(), key=lambda m: (m.kind, m.name.lower()))


def list_bundled() -> list[InstalledModel]:
    """The models that ship with Overpaint (the demo model and its control), named as
    `overpaint models` names them."""
    items = []
    for path in _entries(BUNDLED_MODELS_DIR, depth=2):
        try:
            kind = classify(path)
            name = inspect_folder(path).name if kind.kind == "checkpoint" else path.name
        except ModelError as e:
            log.warning("not listing bundled %s: %s", path, e)
            continue
        items.append(InstalledModel(name, kind.kind, kind.family, _size(path), path, True))
    return sorted(items, key=lambda m: (m.kind, m.name.lower()))


def find_installed(name: str, extra_dirs: Sequence[Path] = ()) -> InstalledModel:
    """An installed model by name, file name or path; ModelError when none or several."""
    wanted = name.strip()
    items = list_installed(extra_dirs)
    path = Path(wanted).expanduser()
    matches = [m for m in items if path.exists() and m.path.resolve() == path.resolve()]
    if not matches:
        lowered = wanted.lower()
        matches = [m for m in items if lowered in (m.name.lower(), m.path.name.lower())]
    if not matches:
        raise ModelError(
            f"No installed model is named {wanted!r}; run `overpaint models` to list them."
        )
    if len(matches) > 1:
        where = ", ".join(str(m.path) for m in matches)
        raise ModelError(f"Several installed models are named {wanted!r} ({where}); give a path.")
    return matches[0]


def trash_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    return Path(base) / "Trash"


def move_to_trash(path: Path) -> Path:
    """Move `path` to the user's trash (restorable from a file manager); returns where
    it went. A symlink is trashed itself, not what it points at."""
    path = Path(path).absolute()
    trash = trash_dir()
    files, info = trash / "files", trash / "info"
    files.mkdir(parents=True, exist_ok=True)
    info.mkdir(parents=True, exist_ok=True)
    stem, n = path.name, 1
    while True:
        name = stem if n == 1 else f"{stem}.{n}"
        record = info / f"{name}.trashinfo"
        try:
            # O_EXCL claims the name, so two removals never pick the same one.
            fd = os.open(record, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            break
        except FileExistsError:
            n += 1
    when = datetime.datetime.now().strftime("%Y-%m-%dT%H:%M:%S")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(f"[Trash Info]\nPath={urllib.parse.quote(str(path))}\nDeletionDate={when}\n")
    target = files / name
    try:
        shutil.move(str(path), str(target))  # a rename on the same disk
    except BaseException:
        record.unlink(missing_ok=True)
        raise
    return target


def remove_installed(name: str, extra_dirs: Sequence[Path] = ()) -> tuple[InstalledModel, Path]:
    """Move an installed model to the trash; (the model, where it went in the trash)."""
    model = find_installed(name, extra_dirs)
    try:
        where = move_to_trash(model.path)
    except OSError as e:
        raise ModelError(f"Cannot move {model.path} to the trash: {e.strerror or e}.") from e
    log.info("moved %s to the trash at %s", model.path, where)
    return model, where


def kind_folder(kind: str) -> Path:
    return user_models_dir() / KIND_DIRS[kind]
