"""The Generations dock widget on its own, over a real history file."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import Qt

from editor.ui import file_ops
from editor.ui.generations.panel import ENTRY_MIME, HIT_ROLE, GenerationHistoryPanel
from engine.history.store import Entry, HistoryStore
from tests.history.conftest import picture, request


def _fill(store: HistoryStore, tmp_path: Path) -> dict[str, int]:
    t = time.time()
    out = tmp_path / "lighthouse.png"
    Image.fromarray(picture((200, 40, 30), 64)).save(out)
    return {
        "kept": store.record(
            request("a red lighthouse", seed=3), picture((200, 40, 30)), path=out, kept=True,
            created=t,
        ),
        "gone": store.record(
            request("a blue lighthouse at night", mode="img2img"), picture((20, 40, 220)),
            path=tmp_path / "gone.png", created=t + 1,
        ),
        "cat": store.record(request("a sleeping cat"), picture((90, 90, 90)), created=t + 2),
    }  # fmt: skip


def _rows(panel: GenerationHistoryPanel) -> list[int]:
    return [h.id for h in panel.model.hits]


def _panel(qtbot, store: HistoryStore) -> GenerationHistoryPanel:
    panel = GenerationHistoryPanel(store)
    qtbot.addWidget(panel)
    panel.resize(360, 500)
    panel.show()
    return panel


def test_results_as_you_type_and_filters(qtbot, store: HistoryStore, tmp_path: Path) -> None:
    ids = _fill(store, tmp_path)
    panel = _panel(qtbot, store)
    assert _rows(panel) == [ids["cat"], ids["gone"], ids["kept"]]  # newest first
    qtbot.keyClicks(panel.search_box, "lightho")  # an unfinished word is a prefix
    qtbot.waitUntil(lambda: set(_rows(panel)) == {ids["kept"], ids["gone"]}, timeout=3000)
    panel.kept_box.setChecked(True)
    assert _rows(panel) == [ids["kept"]]
    panel.kept_box.setChecked(False)
    panel.mode_box.setCurrentText("img2img")
    assert _rows(panel) == [ids["gone"]]
    panel.mode_box.setCurrentIndex(0)
    panel.search_box.setText("unicorn")
    qtbot.waitUntil(lambda: _rows(panel) == [], timeout=3000)
    assert panel.status.text() == "No generations match."


def test_thumbnails_and_missing_files_are_shown(qtbot, store: HistoryStore, tmp_path: Path) -> None:
    ids = _fill(store, tmp_path)
    panel = _panel(qtbot, store)
    row = _rows(panel).index(ids["kept"])
    index = panel.model.index(row, 0)
    assert not panel.model.data(index, Qt.ItemDataRole.DecorationRole).isNull()
    image = panel.model.pixmap(panel.model.data(index, HIT_ROLE)).toImage()
    assert not image.isNull() and max(image.width(), image.height()) <= 256
    colour = image.pixelColor(image.width() // 2, image.height() // 2)
    assert abs(colour.red() - 200) < 8 and abs(colour.blue() - 30) < 8
    assert panel.model.data(index, Qt.ItemDataRole.DisplayRole).startswith("★ ")
    gone = panel.model.index(_rows(panel).index(ids["gone"]), 0)
    assert "moved or deleted" in panel.model.data(gone, Qt.ItemDataRole.ToolTipRole)


def test_actions_emit_the_entry_and_request(qtbot, store: HistoryStore, tmp_path: Path) -> None:
    ids = _fill(store, tmp_path)
    panel = _panel(qtbot, store)
    assert not panel.actions["use"].isEnabled()  # nothing selected
    panel.select(_rows(panel).index(ids["kept"]))
    assert all(a.isEnabled() for a in panel.actions.values())
    with qtbot.waitSignal(panel.use_parameters) as used:
        panel.actions["use"].trigger()
    assert used.args[0].request == request("a red lighthouse", seed=3)
    with qtbot.waitSignal(panel.regenerate) as regen:
        panel.actions["regenerate"].trigger()
    assert isinstance(regen.args[0], Entry) and regen.args[0].request.seed == 3
    with qtbot.waitSignal(panel.open_file) as opened:
        panel.actions["open"].trigger()
    assert opened.args[0] == str(tmp_path / "lighthouse.png")

    panel.select(_rows(panel).index(ids["gone"]))
    assert not panel.actions["open"].isEnabled()  # the file is gone
    with qtbot.waitSignal(panel.add_as_layer) as layer:
        panel.actions["layer"].trigger()
    entry = layer.args[0]
    assert isinstance(entry, Entry) and entry.id == ids["gone"] and not entry.hit.exists
    assert entry.request.mode == "img2img"


def test_drag_data_is_what_the_window_drop_takes(
    qtbot, store: HistoryStore, tmp_path: Path
) -> None:
    ids = _fill(store, tmp_path)
    panel = _panel(qtbot, store)
    kept = panel.model.mimeData([panel.model.index(_rows(panel).index(ids["kept"]), 0)])
    assert file_ops.dropped_paths(kept) == [tmp_path / "lighthouse.png"]
    assert json.loads(bytes(kept.data(ENTRY_MIME)).decode()) == {"id": ids["kept"]}
    gone = panel.model.mimeData([panel.model.index(_rows(panel).index(ids["gone"]), 0)])
    assert file_ops.dropped_paths(gone) == [] and gone.hasImage()
    rgba = file_ops.image_from_mime(gone)  # the window's paste/drop reader
    assert np.abs(rgba[10, 10, :3].astype(int) - (20, 40, 220)).max() < 8
    assert json.loads(bytes(gone.data(ENTRY_MIME)).decode()) == {"id": ids["gone"]}


def test_clear_and_warnings(qtbot, store: HistoryStore, tmp_path: Path) -> None:
    _fill(store, tmp_path)
    panel = _panel(qtbot, store)
    panel.confirm = lambda text: False
    assert not panel.clear_history() and len(_rows(panel)) == 3
    panel.confirm = lambda text: True
    assert panel.clear_history()
    assert _rows(panel) == [] and panel.status.text() == "No generations yet."
    store.close()
    store.path.write_bytes(b"damaged " * 100)
    panel.refresh()
    assert "set aside" in panel.status.text()
    panel.set_store(None)
    assert panel.status.text() == "The generation history is off."
