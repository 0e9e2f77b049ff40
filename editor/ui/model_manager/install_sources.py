"""The Install part of the Models dialog: the starter list (sizes and licences), a web
address or Hugging Face repo id (with an optional file and SHA-256), or a local file or
folder; `choice()` turns the current tab into the arguments of the engine's install."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTabWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from editor.ui.theme import tidy
from engine import models
from engine.model_manager import catalog
from engine.model_manager.kinds import KIND_LABELS, KINDS
from engine.model_manager.transfer import human_size


def family_label(family: str) -> str:
    return models.family_label(family) or "—"  # not tied to one family


@dataclass(frozen=True)
class InstallChoice:
    """What the user asked to install, as the engine's `install` takes it."""

    source: str
    file: str | None = None
    sha256: str | None = None
    kind: str | None = None
    link: bool = False
    title: str = ""  # for the confirmation: the starter's title, or the source
    licence: str = ""


class InstallSources(QGroupBox):
    """Where to install from; the dialog connects `install_button`."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Install", parent)
        layout = tidy(QVBoxLayout(self), margin=None)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("installTabs")
        self.tabs.addTab(self._starters_page(), "Starter models")
        self.tabs.addTab(self._web_page(), "From the web")
        self.tabs.addTab(self._local_page(), "From a file or folder")
        layout.addWidget(self.tabs, 1)
        row = tidy(QHBoxLayout(), margin=None)
        self.kind_combo = QComboBox()
        self.kind_combo.setObjectName("installKindCombo")
        self.kind_combo.addItem("Tell from the contents", None)
        for kind in KINDS:
            self.kind_combo.addItem(KIND_LABELS[kind], kind)
        self.kind_label = QLabel("Install as")
        self.install_button = QPushButton("Install…")
        self.install_button.setObjectName("installModelButton")
        row.addWidget(self.kind_label)
        row.addWidget(self.kind_combo)
        row.addStretch(1)
        row.addWidget(self.install_button)
        layout.addLayout(row)
        # A starter's kind is known: the kind choice applies to the other sources only.
        self.tabs.currentChanged.connect(self._tab_changed)
        self._tab_changed(self.tabs.currentIndex())

    def _starters_page(self) -> QWidget:
        page = QWidget()
        layout = tidy(QVBoxLayout(page))
        self.starters_tree = model_tree(
            ("Model", "Kind", "Family", "Size", "Licence"), "startersTree"
        )
        for model in catalog.STARTERS:
            item = QTreeWidgetItem(
                [
                    model.title,
                    KIND_LABELS[model.kind],
                    family_label(model.family),
                    f"~{human_size(model.size)}",
                    model.licence,
                ]
            )
            item.setData(0, Qt.ItemDataRole.UserRole, model.id)
            item.setToolTip(0, f"{model.repo}{'/' + model.file if model.file else ''}")
            item.setTextAlignment(3, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.starters_tree.addTopLevelItem(item)
        self.starters_tree.currentItemChanged.connect(self._starter_changed)
        self.starters_tree.itemDoubleClicked.connect(lambda *_: self.install_button.click())
        layout.addWidget(self.starters_tree, 1)
        self.starter_note = QLabel()
        self.starter_note.setObjectName("starterNote")
        self.starter_note.setWordWrap(True)
        self.starter_note.setOpenExternalLinks(True)
        layout.addWidget(self.starter_note)
        if self.starters_tree.topLevelItemCount():
            self.starters_tree.setCurrentItem(self.starters_tree.topLevelItem(0))
        return page

    def _web_page(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        self.source_edit = QLineEdit()
        self.source_edit.setObjectName("installSourceEdit")
        self.source_edit.setPlaceholderText(
            "https://civitai.com/api/download/models/… or owner/repo on Hugging Face"
        )
        self.file_edit = QLineEdit()
        self.file_edit.setObjectName("installFileEdit")
        self.file_edit.setPlaceholderText("optional: a .safetensors file of the repo")
        self.sha_edit = QLineEdit()
        self.sha_edit.setObjectName("installShaEdit")
        self.sha_edit.setPlaceholderText("optional: the file's SHA-256, checked after the transfer")
        form.addRow("Address or repo", self.source_edit)
        form.addRow("File in the repo", self.file_edit)
        form.addRow("SHA-256", self.sha_edit)
        note = QLabel(
            "Only .safetensors files and diffusers folders are installed: pickled "
            "checkpoints (.ckpt, .pt, .bin) can run code when loaded."
        )
        note.setWordWrap(True)
        form.addRow(note)
        return page

    def _local_page(self) -> QWidget:
        page = QWidget()
        layout = tidy(QVBoxLayout(page))
        row = tidy(QHBoxLayout(), margin=None)
        self.local_edit = QLineEdit()
        self.local_edit.setObjectName("installLocalEdit")
        self.local_edit.setPlaceholderText("a .safetensors file or a diffusers folder")
        pick_file = QPushButton("File…")
        pick_file.clicked.connect(self._pick_file)
        pick_folder = QPushButton("Folder…")
        pick_folder.clicked.connect(self._pick_folder)
        row.addWidget(self.local_edit, 1)
        row.addWidget(pick_file)
        row.addWidget(pick_folder)
        layout.addLayout(row)
        self.link_box = QCheckBox("Link to it instead of copying (it must stay where it is)")
        self.link_box.setObjectName("installLinkBox")
        layout.addWidget(self.link_box)
        layout.addStretch(1)
        return page

    def _tab_changed(self, index: int) -> None:
        starters = index == 0
        self.kind_combo.setEnabled(not starters)
        self.kind_label.setEnabled(not starters)

    def _starter_changed(self, item: QTreeWidgetItem | None) -> None:
        if item is None:
            self.starter_note.clear()
            return
        model = catalog.starter(item.data(0, Qt.ItemDataRole.UserRole))
        self.starter_note.setText(
            f"{model.title}: about {human_size(model.size)}, licence {model.licence}. Read "
            f'the licence on <a href="{model.page}">{model.page}</a> before use.'
            + (f" {model.note}" if model.gated else "")
        )

    def _pick_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Install a model file", "", "Model files (*.safetensors *.gguf)"
        )
        if path:
            self.local_edit.setText(path)

    def _pick_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Install a diffusers folder")
        if path:
            self.local_edit.setText(path)

    def choice(self) -> InstallChoice | str:
        """What the current tab asks to install, or a sentence saying what is missing."""
        kind = self.kind_combo.currentData()
        tab = self.tabs.currentIndex()
        if tab == 0:
            item = self.starters_tree.currentItem()
            if item is None:
                return "Choose a starter model to install."
            m = catalog.starter(item.data(0, Qt.ItemDataRole.UserRole))
            return InstallChoice(m.repo, m.file, title=m.title, licence=m.licence)
        if tab == 1:
            source = self.source_edit.text().strip()
            if not source:
                return "Type a web address or a Hugging Face repo id (owner/name)."
            return InstallChoice(
                source,
                self.file_edit.text().strip() or None,
                self.sha_edit.text().strip() or None,
                kind,
                title=source,
            )
        source = self.local_edit.text().strip()
        if not source:
            return "Choose a .safetensors file or a diffusers folder to install."
        return InstallChoice(source, kind=kind, link=self.link_box.isChecked(), title=source)


def model_tree(headers: Sequence[str], name: str) -> QTreeWidget:
    tree = QTreeWidget()
    tree.setObjectName(name)
    tree.setHeaderLabels(list(headers))
    tree.setRootIsDecorated(False)
    tree.setAlternatingRowColors(True)
    tree.setUniformRowHeights(True)
    header = tree.header()
    header.setStretchLastSection(True)
    header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
    for column in range(1, len(headers) - 1):
        header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
    return tree
