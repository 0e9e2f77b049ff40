"""Journey: Generate ▸ Train LoRA…, pick a folder of pictures, edit a caption before
typing the concept word, then type it.

Found by walking the window: until the concept word is typed, the list shows template
captions as "a picture of {concept}"; a user who edited one into "a blue {concept}" got
that text verbatim in NAME.txt, the list kept showing "{concept}" after the word was typed,
and training read the placeholder instead of the word. And a caption typed while the
folder's thumbnails were still loading was wiped when its thumbnail arrived.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLineEdit

from editor.ui.train.dialog import TrainDialog
from engine.training.data import load_pictures


def _circles(folder: Path) -> Path:
    folder.mkdir()
    for name, colour in (("blue", (30, 30, 220)), ("green", (30, 200, 30)), ("red", (220, 30, 30))):
        picture = Image.new("RGB", (64, 64), (255, 255, 255))
        ImageDraw.Draw(picture).ellipse((10, 10, 54, 54), fill=colour)
        picture.save(folder / f"{name}.png")
    return folder


def test_a_caption_edited_with_the_placeholder_takes_the_concept_word(
    window, qtbot, tmp_path: Path
) -> None:
    folder = _circles(tmp_path / "circles")
    window.actions.train_lora.trigger()
    dialog = window.findChild(TrainDialog, "trainDialog")
    assert dialog is not None and dialog.isVisible()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is dialog)  # keys go to the dialog
    dialog.folder_edit.setText(str(folder))
    pictures = dialog.pictures
    assert pictures.count() == 3
    blue = pictures.item(0)
    assert blue.text() == "a picture of {concept}"  # no concept word yet
    qtbot.waitUntil(lambda: pictures.thumbnails_loaded() == 3, timeout=10_000)

    # F2 on the caption, as a user edits it; the placeholder stays in the new text.
    pictures.setFocus()
    pictures.setCurrentItem(blue)
    qtbot.keyClick(pictures, Qt.Key.Key_F2)
    editor = QApplication.focusWidget()
    assert isinstance(editor, QLineEdit)
    editor.selectAll()
    qtbot.keyClicks(editor, "a blue {concept}")
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    qtbot.waitUntil((folder / "blue.txt").is_file)

    qtbot.keyClicks(dialog.concept_edit, "blob")
    assert [pictures.item(i).text() for i in range(3)] == [
        "a blue blob",
        "a picture of blob",
        "a picture of blob",
    ]
    assert not blue.font().italic()  # still its own NAME.txt caption
    # What training reads: the word, never the placeholder.
    captions = {p.path.name: p.caption for p in load_pictures(folder, "blob", 32)}
    assert captions["blue.png"] == "a blue blob"
    assert "Train continues" not in dialog.out_label.text()
    assert dialog.train_button.isEnabled()
    pictures.stop_loading()
    dialog.close()


def test_typing_a_caption_while_thumbnails_load_keeps_the_typing(
    window, qtbot, tmp_path: Path
) -> None:
    """A folder of big pictures takes seconds to show; a caption typed meanwhile is kept
    when its thumbnail arrives (Qt refills an open editor whenever its item changes)."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("a", "b", "c"):  # decoded first, slowly: the last one's thumbnail waits
        Image.new("RGB", (3000, 3000), (40, 90, 160)).save(folder / f"{name}.png")
    Image.new("RGB", (64, 64), (200, 40, 40)).save(folder / "z.png")
    window.actions.train_lora.trigger()
    dialog = window.findChild(TrainDialog, "trainDialog")
    assert dialog is not None
    qtbot.waitUntil(lambda: QApplication.activeWindow() is dialog)
    dialog.folder_edit.setText(str(folder))
    pictures = dialog.pictures
    last = pictures.item(3)
    pictures.setFocus()
    pictures.setCurrentItem(last)
    qtbot.keyClick(pictures, Qt.Key.Key_F2)
    editor = QApplication.focusWidget()
    assert isinstance(editor, QLineEdit)
    assert pictures.thumbnails_loaded() < 4, "the thumbnails came before the edit began"
    editor.selectAll()
    qtbot.keyClicks(editor, "a red square")
    qtbot.waitUntil(lambda: pictures.thumbnails_loaded() == 4, timeout=30_000)
    assert editor.text() == "a red square"
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    qtbot.waitUntil((folder / "z.txt").is_file)
    assert (folder / "z.txt").read_text(encoding="utf-8").strip() == "a red square"
    assert last.text() == "a red square"
    pictures.stop_loading()
    dialog.close()
