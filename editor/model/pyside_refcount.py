"""Work around PySide6 6.12.0 dropping references to None, True and False.

In PySide6 6.12.0 every wrapped C++ method returning ``void`` hands back ``None`` without
adding a reference (``QPainter.setOpacity``, ``QImage.fill``, ``QRect.translate``,
``QObject.setObjectName``, ...), and ``SignalInstance.emit``/``disconnect`` do the same
with ``True``/``False``. Each call whose result is discarded takes one reference away from
the singleton. On Python < 3.12, where these singletons are not immortal, the interpreter
aborts once the count reaches zero ("Fatal Python error: none_dealloc: deallocating
None"): compositing a 20-layer canvas for a few hundred brush dabs is enough.

``apply()`` probes for the bug and, if present, gives None, True and False 2**40 extra
references: the same trick Python 3.12 uses to make them immortal. That costs nothing per
call (unlike wrapping methods) and covers every PySide class at once. Call it once, early,
in any process that uses PySide6 (``editor.model`` does on import; tests/conftest.py too).
"""

from __future__ import annotations

import ctypes
import sys

_BOOST = 1 << 40
_PROBES = 16
_applied = False


def bug_present() -> bool:
    """True if PySide6 void methods or emit() lose references to None/True."""
    from PySide6.QtCore import QObject, QRect, Signal

    class _Probe(QObject):
        ping = Signal()

    probe, rect = _Probe(), QRect()
    none_before, true_before = sys.getrefcount(None), sys.getrefcount(True)
    for _ in range(_PROBES):
        rect.setX(1)
        probe.ping.emit()
    lost_none = none_before - sys.getrefcount(None)
    lost_true = true_before - sys.getrefcount(True)
    # Pay back what the probe itself took.
    for obj, lost in ((None, lost_none), (True, lost_true)):
        for _ in range(max(lost, 0)):
            ctypes.pythonapi.Py_IncRef(ctypes.py_object(obj))
    return lost_none >= _PROBES or lost_true >= _PROBES


def apply() -> bool:
    """Make None/True/False effectively immortal if this PySide6 needs it.

    Returns True when the workaround is in place (now or from an earlier call).
    """
    global _applied
    if _applied:
        return True
    if sys.implementation.name != "cpython" or sys.version_info >= (3, 12):
        return False  # immortal singletons: the bug cannot crash
    if not bug_present():
        return False
    for obj in (None, True, False):
        # ob_refcnt is the first field of every CPython object; id() is its address.
        ctypes.c_ssize_t.from_address(id(obj)).value += _BOOST
    _applied = True
    return True
