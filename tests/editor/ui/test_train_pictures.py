"""The Train dialog shows the chosen folder's pictures as thumbnails with their captions;
editing a caption writes NAME.txt beside the picture, and training reads that caption."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLineEdit

from engine.training.data import load_pictures
from tests.training.stars import TRAIN_SET, write_star_folder


@pytest.fixture
def dialog(qtbot):
    from editor.ui.train.dialog import TrainDialog

    d = TrainDialog()
    qtbot.addWidget(d)
    d.show()
    yield d
    d.pictures.stop_loading()


def _thumbnail_rgb(item) -> tuple[int, int, int]:
    image = item.icon().pixmap(64, 64).toImage()
    c = image.pixelColor(image.width() // 2, image.height() // 2)
    return c.red(), c.green(), c.blue()


def test_thumbnails_show_and_an_edited_caption_is_what_training_reads(
    dialog, qtbot, tmp_path: Path
) -> None:
    folder = write_star_folder(tmp_path / "stars", combos=TRAIN_SET[:3])
    # A plain red picture without a NAME.txt: captioned by the template.
    Image.new("RGB", (300, 200), (220, 20, 20)).save(folder / "9-plain.png")
    dialog.concept_edit.setText("star")
    dialog.template_edit.setText("a picture of {concept}")
    dialog.folder_edit.setText(str(folder))

    pictures = dialog.pictures
    assert pictures.count() == 4
    qtbot.waitUntil(lambda: pictures.thumbnails_loaded() == 4, timeout=10_000)
    plain = pictures.item(3)
    assert plain.text() == "a picture of star" and plain.font().italic()
    r, g, b = _thumbnail_rgb(plain)
    assert r > 180 and g < 60 and b < 60  # the red picture's own pixels
    assert pictures.item(0).text() == "a red star on the left, blue background"
    assert not pictures.item(0).font().italic()

    # Edit the plain picture's caption as a user does: F2, type, Enter.
    pictures.setFocus()
    pictures.setCurrentItem(plain)
    qtbot.keyClick(pictures, Qt.Key.Key_F2)
    editor = QApplication.focusWidget()
    assert isinstance(editor, QLineEdit)
    editor.selectAll()
    qtbot.keyClicks(editor, "a   red square, not a star")
    qtbot.keyClick(editor, Qt.Key.Key_Return)

    caption = folder / "9-plain.txt"
    qtbot.waitUntil(caption.is_file)
    assert caption.read_text(encoding="utf-8").strip() == "a red square, not a star"
    assert plain.text() == "a red square, not a star" and not plain.font().italic()
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".")]  # no temporaries
    assert dialog.folder_status.text() == "4 pictures found, each with its NAME.txt caption."
    by_name = {p.path.name: p.caption for p in load_pictures(folder, "star", 32)}
    assert by_name["9-plain.png"] == "a red square, not a star"

    # Clearing a caption removes NAME.txt: the template captions the picture again.
    plain.setText("")
    assert not caption.exists()
    assert plain.text() == "a picture of star" and plain.font().italic()
    assert load_pictures(folder, "star", 32)[3].caption == "a picture of star"
    assert "3 with a NAME.txt caption" in dialog.folder_status.text()


def test_template_captions_follow_the_concept_and_unreadable_pictures_are_marked(
    dialog, qtbot, tmp_path: Path
) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    for i in range(3):
        Image.new("RGB", (64, 64), (0, 80 * i, 200)).save(folder / f"{i}.png")
    (folder / "3-broken.png").write_bytes(b"not a picture at all")
    dialog.folder_edit.setText(str(folder))
    pictures = dialog.pictures
    assert pictures.count() == 4
    qtbot.waitUntil(lambda: pictures.thumbnails_loaded() == 4, timeout=10_000)
    assert "cannot be read" in pictures.item(3).toolTip()
    assert "cannot be read" not in pictures.item(0).toolTip()

    dialog.concept_edit.setText("comet")
    assert [pictures.item(i).text() for i in range(3)] == ["a picture of comet"] * 3

    # Another folder replaces the list; its thumbnails come from the new pictures.
    other = write_star_folder(tmp_path / "stars", combos=TRAIN_SET[:3])
    dialog.folder_edit.setText(str(other))
    assert pictures.paths() == sorted(other.glob("*.png"))
    qtbot.waitUntil(lambda: pictures.thumbnails_loaded() == 3, timeout=10_000)
