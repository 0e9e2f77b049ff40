"""The records of regional prompts and reference pictures: CLI text, checks, JSON."""

from __future__ import annotations

import numpy as np
import pytest

from engine.control.spec import control_image_hash
from engine.core.images import picture_hash
from engine.reference.spec import ReferenceSpec, check_reference, parse_reference
from engine.regions.spec import RegionSpec, parse_region
from engine.request import GenerationRequest


def test_requests_keep_regions_and_references_through_json() -> None:
    request = GenerationRequest(
        "edit",
        prompt="make the sky stormy",
        regions=(RegionSpec("a red ball", "blurry", "0123456789ab"),),
        references=(ReferenceSpec("style", 0.5, 0.1, 0.9, "ba9876543210", mask_hash="ff"),),
    )
    assert GenerationRequest.from_json(request.to_json()) == request
    old = GenerationRequest.from_json('{"mode": "txt2img"}')
    assert old.regions == () and old.references == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("m.png:a red ball", ("m.png", "a red ball", "")),
        ("m.png:a red ball:blurry:dark", ("m.png", "a red ball", "blurry:dark")),
        ("C:\\masks\\m.png:sky:", ("C:\\masks\\m.png", "sky", "")),
    ],
)
def test_region_text(text: str, expected: tuple[str, str, str]) -> None:
    assert parse_region(text) == expected


@pytest.mark.parametrize("text", ["m.png", "m.png:  ", ":a cat"])
def test_region_text_without_a_mask_or_prompt_is_one_sentence(text: str) -> None:
    with pytest.raises(ValueError, match="MASK.png:PROMPT|prompt of its own"):
        parse_region(text)


@pytest.mark.parametrize(
    ("text", "image", "spec"),
    [
        ("r.png", "r.png", ReferenceSpec()),
        ("r.png:0.4", "r.png", ReferenceSpec(weight=0.4)),
        ("r.png:0.4:style", "r.png", ReferenceSpec("style", 0.4)),
        ("D:/r.png:1:composition:0.2:0.6", "D:/r.png", ReferenceSpec("composition", 1, 0.2, 0.6)),
    ],
)
def test_reference_text(text: str, image: str, spec: ReferenceSpec) -> None:
    assert parse_reference(text) == (image, spec)


@pytest.mark.parametrize("text", ["r.png:3", "r.png:1:style:0.8:0.2", ":0.5", "r.png:1:0.2:0.6"])
def test_bad_reference_text_is_one_sentence(text: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_reference(text)
    assert str(err.value) and "\n" not in str(err.value)


def test_reference_checks() -> None:
    assert check_reference(ReferenceSpec("face")) is not None
    assert check_reference(ReferenceSpec(weight=2.5)) is not None
    assert check_reference(ReferenceSpec("style", 0.0)) is None


def test_one_picture_hash_for_every_picture_a_request_records() -> None:
    mask = np.zeros((4, 5), np.uint8)
    assert picture_hash(mask) == control_image_hash(mask)
    assert picture_hash(mask) != picture_hash(mask.reshape(5, 4))
    assert len(picture_hash(mask)) == 12
