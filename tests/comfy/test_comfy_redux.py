"""FLUX.1 Redux on a real ComfyUI server, proven by pixels: a reference layer's picture goes
through CLIPVisionLoader, CLIPVisionEncode, StyleModelLoader and StyleModelApply
(engine/comfy/redux.py) and steers the picture; weight 0 gives the picture without it.

The Redux model and its SigLIP vision model are random-weight files at their published
size (tests/comfy/redux_files.py: ComfyUI 0.3.64 has no smaller form). A FLUX.1
transformer cannot be built small there (tests/comfy/sd3_files.py says why), so the model
is the tiny SD 3.5 checkpoint under a FLUX.1 dev file name: Overpaint builds the FLUX.1
dev graph for it (ModelSamplingFlux, FluxGuidance, Redux), and ComfyUI loads the MMDiT the
file holds, whose context layer takes 4096-wide tokens as FLUX.1's T5 tokens are, the
width Redux's tokens have. What runs is the real Redux path of the graph; what the tiny
model paints with the tokens is noise, so the tests compare pictures, never look at them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from engine.cli.commands import main
from engine.comfy.engine import ComfyEngine
from engine.core.images import picture_hash
from engine.metadata import read_parameters
from engine.reference.spec import ReferenceSpec
from engine.request import GenerationInputs, GenerationRequest
from tests.comfy import redux_files, sd3_files
from tests.comfy.servers import CHECKPOINT, ComfyProcess, files_linked

pytestmark = pytest.mark.timeout(1200)
FLUX = "flux1-dev-overpaint-test-sd3-inside.safetensors"


@pytest.fixture(scope="module")
def server(
    comfy_servers: list[ComfyProcess], comfy_cache: Path, comfy_checkpoint: Path
) -> Iterator[ComfyProcess]:
    """The first test server (never killed) with the stand-in FLUX.1 checkpoint and the
    Redux files linked into its model folders for this module."""
    sd3 = sd3_files.write_sd3_files(comfy_cache, comfy_checkpoint)
    redux = redux_files.write_redux_files(comfy_cache)
    first = comfy_servers[0]
    links = {
        f"checkpoints/{FLUX}": sd3 / "checkpoints" / sd3_files.CHECKPOINT,
        f"style_models/{redux_files.STYLE_MODEL}": redux / "style_models" / redux_files.STYLE_MODEL,
        f"clip_vision/{redux_files.CLIP_VISION}": redux / "clip_vision" / redux_files.CLIP_VISION,
    }
    with files_linked(first.base / "models", links):
        yield first


def _reference(seed: int) -> np.ndarray:
    """A picture with structure (bands and blobs), different for each seed."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:96, 0:128]
    bands = np.stack([(xx * rng.uniform(1, 4) + yy * rng.uniform(0, 3)) % 256 for _ in range(3)])
    return np.moveaxis(bands, 0, -1).astype(np.uint8)


def _run(engine: ComfyEngine, *references: tuple[np.ndarray, float]) -> tuple[Any, ...]:
    """(RGB as ints, the references the sample recorded, its parameters text)."""
    specs = tuple(ReferenceSpec(weight=w, image_hash=picture_hash(p)) for p, w in references)
    request = GenerationRequest(
        "txt2img", prompt="a red house", seed=7, steps=3, guidance=3.5, scheduler="Euler",
        width=64, height=64, model=FLUX, references=specs,
    )  # fmt: skip
    inputs = GenerationInputs(references=tuple(p for p, _ in references))
    [result] = engine.run(request, inputs)
    return result.rgba[..., :3].astype(int), result.request.references, result.parameters


def test_a_reference_steers_a_flux_picture_through_redux_and_weight_zero_leaves_it(
    server: ComfyProcess,
) -> None:
    engine = ComfyEngine([server.url])
    plain, _, _ = _run(engine)
    assert plain.std() > 1.0, "a flat image: the model did not run"
    # Reference 1 runs back to back: the server keeps the previous prompt's node outputs,
    # so its SigLIP encoding (~12 s on one thread) is made once for weights 1 and 0.3.
    first, recorded, parameters = _run(engine, (_reference(1), 1.0))
    weaker, _, _ = _run(engine, (_reference(1), 0.3))
    zero, _, _ = _run(engine, (_reference(1), 0.0))
    other, _, _ = _run(engine, (_reference(2), 1.0))
    # Mean change in levels, against the picture without (the first) or with reference 1
    # at weight 1: measured 2.7, 1.7 and 1.1 here; the tiny model's 3 steps move little.
    for what, picture, compared, least in (
        ("a reference", first, plain, 1.3),
        ("another reference", other, first, 0.8),
        ("a weaker reference", weaker, first, 0.5),
    ):
        diff = np.abs(picture - compared).mean()
        assert diff > least, f"{what} hardly changed the picture ({diff:.2f})"
    np.testing.assert_array_equal(zero, plain)
    # The sample records the server's Redux model it ran through, beside the picture's hash.
    assert recorded[0].model == redux_files.STYLE_MODEL
    assert recorded[0].image_hash == picture_hash(_reference(1))
    assert f"Model: {FLUX}" in parameters


def test_the_cli_takes_a_reference_through_redux_and_refuses_one_on_sd_in_one_sentence(
    server: ComfyProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    picture = tmp_path / "reference.png"
    Image.fromarray(_reference(3)).save(picture)
    common = ["--prompt", "a red house", "--server", server.url, "--steps", "2", "--width",
              "64", "--height", "64", "--seed", "4", "--no-history",
              "--reference", f"{picture}:0.8"]  # fmt: skip
    out = tmp_path / "house.png"
    assert main(["txt2img", *common, "--model", FLUX, "--out", str(out)]) == 0
    # The metadata records the picture's hash, its weight and the Redux file it ran through.
    style = re.escape(redux_files.STYLE_MODEL)
    assert re.search(rf'Reference 0: "Hash: [0-9a-f]+, Kind: reference, Weight: 0\.8, '
                     rf'Model: {style}"', read_parameters(out) or "")  # fmt: skip
    # A rerun on the server takes the picture again and paints the same pixels.
    again = tmp_path / "again.png"
    rerun = ["rerun", str(out), "--server", server.url, "--reference-image", str(picture)]
    assert main([*rerun, "--out", str(again)]) == 0
    np.testing.assert_array_equal(np.asarray(Image.open(again)), np.asarray(Image.open(out)))
    capsys.readouterr()
    refused = tmp_path / "refused.png"
    assert main(["txt2img", *common, "--model", CHECKPOINT, "--out", str(refused)]) != 0
    assert (
        "IP-Adapter is not a core ComfyUI node, so reference layers cannot be used on "
        "ComfyUI servers;" in capsys.readouterr().err
    )
    assert not refused.exists()
