"""A reference limited to a region leaves the pixels outside it as they are without it,
in every mode, on the real local Engine with a tiny random IP-Adapter and image encoder
(engine.reference.regional)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.core.images import picture_hash
from engine.history.pictures import decode_picture, encode_picture, pictures_to_keep, restore_inputs
from engine.reference.spec import ReferenceSpec
from engine.request import GenerationInputs, GenerationRequest
from tests.tiny_ip_adapter import build_tiny_ip_models

SIZE = 64


@pytest.fixture(scope="module")
def engine(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    from engine.local.engine import Engine

    return Engine([build_tiny_ip_models(tiny_model_dir, tmp_path_factory.mktemp("ip_models"))])


def _picture(rgb: tuple[int, int, int]) -> np.ndarray:
    picture = np.zeros((40, 48, 4), np.uint8)
    picture[..., :3] = rgb
    picture[..., 3] = 255
    return picture


RED, BLUE = _picture((230, 20, 20)), _picture((20, 30, 220))
LEFT = np.zeros((SIZE, SIZE), np.uint8)
LEFT[:, :28] = 255
RIGHT = np.zeros((SIZE, SIZE), np.uint8)
RIGHT[:, 44:] = 255  # inside the outpainted strip
TOP = np.zeros((SIZE, SIZE), np.uint8)
TOP[:20, 36:] = 255


def _request(model: Path, mode: str = "txt2img", **changes) -> GenerationRequest:
    return GenerationRequest(
        mode=mode, prompt="a field", negative_prompt="blur", steps=4, width=SIZE, height=SIZE,
        seed=11, model=str(model), precision="fp32", strength=0.9, **changes,
    )  # fmt: skip


def _inputs(mode: str) -> tuple[np.ndarray | None, np.ndarray | None]:
    if mode == "txt2img":
        return None, None
    image = np.random.default_rng(3).integers(0, 256, (SIZE, SIZE, 4), dtype=np.uint8)
    image[..., 3] = 255
    mask = None
    if mode == "inpaint":
        mask = np.zeros((SIZE, SIZE), np.uint8)
        mask[8:56, 8:56] = 255
    if mode == "outpaint":
        image[:, 40:, 3] = 0
    return image, mask


def _run(engine, request, image, mask, refs=()) -> tuple[np.ndarray, GenerationRequest]:
    """The first sample's patch and recorded request; `refs`: (spec, picture, mask)."""
    inputs = GenerationInputs(
        image, mask, references=tuple(p for _, p, _ in refs),
        reference_masks=tuple(m for _, _, m in refs),
    )  # fmt: skip
    result = engine.run(request.replace(references=tuple(s for s, _, _ in refs)), inputs)[0]
    return result.rgba, result.request


@pytest.mark.parametrize("mode", ["txt2img", "img2img", "inpaint", "outpaint"])
def test_outside_its_region_a_reference_changes_nothing(
    engine, tiny_model_dir: Path, mode: str
) -> None:
    request = _request(tiny_model_dir, mode)
    image, mask = _inputs(mode)
    where, past_band = (RIGHT, np.s_[:, 56:]) if mode == "outpaint" else (LEFT, np.s_[:, :12])
    plain, _ = _run(engine, request, image, mask)
    regional, recorded = _run(engine, request, image, mask, [(ReferenceSpec(), RED, where)])
    outside = where == 0
    assert np.array_equal(regional[outside], plain[outside])
    # Inside, past the band it fades in over (one latent cell), the reference steers.
    assert np.abs(regional[past_band].astype(int) - plain[past_band]).mean() > 2.0
    assert recorded.references[0].mask_hash == picture_hash(where)
    # The same job with the reference over the whole picture changes the repainted
    # outside too: the region, not the adapter, keeps it as it was.
    whole, _ = _run(engine, request, image, mask, [(ReferenceSpec(), RED, None)])
    repainted = outside & (plain[..., 3] > 0)
    assert np.abs(whole[repainted].astype(int) - plain[repainted]).mean() > 0.5


def test_a_whole_picture_reference_still_applies_everywhere(engine, tiny_model_dir: Path) -> None:
    # Outside the regions, the picture is the job's with only the references that have
    # no region; two regions with different masks both keep their outside.
    request = _request(tiny_model_dir)
    style = (ReferenceSpec("style", 0.8), BLUE, None)
    global_only, _ = _run(engine, request, None, None, [style])
    plain, _ = _run(engine, request, None, None)
    both, recorded = _run(
        engine, request, None, None,
        [(ReferenceSpec(), RED, LEFT), style, (ReferenceSpec("composition"), RED, TOP)],
    )  # fmt: skip
    outside = (LEFT == 0) & (TOP == 0)
    assert np.array_equal(both[outside], global_only[outside])
    assert np.abs(global_only.astype(int) - plain).mean() > 1.0
    assert np.abs(both[:, :12].astype(int) - global_only[:, :12]).mean() > 2.0
    assert np.abs(both[:6, 50:].astype(int) - global_only[:6, 50:]).mean() > 1.0
    assert [r.mask_hash for r in recorded.references] == [
        picture_hash(LEFT), "", picture_hash(TOP)
    ]  # fmt: skip


def test_a_regional_reference_job_replays_bit_identically(engine, tiny_model_dir: Path) -> None:
    # Two samples; the second, replayed from what the generation log keeps of it.
    request = _request(tiny_model_dir, "inpaint", n_samples=2)
    image, mask = _inputs("inpaint")
    refs = (ReferenceSpec(weight=0.7), ReferenceSpec("style"))
    inputs = GenerationInputs(image, mask, references=(RED, BLUE), reference_masks=(LEFT, None))
    results = engine.run(request.replace(references=refs), inputs)
    second = results[1]
    kept = pictures_to_keep(second.request, inputs, None)
    stored = {role: decode_picture(encode_picture(p)) for role, p in kept.items()}
    replay_inputs, _ = restore_inputs(second.request, stored)
    again = engine.run(second.request, replay_inputs)[0]
    assert np.array_equal(again.rgba, second.rgba)
    assert not np.array_equal(results[0].rgba, second.rgba)


@pytest.mark.parametrize(("mode", "per"), [("txt2img", 4), ("img2img", 3)])
def test_the_progress_runs_once_through_both_runs_of_every_sample(
    engine, tiny_model_dir: Path, mode: str, per: int
) -> None:
    # Two samples, each run without then with the regional reference: one count from 1 to
    # the total (img2img at strength 0.9 runs 3 of the 4 steps), never back.
    request = _request(tiny_model_dir, mode, n_samples=2)
    image, mask = _inputs(mode)
    inputs = GenerationInputs(image, mask, references=(RED,), reference_masks=(LEFT,))
    seen: list[tuple[int, int, bool]] = []
    engine.run(
        request.replace(references=(ReferenceSpec(),)), inputs,
        lambda step, total, preview: seen.append((step, total, preview is not None)),
        lambda: False,
    )  # fmt: skip
    total = 2 * 2 * per
    assert [(step, of) for step, of, _ in seen] == [(s, total) for s in range(1, total + 1)]
    # The step previews are the second run's only: the picture forms once per sample.
    shown = [step for step, _, preview in seen if preview]
    assert shown == [s for s in range(1, total + 1) if (s - 1) // per % 2 == 1]
