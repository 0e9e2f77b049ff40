"""Journey tests drive the real MainWindow the way a new user does: through menu actions,
keys and dialogs, with the bundled demo model (a fresh settings file and data folder per
test, from tests/conftest.py). They reuse the window fixtures of the UI tests."""

from tests.editor.ui.conftest import no_qthread_left_running, png_path, settings, window  # noqa: F401
