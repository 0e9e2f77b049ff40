"""Emitting signals must not eat references to True (PySide6 6.12.0 bug, patched)."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal

from editor.model import pyside_refcount


class Emitter(QObject):
    fired = Signal(int)


def test_many_emits_and_disconnects_keep_the_refcount_of_true():
    pyside_refcount.apply()
    emitter = Emitter()
    got: list[int] = []
    emitter.fired.connect(got.append)
    before = sys.getrefcount(True)
    for i in range(2000):
        emitter.fired.emit(i)
    for _ in range(200):
        handle = emitter.fired.connect(got.append)
        emitter.fired.disconnect(handle)
    assert len(got) == 2000
    assert sys.getrefcount(True) >= before
