"""The one place OpenCV (and invisible-watermark, which imports it) is imported.

invisible-watermark depends on ``opencv-python``, the build that bundles Qt5. Its
``cv2/__init__`` sets ``QT_QPA_PLATFORM_PLUGIN_PATH`` and ``QT_QPA_FONTDIR`` to its own Qt5
plugin folder, and prepends to ``LD_LIBRARY_PATH``, in ``os.environ`` of the importing
process. Every Qt process started afterwards inherits them: a Qt5 program such as Krita
then loads cv2's incompatible xcb plugin and aborts ("Could not load the Qt platform
plugin xcb ... even though it was found"), and a Qt6 app created later searches the Qt5
folder first. So the import runs inside a guard that puts those variables back the way
they were. tests/test_cv2_isolation.py fails if they leak.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import threading
from collections.abc import Callable
from types import ModuleType
from typing import TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_EXTRA_KEYS = ("LD_LIBRARY_PATH", "PATH")
_DWT_MODULE = "_overpaint_dwtdctsvd"


def _watched(key: str) -> bool:
    return key.startswith("QT_") or key in _EXTRA_KEYS


def environment_guarded(load: Callable[[], T]) -> T:
    """Run ``load()`` and restore every QT_* (and library path) variable it changed."""
    with _lock:
        before = {k: v for k, v in os.environ.items() if _watched(k)}
        try:
            return load()
        finally:
            for key in [k for k in os.environ if _watched(k)]:
                if key not in before:
                    del os.environ[key]
            for key, value in before.items():
                if os.environ.get(key) != value:
                    os.environ[key] = value


def import_cv2() -> ModuleType:
    """The cv2 module, imported without leaking its Qt5 settings into the environment."""
    return environment_guarded(lambda: importlib.import_module("cv2"))


def import_dwtdctsvd() -> ModuleType:
    """invisible-watermark's ``dwtDctSvd`` module, loaded on its own.

    engine.watermark computes the same method vectorised; this is the library's reference
    implementation, for compatibility checks.

    ``import imwatermark`` runs its package ``__init__``, which imports the rivaGan method
    and with it torch (~2 s here) even to read a watermark. The dwtDctSvd module needs only
    numpy, cv2 and pywt, so it is loaded from its file directly; cv2 goes through the guard
    first, so its own ``import cv2`` finds the module already loaded.
    """
    if _DWT_MODULE in sys.modules:
        return sys.modules[_DWT_MODULE]
    import_cv2()

    def load() -> ModuleType:
        spec = importlib.util.find_spec("imwatermark")
        if spec is None or not spec.submodule_search_locations:
            raise ImportError("invisible-watermark (imwatermark) is not installed")
        path = os.path.join(list(spec.submodule_search_locations)[0], "dwtDctSvd.py")
        file_spec = importlib.util.spec_from_file_location(_DWT_MODULE, path)
        if file_spec is None or file_spec.loader is None:
            raise ImportError(f"cannot load {path}")
        module = importlib.util.module_from_spec(file_spec)
        file_spec.loader.exec_module(module)
        sys.modules[_DWT_MODULE] = module
        return module

    return environment_guarded(load)
