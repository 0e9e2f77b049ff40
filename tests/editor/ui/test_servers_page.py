"""Settings > Servers: the list is kept, tokens stay out of the settings file, Test reports,
and the engine client runs the next job on the servers (a dead one: one sentence)."""

from __future__ import annotations

from pathlib import Path

from editor.ui.dialogs import SettingsDialog
from editor.ui.servers.page import configured_servers
from editor.ui.settings import Settings
from engine.request import GenerationRequest
from tests.comfy.servers import free_port


def test_servers_are_saved_and_tokens_never_reach_the_settings_file(qtbot, tmp_path: Path) -> None:
    settings = Settings(tmp_path / "s.ini")
    dialog = SettingsDialog(settings)
    qtbot.addWidget(dialog)
    page = dialog.servers_page
    page.url_edit.setText("127.0.0.1:8188")
    page.token_edit.setText("s3cret-token")
    page._add()
    page.enabled_check.setChecked(True)
    dialog.accept()
    assert page.urls() == ["http://127.0.0.1:8188"]
    assert configured_servers(Settings(tmp_path / "s.ini")) == (
        ("http://127.0.0.1:8188", "s3cret-token"),
    )
    assert "s3cret-token" not in (tmp_path / "s.ini").read_text()
    settings.qsettings.setValue("servers/enabled", False)
    assert configured_servers(settings) == ()


def test_the_test_button_reports_a_dead_server_in_one_sentence(qtbot, tmp_path: Path) -> None:
    settings = Settings(tmp_path / "s.ini")
    dialog = SettingsDialog(settings)
    qtbot.addWidget(dialog)
    url = f"http://127.0.0.1:{free_port()}"
    dialog.servers_page.url_edit.setText(url)
    dialog.servers_page._add()
    dialog.servers_page.test_button.click()
    qtbot.waitUntil(lambda: dialog.servers_page.test_button.isEnabled(), timeout=15000)
    assert dialog.servers_page.status.text() == (
        f"Could not reach the ComfyUI server at {url} (connection refused)."
    )


def test_the_engine_client_runs_jobs_on_the_servers_it_is_given(qtbot) -> None:
    from engine.worker import EngineClient

    url = f"http://127.0.0.1:{free_port()}"
    client = EngineClient(servers=[(url, "")])
    try:
        with qtbot.waitSignal(client.failed, timeout=20000) as failed:
            client.submit(GenerationRequest("txt2img", steps=2, width=64, height=64))
        assert (
            failed.args[1] == f"Could not reach the ComfyUI server at {url} (connection refused)."
        )
    finally:
        client.shutdown()
