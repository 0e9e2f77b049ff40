"""The installed PySide6 must not leak references to None/True (PySide6 6.12.0 does)."""

import subprocess
import sys

PROBE = """
import sys
from PySide6.QtCore import QObject, QRect, Signal
class Probe(QObject):
    ping = Signal()
probe, rect = Probe(), QRect()
before = sys.getrefcount(None), sys.getrefcount(True)
for _ in range(200):
    rect.setX(1)
    probe.ping.emit()
print(before[0] - sys.getrefcount(None), before[1] - sys.getrefcount(True))
"""


def test_void_calls_and_emit_keep_singleton_refcounts() -> None:
    # In a subprocess: with the bug, enough calls abort the interpreter outright.
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    lost_none, lost_true = (int(v) for v in result.stdout.split())
    assert abs(lost_none) < 10 and abs(lost_true) < 10, result.stdout
