"""The one rule for "are we in CI?", and for tests that need something outside Python.

A developer's machine may lack Xvfb, Krita, ComfyUI or the demo model: such a test skips
there. Under CI every piece must be installed, so the same absence fails the test instead;
a CI machine that lost a tool cannot pass by skipping.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    """True under CI=true (any value but empty, 0, false or no), as CI services set it."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def skip_or_fail(reason: str) -> NoReturn:
    """Skip the test on a developer's machine; fail it under CI."""
    if in_ci():
        pytest.fail(f"{reason} (CI must have every piece a test needs)")
    pytest.skip(reason)
