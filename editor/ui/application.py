"""Creates the QApplication and the main window.

Nothing imported here pulls in torch or diffusers: the window is on screen first, and
the engine imports them in its worker thread when the first job runs.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import NoReturn

from PySide6.QtCore import qInstallMessageHandler
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from editor.ui.main_window import MainWindow
from editor.ui.settings import Settings
from editor.ui.theme import apply_theme
from engine import __version__
from engine.core.log_setup import setup_logging
from engine.core.paths import RESOURCES
from engine.worker import engine_threads_running

APP_ICON = RESOURCES / "icons" / "overpaint.svg"


def create_application(settings: Settings | None = None) -> QApplication:
    """The QApplication, themed from `settings` (default: the user's settings file)."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Overpaint")
    app.setOrganizationName("Overpaint")
    app.setDesktopFileName("io.github.overpaint.Overpaint")
    if APP_ICON.is_file():
        app.setWindowIcon(QIcon(str(APP_ICON)))
    # Before any window exists, so nothing is first drawn in the platform's colours.
    apply_theme((settings or Settings()).theme, app)
    return app


def run_gui(path: str | None = None, debug: bool = False) -> int:
    log_path = setup_logging(debug)
    logging.getLogger("overpaint").info("Overpaint %s started; log file %s", __version__, log_path)
    _route_qt_messages()
    settings = Settings()
    app = create_application(settings)
    window = MainWindow(settings)
    _report_unexpected_errors(window)
    # However the event loop ends, the engine thread is stopped before Python exits.
    app.aboutToQuit.connect(window.generation.shutdown)
    window.show()
    # Tool keys (B, M, [ ]) go to the canvas from the start, not to the model list's
    # type-ahead search, which took the first focus.
    window.canvas.setFocus()
    # Before opening `path`: a crashed session's work comes first (open_path then asks).
    window.enable_recovery().offer()
    if path:
        window.open_path(Path(path))
    code = app.exec()
    if engine_threads_running():
        # The user's work is saved (closeEvent asked); an engine step that will not stop
        # must not turn a normal quit into a Qt abort when Python destroys its thread.
        logging.getLogger("overpaint").info("quitting while the engine finishes a step or a load")
        logging.shutdown()
        os._exit(code)
    return code


def end_process(code: int) -> NoReturn:
    """End the process once run_gui has returned, without Python's own teardown.

    By then closing has written out all the user's data: settings synced, autosave closed,
    the generation log's recorder joined, the engine thread stopped. What Python's teardown
    would add is unloading torch and diffusers (each module, each registered op's
    finalizer): 1.5-4 s on 2 busy cores, measured, with the window long gone and the
    process still in the task list. Qt's teardown still runs: on X11 it hands a copied
    picture to the clipboard manager.
    """
    app = QApplication.instance()
    if app is not None:
        app.shutdown()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):  # no stream, or a closed one
            pass
    os._exit(code)


_QT_LEVELS: dict[str, int] = {
    "QtDebugMsg": logging.DEBUG,
    "QtInfoMsg": logging.INFO,
    "QtWarningMsg": logging.WARNING,
    "QtCriticalMsg": logging.ERROR,
    "QtFatalMsg": logging.CRITICAL,
}


def _route_qt_messages() -> None:
    """Qt's own notes (platform plugin quirks) go to the log like any library's, so the
    terminal shows them only with --debug."""
    qt_log = logging.getLogger("qt")

    def handler(kind, _context, message: str) -> None:
        qt_log.log(_QT_LEVELS.get(getattr(kind, "name", ""), logging.WARNING), "%s", message)

    qInstallMessageHandler(handler)


def _report_unexpected_errors(window: MainWindow) -> None:
    """A bug in a Qt slot is logged with its traceback and told to the user in one
    sentence, instead of only printing to a terminal nobody watches."""
    log = logging.getLogger("overpaint")

    def hook(kind, value, tb) -> None:
        log.error("unexpected error", exc_info=(kind, value, tb))
        try:
            window.show_error(
                f"Something went wrong ({kind.__name__}); to be safe, save your work under "
                "a new name (details are in the log)."
            )
        except Exception:  # the hook itself must never raise
            pass

    sys.excepthook = hook
