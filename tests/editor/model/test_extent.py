"""The incremental non-zero bbox agrees with a full scan after any sequence of edits."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from PySide6.QtCore import QRect

from editor.model.array_rects import bbox
from editor.model.extent import NonzeroExtent

H, W = 150, 200

edits = st.lists(
    st.tuples(
        st.integers(-20, W),
        st.integers(-20, H),
        st.integers(1, 90),
        st.integers(1, 90),
        st.sampled_from([0, 1, 255]),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=60, deadline=None)
@given(edits)
def test_incremental_bbox_matches_full_scan(ops):
    arr = np.zeros((H, W), np.uint8)
    extent = NonzeroExtent(arr)
    for x, y, w, h, value in ops:
        rect = QRect(x, y, w, h).intersected(QRect(0, 0, W, H))
        if rect.isEmpty():
            continue
        arr[rect.y() : rect.y() + rect.height(), rect.x() : rect.x() + rect.width()] = value
        extent.update(arr, rect)
        assert extent.bbox(arr) == bbox(arr)


def test_reset_after_replacing_the_array():
    arr = np.zeros((10, 10), np.uint8)
    extent = NonzeroExtent(arr)
    assert extent.bbox(arr) is None
    arr2 = np.zeros((100, 70), np.uint8)
    arr2[99, 69] = 3
    extent.reset(arr2)
    assert extent.bbox(arr2) == QRect(69, 99, 1, 1)
