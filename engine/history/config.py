"""Whether history is on, and where its database lives.

The switch is the editor's Settings value ``history/enabled`` (Settings > History). The
CLI reads the same INI file with configparser, so it needs no Qt: QSettings writes plain
``[history]`` / ``enabled=false`` lines for a bool. OVERPAINT_HISTORY=0 (or off/false)
turns history off for one process and =1 forces it on, whatever the file says; tests and
scripts use it. The database is only ever in the per-user data folder.
"""

from __future__ import annotations

import configparser
import logging
import os
from collections.abc import Callable
from pathlib import Path

from engine.core.paths import user_data_dir
from engine.history.store import HistoryStore

log = logging.getLogger(__name__)

ENV_SWITCH = "OVERPAINT_HISTORY"
SETTINGS_GROUP, SETTINGS_KEY = "history", "enabled"
DATABASE_NAME = "history.sqlite3"
_OFF = ("0", "false", "no", "off")


def settings_path() -> Path:
    """The editor's settings file (editor.ui.settings.default_settings_path, without Qt)."""
    override = os.environ.get("OVERPAINT_SETTINGS")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(Path.home(), ".config")
    return Path(base) / "overpaint" / "overpaint.ini"


def database_path() -> Path:
    return user_data_dir() / DATABASE_NAME


def history_enabled() -> bool:
    """On unless OVERPAINT_HISTORY or the editor's setting turns it off."""
    env = os.environ.get(ENV_SWITCH, "").strip().lower()
    if env:
        return env not in _OFF
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read(settings_path(), encoding="utf-8")
        value = parser.get(SETTINGS_GROUP, SETTINGS_KEY, fallback="true")
    except (configparser.Error, OSError, UnicodeDecodeError) as exc:
        # An unreadable settings file must not stop a generation: keep the default.
        log.debug("cannot read the history switch: %s", exc)
        return True
    return value.strip().lower() not in _OFF


def open_history(
    force: bool = False, on_warning: Callable[[str], None] | None = None
) -> HistoryStore | None:
    """The user's history store, or None when history is off (``force`` ignores the
    switch: reading and clearing work even with recording off). Opening is lazy and
    never raises; problems surface as warnings on first use."""
    if not force and not history_enabled():
        return None
    return HistoryStore(database_path(), on_warning=on_warning)
