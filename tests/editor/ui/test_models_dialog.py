"""The Models dialog driven like a user: install from a web address (with progress, speed
and time left), from the starter list through a hub-style server, a 404, cancel, and
removal to the trash. Served by local HTTP servers, never the internet."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from editor.ui.model_manager.dialog import ModelsDialog
from engine.core.paths import user_data_dir, user_models_dir
from engine.model_manager import catalog
from tests.lora_files import write_header_only_lora
from tests.model_server import Served, hub_repo, serve

MB = 1 << 20


def _big_lora(path: Path, context_dim: int = 768) -> bytes:
    """A 3.2 MB LoRA (SD1 by default; the demo model's text width is 128): several 1 MB
    transfer chunks."""
    import torch
    from safetensors.torch import save_file

    key = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k"
    tensors = {
        f"{key}.lora_down.weight": torch.ones(4, context_dim),
        f"{key}.lora_up.weight": torch.ones(200_000, 4),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path))
    return path.read_bytes()


@dataclass
class Gate:
    """One file served in two parts: the first `hold_at` bytes, then the rest once
    `release` is set or `hold_s` has passed (so the client sees a transfer in flight)."""

    data: bytes
    name: str
    hold_at: int = MB
    hold_s: float = 10.0
    release: threading.Event = field(default_factory=threading.Event)


@contextmanager
def gated(gate: Gate) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(gate.data)))
            self.send_header("Content-Disposition", f'attachment; filename="{gate.name}"')
            self.end_headers()
            try:
                self.wfile.write(gate.data[: gate.hold_at])
                self.wfile.flush()
                gate.release.wait(gate.hold_s)
                self.wfile.write(gate.data[gate.hold_at :])
            except OSError:
                pass  # the client hung up (cancelled)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/download/models/42"
    finally:
        gate.release.set()
        server.shutdown()
        server.server_close()


def answer(box_name: str, button: str) -> list[str]:
    """Click `button` in the next modal QMessageBox named `box_name`; the list gets the
    box's text, so a test can check what the user was asked."""
    seen: list[str] = []
    tries = [0]

    def poll() -> None:
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox) and box.objectName() == box_name:
            seen.append(box.text())
            next(b for b in box.buttons() if b.text().replace("&", "") == button).click()
        elif tries[0] < 2000:
            tries[0] += 1
            QTimer.singleShot(10, poll)

    QTimer.singleShot(0, poll)
    return seen


def models_tree() -> list[str]:
    root = user_models_dir()
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


def installed_rows(dialog: ModelsDialog, bundled: bool = False) -> list[list[str]]:
    """The Installed list's rows; without `bundled`, only the user's models (the ones
    that ship with Overpaint are always listed, first)."""
    tree = dialog.installed_tree
    rows = [
        [tree.topLevelItem(i).text(c) for c in range(tree.columnCount())]
        for i in range(tree.topLevelItemCount())
    ]
    return [row for row in rows if bundled or not row[2].endswith("(bundled)")]


def install_from_web(qtbot, dialog: ModelsDialog, source: str, button: str = "Install"):
    dialog.sources.tabs.setCurrentIndex(1)
    dialog.sources.source_edit.setText(source)
    asked = answer("confirmInstallBox", button)
    qtbot.mouseClick(dialog.install_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.busy(), timeout=30000)
    return asked


@pytest.fixture
def dialog(qtbot) -> ModelsDialog:
    dialog = ModelsDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def test_install_from_the_web_in_the_window_shows_progress_and_lists_it(
    qtbot, window, tmp_path: Path
) -> None:
    data = _big_lora(tmp_path / "src.safetensors", context_dim=128)  # fits the demo model
    gate = Gate(data, "ink-style.safetensors", hold_s=0.3)
    window.actions.models.trigger()
    dialog = window.findChild(ModelsDialog, "modelsDialog")
    assert dialog is not None and dialog.isVisible() and installed_rows(dialog) == []
    seen: list[tuple[int, str]] = []
    dialog.progress.valueChanged.connect(lambda v: seen.append((v, dialog.status.text())))
    with gated(gate) as url, qtbot.waitSignal(dialog.models_changed, timeout=30000):
        asked = install_from_web(qtbot, dialog, url)
    (question,) = asked
    assert (
        "Disk space needed: unknown until the download starts" in question and "Free: " in question
    )
    # The bar moved while the transfer ran, showing speed and time left, and reached 100%.
    assert any(0 < v < 1000 and "/s" in text and "s left" in text for v, text in seen), seen
    assert seen[-1][0] == 1000 and "100%" in seen[-1][1]
    assert models_tree() == ["loras", "loras/ink-style.safetensors"]
    assert (user_models_dir() / "loras" / "ink-style.safetensors").read_bytes() == gate.data
    assert installed_rows(dialog)[0][:3] == ["ink-style", "—", "LoRA"]  # no known family
    assert dialog.message.text().startswith("Installed ink-style.safetensors (LoRA, 3.2 MB) in ")
    # The window re-listed its models: the generation panel now offers the LoRA.
    combo = window.generation_panel.lora_panel.combo
    assert "ink-style" in [combo.itemData(i) for i in range(combo.count())]
    dialog.close()


def test_a_404_says_one_sentence_and_leaves_nothing(qtbot, dialog: ModelsDialog) -> None:
    with serve(Served()) as base:
        install_from_web(qtbot, dialog, f"{base}/files/missing.safetensors")
    text = dialog.message.text()
    assert text == f"{base}/files/missing.safetensors was not found (HTTP 404); check the address."
    assert models_tree() == [] and installed_rows(dialog) == []
    downloads = user_data_dir() / "downloads"
    assert not downloads.exists() or not any(p.is_file() for p in downloads.rglob("*"))
    assert dialog.install_button.isEnabled() and not dialog.progress.isVisible()


def test_cancel_leaves_nothing_in_the_models_folder(
    qtbot, dialog: ModelsDialog, tmp_path: Path
) -> None:
    gate = Gate(_big_lora(tmp_path / "src.safetensors"), "ink.safetensors")

    def cancel_once(value: int) -> None:
        if value > 0 and dialog.cancel_button.isEnabled():
            qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
            gate.release.set()  # the transfer goes on only after Cancel was pressed

    dialog.progress.valueChanged.connect(cancel_once)
    with gated(gate) as url:
        install_from_web(qtbot, dialog, url)
    assert gate.release.is_set()
    assert "cancelled" in dialog.message.text()
    assert models_tree() == [] and installed_rows(dialog) == []
    assert dialog.install_button.isEnabled() and not dialog.cancel_button.isVisible()


def test_starter_install_asks_with_size_and_licence_first(
    qtbot, dialog: ModelsDialog, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import huggingface_hub.constants

    data = _big_lora(tmp_path / "hub.safetensors")
    tiny = catalog.StarterModel(
        "tiny-ink", "Tiny ink LoRA", "tests/tiny-ink", "pytorch_lora_weights.safetensors",
        "lora", "sd1", len(data), "MIT",
    )  # fmt: skip
    monkeypatch.setattr(catalog, "STARTERS", (*catalog.STARTERS, tiny))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    served = Served()
    hub_repo(served, "tests/tiny-ink", {"pytorch_lora_weights.safetensors": data})
    dialog = ModelsDialog()  # lists the patched starters
    qtbot.addWidget(dialog)
    tree = dialog.sources.starters_tree
    rows = {
        tree.topLevelItem(i).text(0): tree.topLevelItem(i) for i in range(tree.topLevelItemCount())
    }
    sd15 = rows["Stable Diffusion 1.5"]
    assert [sd15.text(c) for c in (1, 2, 3, 4)] == [
        "Checkpoint",
        "SD 1.x",
        "~4.3 GB",
        "CreativeML OpenRAIL-M",
    ]
    tree.setCurrentItem(rows["Tiny ink LoRA"])
    assert "licence MIT" in dialog.sources.starter_note.text()
    with serve(served) as base:
        monkeypatch.setenv("HF_ENDPOINT", base)
        # Declined: nothing is fetched or installed.
        asked = answer("confirmInstallBox", "Cancel")
        qtbot.mouseClick(dialog.install_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not dialog.busy() and bool(asked), timeout=30000)
        assert models_tree() == [] and dialog.message.text() == "Nothing was installed."
        downloads = user_data_dir() / "downloads"
        assert not downloads.exists() or not any(p.is_file() for p in downloads.rglob("*"))
        asked = answer("confirmInstallBox", "Install")
        with qtbot.waitSignal(dialog.models_changed, timeout=30000):
            qtbot.mouseClick(dialog.install_button, Qt.MouseButton.LeftButton)
    (question,) = asked
    assert question.startswith("Install Tiny ink LoRA?") and "Licence: MIT" in question
    assert "Disk space needed: 3.2 MB" in question and "Free: " in question
    assert models_tree() == ["loras", "loras/tiny-ink.safetensors"]
    assert [row[:3] for row in installed_rows(dialog)] == [["tiny-ink", "SD 1.x", "LoRA"]]


def test_remove_asks_then_moves_to_the_trash(
    qtbot, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    path = write_header_only_lora(user_models_dir() / "loras" / "old-ink.safetensors", 768)
    keep = write_header_only_lora(user_models_dir() / "loras" / "keep.safetensors", 2048)
    data = path.read_bytes()
    dialog = ModelsDialog()
    qtbot.addWidget(dialog)
    assert [row[:3] for row in installed_rows(dialog)] == [
        ["keep", "SDXL", "LoRA"],
        ["old-ink", "SD 1.x", "LoRA"],
    ]
    assert not dialog.remove_button.isEnabled()  # nothing chosen yet
    dialog.select_installed(path)
    asked = answer("confirmRemoveBox", "Cancel")
    qtbot.mouseClick(dialog.remove_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(asked))
    assert path.exists() and "Move old-ink to the trash?" in asked[0]
    answer("confirmRemoveBox", "Move to Trash")
    with qtbot.waitSignal(dialog.models_changed, timeout=30000):
        qtbot.mouseClick(dialog.remove_button, Qt.MouseButton.LeftButton)
    trash = tmp_path / "xdg" / "Trash"
    assert not path.exists() and keep.exists()
    assert (trash / "files" / "old-ink.safetensors").read_bytes() == data
    info = (trash / "info" / "old-ink.safetensors.trashinfo").read_text()
    assert f"Path={path}" in info.replace("%2F", "/")
    assert [row[0] for row in installed_rows(dialog)] == ["keep"]
    assert dialog.message.text() == "Moved old-ink to the trash."


def test_local_file_is_copied_or_linked(qtbot, dialog: ModelsDialog, tmp_path: Path) -> None:
    copied = write_header_only_lora(tmp_path / "mine" / "pencil.safetensors", 768)
    linked = write_header_only_lora(tmp_path / "mine" / "charcoal.safetensors", 2048)
    dialog.sources.tabs.setCurrentIndex(2)
    for path, link in ((copied, False), (linked, True)):
        dialog.sources.local_edit.setText(str(path))
        dialog.sources.link_box.setChecked(link)
        asked = answer("confirmInstallBox", "Install")
        with qtbot.waitSignal(dialog.models_changed, timeout=30000):
            qtbot.mouseClick(dialog.install_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not dialog.busy())
        needed = "0 B" if link else f"{path.stat().st_size / 1000:.1f} KB"
        assert f"Disk space needed: {needed}" in asked[0]
    loras = user_models_dir() / "loras"
    assert (loras / "pencil.safetensors").read_bytes() == copied.read_bytes()
    assert not (loras / "pencil.safetensors").is_symlink() and copied.exists()
    assert (loras / "charcoal.safetensors").resolve() == linked
    assert [row[:3] for row in installed_rows(dialog)] == [
        ["charcoal", "SDXL", "LoRA"],
        ["pencil", "SD 1.x", "LoRA"],
    ]
