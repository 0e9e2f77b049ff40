"""The Train dialog's picture list: a thumbnail of every picture with its caption, editable.

A caption shown in italics comes from the caption template (the picture has no NAME.txt);
editing one writes NAME.txt beside the picture (atomically, the kohya convention), which
training then reads; clearing it removes NAME.txt, back to the template. Thumbnails are
decoded on a worker thread (a folder of camera JPEGs takes seconds), one folder at a time:
choosing another folder abandons the old one's remaining pictures.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageOps
from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QListWidget,
    QListWidgetItem,
    QStyledItemDelegate,
    QWidget,
)

from editor.ui.background import BackgroundTask, run_in_background
from engine.core.errors import EngineError
from engine.training.data import (
    IMAGE_SUFFIXES,
    caption_file,
    caption_for,
    picture_files,
    write_caption,
)

THUMB = 64
PATH_ROLE = Qt.ItemDataRole.UserRole
SHOWN_ROLE = Qt.ItemDataRole.UserRole + 1  # the caption as last shown, to tell edits apart


def thumbnail(path: Path, size: int = THUMB) -> QImage:
    """The picture scaled to fit size x size (transparency on white), or a null image."""
    try:
        with Image.open(path) as im:
            im.draft("RGB", (size * 2, size * 2))  # JPEG: decode at a fraction of the size
            im = ImageOps.exif_transpose(im)
            im.thumbnail((size, size), Image.Resampling.LANCZOS)
            rgba = im.convert("RGBA")
    except (OSError, ValueError, Image.DecompressionBombError):
        return QImage()
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    rgb = Image.alpha_composite(white, rgba).convert("RGB")
    data = rgb.tobytes()
    image = QImage(data, rgb.width, rgb.height, 3 * rgb.width, QImage.Format.Format_RGB888)
    return image.copy()  # owns its pixels once `data` is gone


def _load_thumbnails(task: BackgroundTask[None], batch: int, paths: list[Path]) -> None:
    """Reports (batch, picture path, thumbnail: null when unreadable) for each picture."""
    for path in paths:
        if task.cancelled():
            return
        task.report((batch, str(path), thumbnail(path)))


class _CaptionDelegate(QStyledItemDelegate):
    """Fills a caption editor once, when it opens. Qt refills an open editor whenever its
    item changes, and a thumbnail arriving is such a change: a caption typed while a big
    folder was still loading was wiped back to the old one."""

    def setEditorData(self, editor: QWidget, index: QModelIndex | QPersistentModelIndex) -> None:
        if editor.property("captionFilled"):
            return
        super().setEditorData(editor, index)
        editor.setProperty("captionFilled", True)


class PictureList(QListWidget):
    """`captions_changed` fires after a caption file was written or removed."""

    captions_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("trainPictures")
        self.setIconSize(QSize(THUMB, THUMB))
        self.setWordWrap(True)
        self.setSpacing(2)
        self.setItemDelegate(_CaptionDelegate(self))
        self.setEditTriggers(
            QAbstractItemView.EditTrigger.DoubleClicked
            | QAbstractItemView.EditTrigger.EditKeyPressed
            | QAbstractItemView.EditTrigger.SelectedClicked
        )
        self.setToolTip("Double-click a caption (or press F2) to edit it; it is saved as NAME.txt.")
        self.folder: Path | None = None
        self.concept = ""
        self.template = ""
        self._batch = 0
        self._loader: BackgroundTask[None] | None = None
        self._filling = False
        self.itemChanged.connect(self._on_item_changed)

    # -- showing -------------------------------------------------------------------------

    def show_folder(self, folder: str, concept: str, template: str) -> None:
        """List the folder's pictures; only a changed set of files reloads thumbnails."""
        self.concept, self.template = concept.strip(), template
        try:
            files = picture_files(Path(folder.strip())) if folder.strip() else []
        except EngineError:  # too few pictures (or no folder): still show what is there
            path = Path(folder.strip())
            files = sorted(
                p
                for p in (path.iterdir() if path.is_dir() else ())
                if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
            )
        if files != self.paths():
            self._reload(files)
        else:
            self.refresh_captions()

    def paths(self) -> list[Path]:
        return [Path(self.item(i).data(PATH_ROLE)) for i in range(self.count())]

    def thumbnails_loaded(self) -> int:
        return sum(not self.item(i).icon().isNull() for i in range(self.count()))

    def refresh_captions(self) -> None:
        """Captions from disk (NAME.txt) or the template, except the one being edited."""
        editing = self.currentItem() if self.state() == self.State.EditingState else None
        self._filling = True
        try:
            for i in range(self.count()):
                item = self.item(i)
                if item is not editing:
                    self._show_caption(item)
        finally:
            self._filling = False

    def _show_caption(self, item: QListWidgetItem) -> None:
        path = Path(item.data(PATH_ROLE))
        own = caption_file(path).is_file()
        text = caption_for(path, self.concept or "{concept}", self.template)
        item.setData(SHOWN_ROLE, text)
        item.setText(text)
        font = QFont(item.font())
        font.setItalic(not own)
        item.setFont(font)
        how = "its NAME.txt caption" if own else "caption from the template (no NAME.txt yet)"
        item.setToolTip(f"{path.name}: {how}")

    def _reload(self, files: list[Path]) -> None:
        if self._loader is not None:
            self._loader.cancel()  # the previous folder's loader stops after its current picture
        self._batch += 1
        self._filling = True
        try:
            self.clear()
            for path in files:
                item = QListWidgetItem()
                item.setData(PATH_ROLE, str(path))
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
                item.setSizeHint(QSize(THUMB * 5, THUMB + 8))
                self.addItem(item)
                self._show_caption(item)
        finally:
            self._filling = False
        if files:
            batch = self._batch
            self._loader = run_in_background(
                lambda task: _load_thumbnails(task, batch, files),
                on_progress=lambda loaded: self._on_thumbnail(*loaded),
                owner=self,
                name="overpaint-thumbnails",
            )

    def _on_thumbnail(self, batch: int, path: str, image: QImage) -> None:
        if batch != self._batch:
            return  # a folder no longer shown
        for i in range(self.count()):
            item = self.item(i)
            if item.data(PATH_ROLE) == path:
                if image.isNull():
                    broken = QPixmap(THUMB, THUMB)
                    broken.fill(QColor("#803030"))
                    item.setIcon(QIcon(broken))
                    item.setToolTip(f"{Path(path).name} cannot be read as a picture.")
                else:
                    item.setIcon(QIcon(QPixmap.fromImage(image)))
                return

    # -- editing -------------------------------------------------------------------------

    def _on_item_changed(self, item: QListWidgetItem) -> None:
        if self._filling:
            return
        path = Path(item.data(PATH_ROLE))
        text = " ".join(item.text().split())
        # Icons, fonts and tooltips change items too; only a new caption text is an edit.
        if text == item.data(SHOWN_ROLE):
            return
        try:
            write_caption(path, text)
        except OSError as e:
            item.setToolTip(f"Could not save the caption: {e.strerror or e}.")
        self._filling = True
        try:
            self._show_caption(item)
        finally:
            self._filling = False
        self.captions_changed.emit()

    def stop_loading(self, ms: int = 5000) -> None:
        """Stop the thumbnail worker and wait for it (closing the dialog, tests)."""
        if self._loader is not None:
            self._loader.cancel()
            self._loader.wait(ms / 1000)
