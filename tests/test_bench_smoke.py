"""Keeps the benchmark suite (tests/bench) from rotting: its cheapest measures run at tiny
sizes through the real command line and must write a well-formed report.

No timing is asserted (speed lives in the benchmark's own report, not in tests)."""

from __future__ import annotations

import json
import math
from pathlib import Path

from tests.bench.suite import TARGETS, main

SMOKE_MEASURES = ("P1", "P4", "P7")


def test_bench_smoke_writes_json_and_report(qapp, tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    assert main(["--smoke", "--only", ",".join(SMOKE_MEASURES), "--json", str(out)]) == 0

    data = json.loads(out.read_text())
    assert sorted(data) == list(SMOKE_MEASURES)
    for key, entry in data.items():
        assert set(entry) == {"value", "target", "ok", "detail"}, key
        assert isinstance(entry["value"], float) and math.isfinite(entry["value"]), entry
        assert entry["value"] > 0, entry
        assert entry["target"] == TARGETS[key][1]
        assert isinstance(entry["ok"], bool)
        assert "failed" not in entry["detail"], entry["detail"]
    # P1 compares like with like: the engine and plain diffusers made the same pixels.
    assert "every pair gave identical pixels" in data["P1"]["detail"], data["P1"]["detail"]
    report = out.with_suffix(".md").read_text()
    for key in SMOKE_MEASURES:
        assert f"| {key} |" in report and f"## {key} " in report


def test_bench_rejects_unknown_measure(tmp_path: Path) -> None:
    import pytest

    with pytest.raises(SystemExit):
        main(["--only", "P99", "--json", str(tmp_path / "x.json")])


def test_p1_pixel_check_sees_one_level_on_one_pixel() -> None:
    import numpy as np

    from tests.bench.engine_cost import pixel_difference

    plain = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    ours = np.dstack([plain, np.full((8, 8), 255, np.uint8)])
    assert pixel_difference(ours, plain) is None
    ours[3, 4, 1] ^= 1
    assert pixel_difference(ours, plain) == "1 pixels by up to 1 levels, 0 not opaque"
    ours[3, 4, 1] ^= 1
    ours[0, 0, 3] = 254
    assert pixel_difference(ours, plain) == "0 pixels by up to 0 levels, 1 not opaque"
    assert pixel_difference(ours[:4], plain) == "shapes (4, 8, 4) vs (8, 8, 3)"
