"""Work around a PySide6 reference-count bug in ``SignalInstance.emit``/``disconnect``.

PySide6 6.12.0 returns ``True``/``False`` from these two methods without adding a reference.
Every call whose result is discarded therefore takes one reference away from the bool
singleton; on Python < 3.12 (where bools are not immortal) the interpreter aborts after
roughly a thousand emits with "Fatal Python error: bool_dealloc: deallocating True or
False". A painting session emits thousands of signals per minute.

``apply()`` probes for the bug (a few emits on a private object, comparing the refcount of
True) and, only if it is present, wraps both methods so the returned bool gets the
reference it is owed. It is idempotent and cheap (one ctypes call per emit).
"""

from __future__ import annotations

import ctypes
import sys

_applied = False
_PROBES = 8


def _give_reference(obj: object) -> None:
    ctypes.pythonapi.Py_IncRef(ctypes.py_object(obj))


def bug_present() -> bool:
    from PySide6.QtCore import QObject, Signal

    class _Probe(QObject):
        ping = Signal()

    probe = _Probe()
    before = sys.getrefcount(True)
    for _ in range(_PROBES):
        probe.ping.emit()
    lost = before - sys.getrefcount(True)
    for _ in range(max(lost, 0)):
        _give_reference(True)  # pay back what the probe itself took
    return lost >= _PROBES


def apply() -> bool:
    """Patch SignalInstance if this PySide6 has the bug. Returns True if patched."""
    global _applied
    if _applied:
        return True
    if sys.version_info >= (3, 12) or not bug_present():
        return False
    from PySide6.QtCore import SignalInstance

    def owed(result: object) -> object:
        if result is True or result is False:
            _give_reference(result)
        return result

    original_emit = SignalInstance.emit
    original_disconnect = SignalInstance.disconnect

    def emit(self, *args):  # noqa: ANN001, ANN002, ANN202
        return owed(original_emit(self, *args))

    def disconnect(self, *args):  # noqa: ANN001, ANN002, ANN202
        return owed(original_disconnect(self, *args))

    SignalInstance.emit = emit
    SignalInstance.disconnect = disconnect
    _applied = True
    return True
