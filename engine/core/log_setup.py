"""Where log records go: always to a log file in the per-user data folder, and to the
terminal only what the user must see.

Loading a model makes diffusers, transformers and huggingface_hub print warnings,
deprecation notes and progress bars meant for library developers. By default they stay
out of the terminal (Python warnings go to the log file instead); `--debug` shows all
of it, with Overpaint's own debug records. The libraries are configured through their
environment variables because the window imports them late, in the engine's thread.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from pathlib import Path

from engine.core.paths import user_data_dir

LOG_FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"
CONSOLE_FORMAT = "%(levelname)s %(name)s: %(message)s"
# Loggers whose records are ours; in quiet mode the terminal shows only these (and errors).
OWN_LOGGERS = ("overpaint", "engine", "editor")
# Read by the libraries when they are imported (TQDM_DISABLE turns off the progress bars
# diffusers draws itself, "Loading pipeline components...").
QUIET_ENVIRONMENT = {
    "DIFFUSERS_VERBOSITY": "error",
    "TRANSFORMERS_VERBOSITY": "error",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TQDM_DISABLE": "1",
}
_MAX_BYTES = 2_000_000
_BACKUPS = 2


def log_file() -> Path:
    """The log file of this user (rotated at 2 MB, two old ones kept beside it)."""
    return user_data_dir() / "logs" / "overpaint.log"


class _OwnOrSevere(logging.Filter):
    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR:
            return True
        own = record.name.split(".", 1)[0] in OWN_LOGGERS
        return own and record.levelno >= self.level


def setup_logging(debug: bool = False, console_level: int = logging.WARNING) -> Path | None:
    """Send records to the log file, and to stderr Overpaint's own records from
    `console_level` up (everything with `debug`). Returns the log file, or None when it
    cannot be written (logging must never stop the program). Safe to call again."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_overpaint", False)]:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    path: Path | None = log_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        file_handler: logging.Handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=_MAX_BYTES, backupCount=_BACKUPS, encoding="utf-8"
        )
        file_handler.setFormatter(logging.Formatter(LOG_FORMAT))
        _add(root, file_handler)
    except OSError as e:
        path = None
        print(f"warning: cannot write the log file ({e}); logging to the terminal only",
              file=sys.stderr)  # fmt: skip
    # A handler someone else put on the root logger (a test harness, an embedding app)
    # already decides where records go; a second console would print them twice.
    if not [h for h in root.handlers if not getattr(h, "_overpaint", False)]:
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(logging.Formatter(CONSOLE_FORMAT))
        if not debug:
            console.addFilter(_OwnOrSevere(console_level))
        _add(root, console)
    _configure_libraries(debug)
    return path


def _add(root: logging.Logger, handler: logging.Handler) -> None:
    handler._overpaint = True  # type: ignore[attr-defined]
    root.addHandler(handler)


def _configure_libraries(debug: bool) -> None:
    # Python warnings (deprecations from diffusers, setuptools...) become log records:
    # in the file by default, on the terminal too with --debug.
    logging.captureWarnings(True)
    for name, value in QUIET_ENVIRONMENT.items():
        if debug and name in _set_by_us:
            os.environ.pop(name, None)
            _set_by_us.discard(name)
        elif not debug and name not in os.environ:  # the user's own setting wins
            os.environ[name] = value
            _set_by_us.add(name)
    # Libraries imported already (a command run in-process) read no environment again.
    for library in ("diffusers", "transformers"):
        module = sys.modules.get(f"{library}.utils.logging")
        if module is None:
            continue
        module.set_verbosity(logging.WARNING if debug else logging.ERROR)
        if debug:
            module.enable_progress_bar()
        else:
            module.disable_progress_bar()


_set_by_us: set[str] = set()
