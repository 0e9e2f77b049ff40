"""Persistent user settings (QSettings in an INI file under the user's config folder).

The file path is computed from the environment at construction time, not cached by Qt,
so each test (which points XDG_CONFIG_HOME at a temp folder) gets its own settings.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings

from engine.core.precision import PRECISIONS
from engine.generation_settings import GenerationSettings

MAX_RECENT_FILES = 10
DEFAULT_UNDO_MEMORY_MB = 512
DEFAULT_MAX_IMAGE_MEGAPIXELS = 100  # editor.io.images.DEFAULT_MAX_PIXELS
DEFAULT_NEW_IMAGE_SIZE = (1024, 1024)  # also the first window's canvas (file_ops.DEFAULT_SIZE)


def default_settings_path() -> Path:
    override = os.environ.get("OVERPAINT_SETTINGS")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(Path.home(), ".config")
    return Path(base) / "overpaint" / "overpaint.ini"


def _as_list(value: Any) -> list[str]:
    # QSettings INI returns a plain str for one-element lists and None for empty ones.
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def _as_bool(value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, str):
        return value.lower() in ("1", "true", "yes", "on")
    return bool(value)


class Settings:
    """Typed accessors over one QSettings file."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_settings_path()
        self.qsettings = QSettings(str(self.path), QSettings.Format.IniFormat)

    def sync(self) -> None:
        self.qsettings.sync()

    # Models and engine -------------------------------------------------------------
    @property
    def model_dirs(self) -> list[Path]:
        return [Path(p) for p in _as_list(self.qsettings.value("models/extra_dirs"))]

    @model_dirs.setter
    def model_dirs(self, dirs: list[Path]) -> None:
        self.qsettings.setValue("models/extra_dirs", [str(d) for d in dirs])

    @property
    def model(self) -> str:
        """The last chosen model: a discovered name or a path ('' = the default)."""
        return str(self.qsettings.value("models/current", "") or "")

    @model.setter
    def model(self, value: str) -> None:
        self.qsettings.setValue("models/current", value)

    @property
    def watermark(self) -> bool:
        return _as_bool(self.qsettings.value("generation/watermark"), True)

    @watermark.setter
    def watermark(self, on: bool) -> None:
        self.qsettings.setValue("generation/watermark", bool(on))

    @property
    def history_enabled(self) -> bool:
        """Record every generation in the history (engine.history). The CLI reads this
        same key from the INI file without Qt (engine.history.config.history_enabled)."""
        return _as_bool(self.qsettings.value("history/enabled"), True)

    @history_enabled.setter
    def history_enabled(self, on: bool) -> None:
        self.qsettings.setValue("history/enabled", bool(on))

    @property
    def device(self) -> str:
        """'auto', 'cpu', 'cuda' or 'mps'; passed to the engine as a request option."""
        return str(self.qsettings.value("engine/device", "auto") or "auto")

    @device.setter
    def device(self, value: str) -> None:
        self.qsettings.setValue("engine/device", value)

    @property
    def precision(self) -> str:
        """CPU precision for every generation request: 'auto' (bf16 where this processor
        computes it faster, else fp32), 'fp32' or 'bf16' (engine.core.precision)."""
        value = str(self.qsettings.value("engine/precision", "auto") or "auto").lower()
        return value if value in PRECISIONS else "auto"

    @precision.setter
    def precision(self, value: str) -> None:
        self.qsettings.setValue("engine/precision", value if value in PRECISIONS else "auto")

    @property
    def low_memory(self) -> bool:
        """Force attention slicing and VAE tiling (otherwise the engine decides)."""
        return _as_bool(self.qsettings.value("engine/low_memory"), False)

    @low_memory.setter
    def low_memory(self, on: bool) -> None:
        self.qsettings.setValue("engine/low_memory", bool(on))

    @property
    def cpu_threads(self) -> int:
        """Torch threads for CPU jobs; 0 lets the engine leave one CPU to the window."""
        try:
            return max(0, int(self.qsettings.value("engine/cpu_threads", 0)))
        except (TypeError, ValueError):
            return 0

    @cpu_threads.setter
    def cpu_threads(self, value: int) -> None:
        self.qsettings.setValue("engine/cpu_threads", max(0, int(value)))

    def engine_options(self) -> dict[str, Any]:
        """Request options for the device settings (empty: the engine decides)."""
        options: dict[str, Any] = {}
        if self.device != "auto":
            options["device"] = self.device
        if self.low_memory:
            options["attention_slicing"] = True
            options["vae_tiling"] = True
        return options

    @property
    def undo_memory_mb(self) -> int:
        try:
            return int(self.qsettings.value("editor/undo_memory_mb", DEFAULT_UNDO_MEMORY_MB))
        except (TypeError, ValueError):
            return DEFAULT_UNDO_MEMORY_MB

    @undo_memory_mb.setter
    def undo_memory_mb(self, value: int) -> None:
        self.qsettings.setValue("editor/undo_memory_mb", int(value))

    @property
    def max_image_megapixels(self) -> int:
        """Images and projects declaring more pixels are refused before decoding (bombs)."""
        try:
            value = int(self.qsettings.value("files/max_image_megapixels", 0))
        except (TypeError, ValueError):
            value = 0
        return value if value > 0 else DEFAULT_MAX_IMAGE_MEGAPIXELS

    @max_image_megapixels.setter
    def max_image_megapixels(self, value: int) -> None:
        self.qsettings.setValue("files/max_image_megapixels", int(value))

    def max_image_pixels(self) -> int:
        return self.max_image_megapixels * 1_000_000

    @property
    def autosave_seconds(self) -> int:
        """Autosave interval for unsaved work (0: off); see editor.recovery."""
        from editor.recovery import autosave_interval_s  # recovery loads the .ora I/O: on use

        return int(autosave_interval_s(self.qsettings))

    @autosave_seconds.setter
    def autosave_seconds(self, value: int) -> None:
        from editor.recovery import SETTINGS_KEY  # recovery loads the .ora I/O: on use

        self.qsettings.setValue(SETTINGS_KEY, int(value))

    @property
    def new_image_size(self) -> tuple[int, int]:
        """The size File > New last made (the dialog offers it again); 1024x1024 at first."""
        try:
            width, height = (int(v) for v in _as_list(self.qsettings.value("files/new_image_size")))
        except (TypeError, ValueError):
            return DEFAULT_NEW_IMAGE_SIZE
        if width < 1 or height < 1:
            return DEFAULT_NEW_IMAGE_SIZE
        return width, height

    @new_image_size.setter
    def new_image_size(self, size: tuple[int, int]) -> None:
        self.qsettings.setValue("files/new_image_size", [str(int(size[0])), str(int(size[1]))])

    # Generation parameters -------------------------------------------------------
    def group(self, name: str) -> dict[str, Any]:
        """All values stored under a group (INI values come back as strings)."""
        self.qsettings.beginGroup(name)
        try:
            return {key: self.qsettings.value(key) for key in self.qsettings.childKeys()}
        finally:
            self.qsettings.endGroup()

    def set_group(self, name: str, values: dict[str, Any]) -> None:
        self.qsettings.beginGroup(name)
        try:
            for key, value in values.items():
                self.qsettings.setValue(key, value)
        finally:
            self.qsettings.endGroup()

    def generation_settings(self) -> GenerationSettings:
        """The Generate panel's last settings; an older file's keys read tolerantly."""
        return GenerationSettings.from_dict(self.group("generation_params"))

    def set_generation_settings(self, settings: GenerationSettings) -> None:
        self.set_group("generation_params", settings.to_dict())

    # Window ------------------------------------------------------------------------
    @property
    def theme(self) -> str:
        """'dark' (the default) or 'light'; see editor.ui.theme."""
        from editor.ui.theme import DEFAULT_THEME, THEMES  # QtWidgets: Settings stays QtCore-only

        value = str(self.qsettings.value("window/theme", DEFAULT_THEME) or DEFAULT_THEME)
        return value if value in THEMES else DEFAULT_THEME

    @theme.setter
    def theme(self, value: str) -> None:
        self.qsettings.setValue("window/theme", value)

    @property
    def generate_advanced(self) -> bool:
        """Whether the Generate dock's Advanced section was left open."""
        return _as_bool(self.qsettings.value("window/generate_advanced"), False)

    @generate_advanced.setter
    def generate_advanced(self, on: bool) -> None:
        self.qsettings.setValue("window/generate_advanced", bool(on))

    def window_geometry(self) -> QByteArray | None:
        value = self.qsettings.value("window/geometry")
        return value if isinstance(value, QByteArray) else None

    def window_state(self) -> QByteArray | None:
        value = self.qsettings.value("window/state")
        return value if isinstance(value, QByteArray) else None

    def set_window_layout(self, geometry: QByteArray, state: QByteArray) -> None:
        self.qsettings.setValue("window/geometry", geometry)
        self.qsettings.setValue("window/state", state)

    # Recent files ------------------------------------------------------------------
    @property
    def recent_files(self) -> list[Path]:
        return [Path(p) for p in _as_list(self.qsettings.value("files/recent"))]

    def add_recent_file(self, path: Path) -> None:
        path = Path(path).resolve()
        files = [p for p in self.recent_files if p != path]
        files.insert(0, path)
        self.qsettings.setValue("files/recent", [str(p) for p in files[:MAX_RECENT_FILES]])

    def clear_recent_files(self) -> None:
        self.qsettings.remove("files/recent")
