"""Segmentation models in the model manager: a SAM folder sorts as a segmenter, installs
into models/segmenters/ where Select Object finds it, and the starters list SlimSAM and
SAM 2.1 tiny."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.core.paths import user_models_dir
from engine.model_manager.catalog import starter
from engine.model_manager.install import install
from engine.model_manager.kinds import KIND_LABELS, Kind, classify
from engine.select.segmenter import find_segmenters, resolve_segmenter
from tests.tiny_sam import build_tiny_sam, build_tiny_sam2


@pytest.fixture(scope="module")
def sam_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_sam(tmp_path_factory.mktemp("sam") / "slimsam")


def test_sam_and_sam2_folders_sort_as_segmenters(sam_dir: Path, tmp_path: Path) -> None:
    assert classify(sam_dir) == Kind("segmenter", "")
    assert classify(build_tiny_sam2(tmp_path / "sam2")) == Kind("segmenter", "")
    assert KIND_LABELS["segmenter"] == "Segmentation model"


def test_an_installed_segmenter_is_what_select_object_uses(sam_dir: Path) -> None:
    result = install(str(sam_dir))
    assert result.kind == "segmenter"
    assert result.path == user_models_dir() / "segmenters" / "slimsam"
    assert find_segmenters() == [result.path]
    assert resolve_segmenter("auto") == result.path


def test_the_starters_offer_slimsam_and_sam21_tiny() -> None:
    slim, sam2 = starter("slimsam"), starter("sam2.1-tiny")
    assert (slim.repo, slim.kind, slim.licence) == ("Zigeng/SlimSAM-uniform-77", "segmenter",
                                                    "Apache-2.0")  # fmt: skip
    assert 30e6 < slim.size < 50e6 and 140e6 < sam2.size < 170e6
    assert sam2.kind == "segmenter" and sam2.file is None
