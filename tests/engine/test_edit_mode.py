"""Instruction editing (mode "edit") through the local engine, on tiny random-weight models
of every edit family built at test time (tests/tiny_modern.py): FLUX.1 Kontext, FLUX.2
Klein, Qwen-Image-Edit and Edit Plus; each path (the whole picture, a selection, with
references) runs, pixels outside a selection stay bit-identical, and bad edits are
refused in one sentence before a model loads."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from engine.core.errors import InvalidRequestError
from engine.core.images import picture_hash
from engine.jobs import image_composite, prepare_edit_job
from engine.local.edit import EDIT_PIPELINES, EditStage
from engine.local.engine import Engine
from engine.models import MODERN_FAMILIES, inspect_model
from engine.reference.jobs import LayerReference
from engine.reference.spec import ReferenceSpec
from engine.region import apply_patch
from engine.request import GenerationInputs, GenerationRequest

STEPS = 3


@pytest.fixture(scope="module")
def engine() -> Engine:
    eng = Engine()
    yield eng
    eng.unload()


def _picture(h: int = 96, w: int = 128, seed: int = 5) -> np.ndarray:
    img = np.random.default_rng(seed).integers(0, 256, (h, w, 4), dtype=np.uint8)
    img[..., 3] = 255
    return img


def _selection(h: int = 96, w: int = 128) -> np.ndarray:
    sel = np.zeros((h, w), np.uint8)
    sel[30:70, 40:96] = 255
    return sel


def _reference(seed: int) -> np.ndarray:
    ref = np.random.default_rng(seed).integers(0, 256, (80, 72, 4), dtype=np.uint8)
    ref[..., 3] = 255
    return ref


def _edit(
    folder: Path, selection: np.ndarray | None, refs: tuple[np.ndarray, ...] = (), seed: int = 3
) -> tuple[GenerationRequest, GenerationInputs, np.ndarray]:
    """The window's edit job on a 128x96 picture (the job builder, as the window runs it)."""
    picture = _picture()
    job = prepare_edit_job(
        {"prompt": "make it stormy", "seed": seed, "steps": STEPS, "guidance": 3.5},
        128,
        96,
        image_composite(picture),
        selection=selection,
        references=[LayerReference(ReferenceSpec(), lambda r=r: r) for r in refs],
        native=inspect_model(folder).native_size,
        watermark=False,
    )
    return job.request.replace(model=str(folder)), job.inputs, picture


def _laid(result, picture: np.ndarray) -> np.ndarray:
    return apply_patch(picture, result.rgba, result.x, result.y)


# -- the families' table ---------------------------------------------------------------


def test_edit_families_are_the_ones_that_can_edit(tiny_modern_dir) -> None:
    for family, spec in MODERN_FAMILIES.items():
        pipelines = EDIT_PIPELINES.get(family)
        assert (spec.references is not None) == (pipelines is not None), family
        if pipelines is not None:  # what the window is told is what the engine takes
            most = max(pipelines.edit_references, pipelines.inpaint_references)
            assert spec.references == most
    kontext = inspect_model(tiny_modern_dir("flux-kontext"))
    assert kontext.can_edit and kontext.max_references == 1
    assert not inspect_model(tiny_modern_dir("flux")).can_edit


def test_saved_edit_folders_are_told_apart(tiny_modern_dir) -> None:
    for family in ("qwen-image-edit", "qwen-image-edit-plus", "flux2-klein"):
        info = inspect_model(tiny_modern_dir(family))
        assert info.family == family and info.can_edit and info.native_size == 128
    assert inspect_model(tiny_modern_dir("flux2-klein")).guidance == "cfg"
    assert inspect_model(tiny_modern_dir("flux2-klein-distilled")).guidance == "none"


def test_qwen_edit_folder_loads_without_torchvision(tiny_modern_dir) -> None:
    folder = tiny_modern_dir("qwen-image-edit")
    code = (
        "import sys; from pathlib import Path; "
        "from engine.local.qwen_processor import load_processor; "
        f"p = load_processor(Path({str(folder)!r})); "
        "assert getattr(p, 'video_processor', None) is None; "
        "assert p.tokenizer.convert_tokens_to_ids('<|image_pad|>') == p.image_token_id; "
        "sys.exit(1 if 'torchvision' in sys.modules else 0)"
    )
    root = Path(__file__).resolve().parents[2]
    assert subprocess.run([sys.executable, "-c", code], cwd=root).returncode == 0


# -- the job builder -------------------------------------------------------------------


def test_edit_job_of_a_selection_and_of_the_whole_picture(tiny_modern_dir) -> None:
    folder = tiny_modern_dir("flux-kontext")
    ref = _reference(1)
    request, inputs, _ = _edit(folder, _selection(), (ref,))
    assert request.mode == "edit" and request.prompt == "make it stormy"
    assert request.feather_inside and request.strength == 1.0
    assert request.references[0].image_hash == picture_hash(ref)
    assert inputs.references[0] is ref and inputs.mask is not None
    assert inputs.image.shape[:2] == inputs.mask.shape
    whole, whole_inputs, picture = _edit(folder, None)
    assert whole.region is not None and (whole.region.width, whole.region.height) == (128, 96)
    assert whole_inputs.mask is None and np.array_equal(whole_inputs.image, picture)


# -- refusals, before a model loads ----------------------------------------------------


def _refusal(folder: Path, selection, refs, inputs_refs=None) -> str:
    request, inputs, _ = _edit(folder, selection, refs)
    if inputs_refs is not None:
        inputs = GenerationInputs(inputs.image, inputs.mask, references=inputs_refs)
    with pytest.raises(InvalidRequestError) as caught:
        EditStage.make(request, inputs, inspect_model(folder))
    return str(caught.value)


def test_bad_edits_are_one_sentence(tiny_modern_dir) -> None:
    kontext, ref = tiny_modern_dir("flux-kontext"), _reference(1)
    assert _refusal(tiny_modern_dir("flux"), None, ()) == (
        "tiny-flux cannot edit by instruction; pick a FLUX.1 Kontext, FLUX.2 Klein, "
        "Qwen-Image-Edit or Qwen-Image-Edit Plus model."
    )
    assert "only when it edits a selection" in _refusal(kontext, None, (ref,))
    assert _refusal(kontext, _selection(), (ref, _reference(2))) == (
        "FLUX.1 Kontext takes at most 1 reference picture, not 2; hide 1 of the reference layers."
    )
    assert "takes no reference pictures" in _refusal(
        tiny_modern_dir("qwen-image-edit"), None, (ref,)
    )
    assert _refusal(kontext, _selection(), (ref,), inputs_refs=()) == (
        "Reference picture 1 is missing; give it again (on the command line: --reference-image)."
    )
    other = _reference(9)
    assert "not the one the request was made with" in _refusal(
        kontext, _selection(), (ref,), inputs_refs=(other,)
    )
    request, inputs, _ = _edit(kontext, _selection())
    empty = GenerationInputs(inputs.image, np.zeros_like(inputs.mask))
    with pytest.raises(InvalidRequestError, match="^The selection is empty; select the part"):
        EditStage.make(request, empty, inspect_model(kontext))


def test_a_big_reference_is_scaled_to_the_generation_area(tiny_modern_dir) -> None:
    folder, big = tiny_modern_dir("flux-kontext"), _reference(1).repeat(8, 0).repeat(8, 1)
    request, inputs, _ = _edit(folder, _selection(), (big,))
    stage = EditStage.make(request, inputs, inspect_model(folder))
    args = {"image": "picture"}
    stage.add_args(args, inputs.mask, (144, 112), 1.0)
    width, height = args["image_reference"].size
    assert width * height <= 144 * 112 and abs(width / height - 72 / 80) < 0.02
    assert args["mask_image"].size == (144, 112) and args["strength"] == 1.0


def test_engine_refuses_an_edit_on_a_model_that_cannot_edit(
    engine: Engine, tiny_modern_dir
) -> None:
    request, inputs, _ = _edit(tiny_modern_dir("sd3"), None)
    with pytest.raises(InvalidRequestError, match="cannot edit by instruction"):
        engine.run(request, inputs)


# -- every family's edit paths ---------------------------------------------------------


def _check_selection_edit(engine: Engine, folder: Path, refs=()) -> str:
    request, inputs, picture = _edit(folder, _selection(), refs)
    (res,) = engine.run(request, inputs)
    out = _laid(res, picture)
    outside = _selection() == 0
    assert np.array_equal(out[outside], picture[outside])  # bit-identical outside
    inside = _selection() > 0
    assert (out[inside] != picture[inside]).any(axis=1).mean() > 0.9
    assert "Mode: edit" in res.parameters and "make it stormy" in res.parameters
    return res.parameters


@pytest.mark.parametrize("family", ["flux-kontext", "flux2-klein", "qwen-image-edit"])
def test_edit_of_a_selection_keeps_the_rest_bit_identical(
    engine: Engine, tiny_modern_dir: Callable[[str], Path], family: str
) -> None:
    """The edit-inpaint pipelines (Kontext, Klein, Qwen-Image-Edit)."""
    assert EditStage.make(
        *_edit(tiny_modern_dir(family), _selection())[:2], inspect_model(tiny_modern_dir(family))
    ).inpaint
    _check_selection_edit(engine, tiny_modern_dir(family))


def test_kontext_edit_of_the_whole_picture_at_the_planned_size(
    engine: Engine, tiny_modern_dir
) -> None:
    folder = tiny_modern_dir("flux-kontext")
    request, inputs, picture = _edit(folder, None)
    (first,) = engine.run(request, inputs)
    (again,) = engine.run(request, inputs)
    (other,) = engine.run(request.replace(seed=4), inputs)
    assert first.rgba.shape == (96, 128, 4) and (first.rgba[..., 3] == 255).all()
    assert np.array_equal(first.rgba, again.rgba) and not np.array_equal(first.rgba, other.rgba)
    # The planner's size (about 128² for this folder), not Kontext's 1024² area.
    assert "Size: 144x112" in first.parameters


def test_kontext_selection_with_a_reference(engine: Engine, tiny_modern_dir) -> None:
    folder = tiny_modern_dir("flux-kontext")
    params = _check_selection_edit(engine, folder, (_reference(1),))
    assert f'Reference 0: "Hash: {picture_hash(_reference(1))}"' in params


def test_klein_takes_several_references(engine: Engine, tiny_modern_dir) -> None:
    folder = tiny_modern_dir("flux2-klein")
    refs = (_reference(1), _reference(2)[:40, :50])  # a small one is scaled up to 64 px
    request, inputs, _ = _edit(folder, None, refs)
    assert EditStage.make(request, inputs, inspect_model(folder)).pipeline == "Flux2KleinPipeline"
    (with_refs,) = engine.run(request, inputs)
    (without,) = engine.run(*_edit(folder, None)[:2])
    assert not np.array_equal(with_refs.rgba, without.rgba)
    assert "Reference 1" in with_refs.parameters
    # With a selection and two references the edit pipeline repaints the crop and the
    # selection's paste-back keeps the rest.
    _check_selection_edit(engine, folder, refs)


def test_qwen_edit_plus_with_a_reference(engine: Engine, tiny_modern_dir) -> None:
    folder = tiny_modern_dir("qwen-image-edit-plus")
    request, inputs, _ = _edit(folder, None, (_reference(1),))
    (res,) = engine.run(request, inputs)
    assert res.rgba.shape == (96, 128, 4) and not np.isnan(res.rgba).any()
    assert "Reference 0" in res.parameters


@pytest.mark.parametrize(
    ("family", "selected", "n_refs", "pipeline"),
    [
        ("qwen-image-edit", False, 0, "QwenImageEditPipeline"),
        ("qwen-image-edit-plus", True, 1, "QwenImageEditPlusPipeline"),
        ("flux2-klein", True, 1, "Flux2KleinInpaintPipeline"),
    ],
)
def test_the_other_edit_paths(
    engine: Engine,
    tiny_modern_dir: Callable[[str], Path],
    family: str,
    selected: bool,
    n_refs: int,
    pipeline: str,
) -> None:
    """Qwen-Image-Edit on the whole picture; Edit Plus with a selection and a reference
    (its edit pipeline on the crop, the selection pasted back); Klein's inpaint pipeline
    with its one reference."""
    folder = tiny_modern_dir(family)
    refs = tuple(_reference(i + 1) for i in range(n_refs))
    request, inputs, picture = _edit(folder, _selection() if selected else None, refs)
    assert EditStage.make(request, inputs, inspect_model(folder)).pipeline == pipeline
    (res,) = engine.run(request, inputs)
    out = _laid(res, picture)
    changed = (out != picture).any(axis=-1)
    if selected:
        assert not changed[_selection() == 0].any() and changed[_selection() > 0].mean() > 0.9
    else:
        assert changed.mean() > 0.9 and (res.rgba[..., 3] == 255).all()


def test_history_keeps_the_reference_pictures(tiny_modern_dir) -> None:
    from engine.history.pictures import (
        decode_picture,
        encode_picture,
        pictures_to_keep,
        restore_inputs,
        role_name,
    )

    refs = (_reference(1), _reference(2)[:50, :40])
    request, inputs, _ = _edit(tiny_modern_dir("flux2-klein"), _selection(), refs)
    kept = pictures_to_keep(request, inputs, None)
    assert {"reference:0", "reference:1"} <= set(kept) and role_name("reference:1") == (
        "reference picture 2"
    )
    stored = {role: decode_picture(encode_picture(p)) for role, p in kept.items()}
    restored, _ = restore_inputs(request, stored)
    assert all(np.array_equal(a, b) for a, b in zip(restored.references, refs, strict=True))
    assert np.array_equal(restored.mask, inputs.mask)
    EditStage.make(request, restored, inspect_model(tiny_modern_dir("flux2-klein")))  # hashes match
