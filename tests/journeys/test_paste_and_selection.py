"""Journey: copy and paste, and a run of selection drags, on the real canvas.

Found by walking the window: Ctrl+V put the pasted layer at the canvas origin once the
selection it was copied from was gone, and every rectangle drag added its own
"Select rectangle" row to the History dock.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication

from tests.editor.ui.conftest import gradient_rgba
from tests.editor.ui.test_painting import drag

Key, Mod = Qt.Key, Qt.KeyboardModifier


def press(qtbot, window, key: Qt.Key, modifiers=Mod.NoModifier) -> None:
    qtbot.keyClick(window.canvas, key, modifiers)


def test_paste_lands_where_the_copy_came_from(window, qtbot, png_path: Path) -> None:
    assert window.open_path(png_path)
    window.canvas.actual_size()
    press(qtbot, window, Key.Key_R)
    drag(qtbot, window, [(30, 40), (50, 60), (70, 80)])
    press(qtbot, window, Key.Key_C, Mod.ControlModifier)
    # Without the selection the copy came from, nothing else tells where it belongs.
    press(qtbot, window, Key.Key_A, Mod.ControlModifier | Mod.ShiftModifier)
    assert not window.document.has_selection()
    press(qtbot, window, Key.Key_V, Mod.ControlModifier)

    pasted = window.document.current_layer
    assert pasted.name == "Pasted"
    assert (pasted.x, pasted.y) == (30, 40)
    assert np.array_equal(pasted.to_rgba(), gradient_rgba()[40:80, 30:70])
    # The composite is unchanged: the copy sits exactly on the pixels it came from.
    assert np.array_equal(window.document.composite_array(), gradient_rgba())


def test_an_image_from_outside_is_pasted_in_the_middle_of_the_view(window, qtbot) -> None:
    window.new_document(2400, 1800, fill=(255, 255, 255, 255))
    window.canvas.actual_size()
    window.canvas.pan_by(-500, -300)  # the view shows a part away from the canvas centre
    centre = window.canvas.widget_to_canvas(QRectF(window.canvas.rect()).center())
    top_left = window.canvas.widget_to_canvas(QPointF(0, 0))
    assert top_left.x() > 0 and top_left.y() > 0  # the whole view is on the canvas
    assert abs(centre.x() - 1200) > 200 and abs(centre.y() - 900) > 100

    other_app = QImage(60, 40, QImage.Format.Format_RGBA8888)
    other_app.fill(Qt.GlobalColor.red)
    QApplication.clipboard().setImage(other_app)  # no note of where it came from
    press(qtbot, window, Key.Key_V, Mod.ControlModifier)

    pasted = window.document.current_layer
    assert pasted.name == "Pasted" and (pasted.width, pasted.height) == (60, 40)
    assert abs(pasted.x + 30 - centre.x()) <= 1 and abs(pasted.y + 20 - centre.y()) <= 1


def test_a_run_of_rectangle_drags_is_one_undo_step(window, qtbot, png_path: Path) -> None:
    assert window.open_path(png_path)
    window.canvas.actual_size()
    press(qtbot, window, Key.Key_J)
    drag(qtbot, window, [(10, 10), (60, 50)])
    before = window.document.selection.copy()
    steps = window.history_panel.list.count()

    press(qtbot, window, Key.Key_R)
    drag(qtbot, window, [(20, 20), (80, 70)])
    drag(qtbot, window, [(40, 30), (120, 90)])
    drag(qtbot, window, [(90, 60), (150, 110)], Mod.ShiftModifier)  # add to it
    selection = window.document.selection
    assert selection[60, 90] == 255 and selection[100, 140] == 255 and selection[25, 25] == 0
    assert window.history_panel.list.count() == steps + 1
    assert window.undo_action.text() == "&Undo Select rectangle"

    press(qtbot, window, Key.Key_Z, Mod.ControlModifier)
    assert np.array_equal(window.document.selection, before)
    press(qtbot, window, Key.Key_Z, Mod.ControlModifier | Mod.ShiftModifier)
    assert selection[60, 90] == 255 and selection[100, 140] == 255 and selection[25, 25] == 0

    # Another kind of edit in between starts a new run.
    press(qtbot, window, Key.Key_J)
    drag(qtbot, window, [(5, 5), (30, 30)])
    press(qtbot, window, Key.Key_R)
    drag(qtbot, window, [(100, 10), (150, 40)])
    assert window.document.history.texts()[-4:] == [
        "Select ellipse",
        "Select rectangle",
        "Select ellipse",
        "Select rectangle",
    ]
    press(qtbot, window, Key.Key_Z, Mod.ControlModifier)
    assert window.document.selection[20, 20] == 255  # the ellipse at (5, 5)-(30, 30)
    assert window.document.selection[20, 120] == 0
