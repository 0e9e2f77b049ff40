"""The transformer families (FLUX.1, SD 3.5, Z-Image, Qwen-Image, Chroma) through the local
engine, on tiny random-weight diffusers folders built at test time (tests/tiny_modern.py):
their family told from model_index.json without torch, txt2img, img2img and inpaint at the
family's latent multiple, deterministic per seed, and pixels outside an inpaint's feather
left bit-identical."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from engine.base import JobPlan, prepare_inputs
from engine.core.errors import Cancelled, EngineError, InvalidRequestError, ModelError
from engine.local.engine import Engine
from engine.models import MODERN_FAMILIES, inspect_model
from engine.region import apply_patch, plan_region
from engine.request import Box, GenerationInputs, GenerationRequest

ROOT = Path(__file__).resolve().parents[2]
# Qwen-Image's scheduler gives NaN at 1 step; img2img at strength 0.6 runs 2 or 3 of these.
STEPS = 4
RUN_FAMILIES = ("flux", "sd3", "z-image", "qwen-image", "chroma", "flux-kontext")


@pytest.fixture(scope="module")
def engine() -> Engine:
    eng = Engine()
    yield eng
    eng.unload()


@pytest.fixture(scope="module", params=RUN_FAMILIES)
def family(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def base(family: str, tiny_modern_dir: Callable[[str], Path]) -> GenerationRequest:
    return GenerationRequest(
        mode="txt2img",
        prompt="a red square on a blue background",
        negative_prompt="a green circle",
        model=str(tiny_modern_dir(family)),
        steps=STEPS,
        guidance=3.5,
        width=120,
        height=88,
        seed=11,
        watermark=False,
    )


def _canvas(h: int = 160, w: int = 200) -> np.ndarray:
    rng = np.random.default_rng(5)
    img = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
    img[..., 3] = 255
    return img


# -- family detection ------------------------------------------------------------------


def _folder(root: Path, class_name: str, transformer: dict | None = None) -> Path:
    root.mkdir(parents=True)
    index = {"_class_name": class_name, "transformer": ["diffusers", "X"], "vae": ["d", "V"]}
    (root / "model_index.json").write_text(json.dumps(index))
    if transformer is not None:
        (root / "transformer").mkdir()
        (root / "transformer" / "config.json").write_text(json.dumps(transformer))
    return root


@pytest.mark.parametrize(
    ("class_name", "transformer", "family", "guidance"),
    [
        ("FluxPipeline", {"in_channels": 64, "guidance_embeds": True}, "flux", "distilled"),
        ("FluxPipeline", {"in_channels": 64, "guidance_embeds": False}, "flux", "none"),
        ("FluxPipeline", {"in_channels": 384, "guidance_embeds": True}, "flux-fill", "distilled"),
        ("FluxFillPipeline", None, "flux-fill", "distilled"),
        ("FluxKontextPipeline", {"guidance_embeds": True}, "flux-kontext", "distilled"),
        ("StableDiffusion3Pipeline", {"in_channels": 16}, "sd3", "cfg"),
        ("QwenImagePipeline", {"in_channels": 64}, "qwen-image", "cfg"),
        ("ZImagePipeline", {"in_channels": 16}, "z-image", "cfg"),
        ("ChromaPipeline", {"in_channels": 64}, "chroma", "cfg"),
        ("QwenImageEditPipeline", {"in_channels": 64}, "qwen-image-edit", "cfg"),
        ("QwenImageEditPlusPipeline", {"in_channels": 64}, "qwen-image-edit-plus", "cfg"),
        ("Flux2KleinPipeline", {"in_channels": 128}, "flux2-klein", "cfg"),
    ],
)
def test_family_from_model_index(
    tmp_path: Path, class_name: str, transformer: dict | None, family: str, guidance: str
) -> None:
    info = inspect_model(_folder(tmp_path / "m", class_name, transformer))
    assert (info.family, info.guidance, info.native_size) == (family, guidance, 1024)
    assert info.is_modern and info.latent_multiple == 16 and not info.is_xl
    assert info.is_inpainting == (family == "flux-fill")


def test_family_detection_imports_no_torch(tmp_path: Path) -> None:
    folder = _folder(tmp_path / "flux", "FluxPipeline", {"in_channels": 64})
    code = (
        "import sys; from pathlib import Path; from engine.models import inspect_model; "
        f"assert inspect_model(Path({str(folder)!r})).family == 'flux'; "
        "sys.exit(1 if 'torch' in sys.modules else 0)"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    assert subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT).returncode == 0


def test_unsupported_transformer_pipeline_is_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="QwenImageLayeredPipeline"):
        inspect_model(_folder(tmp_path / "layered", "QwenImageLayeredPipeline", {}))


def test_saved_tiny_folders_are_told_apart(tiny_modern_dir: Callable[[str], Path]) -> None:
    for family in (*RUN_FAMILIES, "flux-fill"):
        info = inspect_model(tiny_modern_dir(family))
        assert info.family == family and info.native_size == 128  # overpaint.json's
    assert inspect_model(tiny_modern_dir("flux")).guidance == "distilled"


@pytest.mark.parametrize(
    ("free_gib", "offload"), [(80.0, False), (30.0, True)], ids=["80GiB", "30GiB"]
)
def test_gpu_policy_is_bf16_with_offload_by_free_memory(
    monkeypatch: pytest.MonkeyPatch, free_gib: float, offload: bool
) -> None:
    import torch

    from engine.local.loading import choose_device

    # Pretend to be a CUDA machine with this much free memory (the policy is pure logic).
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda: (int(free_gib * 2**30), 80 * 2**30))
    policy = choose_device("flux")
    assert (policy.device, policy.dtype, policy.cpu_offload) == ("cuda", "bfloat16", offload)
    assert not policy.attention_slicing
    assert choose_device("sd1").dtype == "float16"


# -- planning at the latent multiple ---------------------------------------------------


def test_generation_sizes_are_multiples_of_16() -> None:
    for w, h in ((120, 88), (200, 136), (1000, 300), (37, 530)):
        plan = plan_region(Box(0, 0, w, h), w, h, native=1024, multiple=16)
        assert plan.gen_width % 16 == 0 and plan.gen_height % 16 == 0
        sd = plan_region(Box(0, 0, w, h), w, h, native=1024)
        assert sd.gen_width % 8 == 0  # the UNet families keep their multiple of 8
        req = GenerationRequest(mode="txt2img", prompt="x", width=w, height=h)
        job = JobPlan.make(req, prepare_inputs(req, GenerationInputs()), 1024, 16)
        assert job.gen[0] % 16 == 0 and job.gen[1] % 16 == 0 and job.crop == (w, h)
    assert plan_region(Box(0, 0, 120, 88), 120, 88, 128, multiple=16).gen_width % 16 == 0


# -- jobs on each family ---------------------------------------------------------------


def test_txt2img_size_determinism_and_metadata(engine: Engine, base: GenerationRequest) -> None:
    first = engine.run(base)
    again = engine.run(base)
    other = engine.run(base.replace(seed=12))
    (res,) = first
    assert res.rgba.shape == (88, 120, 4) and res.rgba.dtype == np.uint8
    assert (res.rgba[..., 3] == 255).all()
    assert np.array_equal(res.rgba, again[0].rgba)
    assert not np.array_equal(res.rgba, other[0].rgba)
    name = Path(base.model).name
    # Generated at 128x96 (multiples of 16), resized back to the asked 120x88.
    assert f"Model: {name}" in res.parameters and "Size: 128x96" in res.parameters
    assert "Seed: 11" in res.parameters
    assert engine.info is not None and engine.info.family == base.model.split("tiny-")[-1]


def _plain_call_args(family: str, request: GenerationRequest) -> dict:
    """The arguments a diffusers user would give each family's txt2img pipeline."""
    args = {
        "prompt": request.prompt,
        "num_inference_steps": request.steps,
        "width": request.width,
        "height": request.height,
        "output_type": "np",
    }
    if family in ("flux", "flux-kontext"):  # distilled guidance, no negative prompt
        args["guidance_scale"] = request.guidance
    elif family == "qwen-image":  # classifier-free guidance is `true_cfg_scale` there
        args.update(true_cfg_scale=request.guidance, negative_prompt=request.negative_prompt)
    else:
        args.update(guidance_scale=request.guidance, negative_prompt=request.negative_prompt)
    if family == "flux-kontext":  # Kontext scales to 1024² unless told the area
        args["max_area"] = request.width * request.height
    return args


def test_txt2img_is_the_plain_pipeline_call(
    engine: Engine, base: GenerationRequest, family: str
) -> None:
    """Same model, seed, steps and size: the engine's picture is the plain diffusers call's."""
    import torch
    from diffusers import DiffusionPipeline

    request = base.replace(width=128, height=96, precision="fp32")
    (res,) = engine.run(request)
    pipe = DiffusionPipeline.from_pretrained(
        request.model, dtype=torch.float32, local_files_only=True
    )
    pipe.set_progress_bar_config(disable=True)
    generator = torch.Generator("cpu").manual_seed(request.seed)
    plain = pipe(**_plain_call_args(family, request), generator=generator).images[0]
    expected = np.clip(np.rint(plain * 255.0), 0, 255).astype(np.uint8)
    assert np.array_equal(res.rgba[..., :3], expected)


def test_img2img_size_determinism_and_strength(engine: Engine, base: GenerationRequest) -> None:
    crop = _canvas(96, 112)
    totals: list[int] = []
    req = base.replace(mode="img2img", strength=0.6)
    (res,) = engine.run(
        req, GenerationInputs(image=crop), on_progress=lambda s, t, p: totals.append(t)
    )
    assert res.rgba.shape == (96, 112, 4) and (res.rgba[..., 3] == 255).all()
    # The pipeline runs about strength x steps (FLUX rounds up, the others down).
    assert totals and len(set(totals)) == 1 and 2 <= totals[0] < STEPS
    assert np.array_equal(engine.run(req, GenerationInputs(image=crop))[0].rgba, res.rgba)
    assert not np.array_equal(res.rgba[..., :3], crop[..., :3])
    assert "Denoising strength: 0.6" in res.parameters


def test_inpaint_leaves_pixels_outside_the_feather_bit_identical(
    engine: Engine, base: GenerationRequest
) -> None:
    canvas = _canvas()
    box = Box(40, 30, 120, 104)
    crop = canvas[box.y : box.bottom, box.x : box.right].copy()
    mask = np.zeros(crop.shape[:2], np.uint8)
    mask[30:70, 40:90] = 255
    req = base.replace(
        mode="inpaint", region=box, canvas_width=200, canvas_height=160, strength=0.9
    )
    (res,) = engine.run(req, GenerationInputs(image=crop, mask=mask))
    assert res.rgba.shape == (104, 120, 4) and (res.x, res.y) == (40, 30)
    out = apply_patch(canvas, res.rgba, res.x, res.y)
    untouched = np.ones(canvas.shape[:2], bool)
    untouched[box.y : box.bottom, box.x : box.right] = res.rgba[..., 3] == 0
    assert untouched.sum() > canvas.shape[0] * canvas.shape[1] // 2
    assert np.array_equal(out[untouched], canvas[untouched])
    assert (res.rgba[30:70, 40:90, 3] == 255).all()
    assert not np.array_equal(
        out[box.y + 30 : box.y + 70, box.x + 40 : box.x + 90], crop[30:70, 40:90]
    )
    again = engine.run(req, GenerationInputs(image=crop, mask=mask))[0]
    assert np.array_equal(again.rgba, res.rgba)
    assert "Denoising strength: 0.9" in res.parameters


def test_progress_and_cancel(engine: Engine, base: GenerationRequest) -> None:
    calls: list[tuple[int, int]] = []
    engine.run(base.replace(n_samples=2), on_progress=lambda s, t, p: calls.append((s, t)))
    assert calls == [(i, 2 * STEPS) for i in range(1, 2 * STEPS + 1)]
    steps: list[int] = []
    with pytest.raises(Cancelled):
        engine.run(
            base.replace(steps=10),
            on_progress=lambda s, t, p: steps.append(s),
            should_cancel=lambda: len(steps) >= 2,
        )
    assert steps == [1, 2]


# -- what the families cannot do (yet), and FLUX's variants -----------------------------


def test_control_layers_are_refused_in_one_sentence(
    tiny_modern_dir: Callable[[str], Path],
) -> None:
    from engine.control.spec import ControlSpec

    eng = Engine()
    # FLUX.1, SD 3.5, Qwen-Image and Z-Image run ControlNets
    # (tests/engine/test_transformer_controlnets.py).
    req = GenerationRequest(
        mode="txt2img", prompt="a red square", model=str(tiny_modern_dir("chroma")), steps=2
    )
    try:
        with pytest.raises(InvalidRequestError, match="Control layers do not work with Chroma"):
            eng.run(
                req.replace(controls=(ControlSpec("canny"),)),
                GenerationInputs(controls=(np.zeros((64, 64, 3), np.uint8),)),
            )
    finally:
        eng.unload()


def test_distilled_guidance_ignores_the_negative_prompt_and_says_so(
    tiny_modern_dir: Callable[[str], Path],
) -> None:
    eng = Engine()
    req = GenerationRequest(
        mode="txt2img",
        prompt="a red square",
        model=str(tiny_modern_dir("flux")),
        steps=2,
        width=64,
        height=64,
    )
    try:
        (plain,) = eng.run(req)
        (negative,) = eng.run(req.replace(negative_prompt="a green circle"))
        assert np.array_equal(plain.rgba, negative.rgba)
        assert not plain.warnings
        assert any("negative prompt" in w for w in negative.warnings)
        # The distilled guidance value reaches the transformer.
        assert not np.array_equal(eng.run(req.replace(guidance=1.0))[0].rgba, plain.rgba)
    finally:
        eng.unload()


def test_schnell_takes_no_guidance(tiny_modern_dir: Callable[[str], Path]) -> None:
    info = inspect_model(tiny_modern_dir("flux-schnell"))
    assert (info.family, info.guidance) == ("flux", "none")
    eng = Engine()
    req = GenerationRequest(
        mode="txt2img", prompt="a red square", model=str(info.path), steps=2, width=64, height=64
    )
    try:
        (res,) = eng.run(req.replace(guidance=7.0))
        assert np.array_equal(eng.run(req.replace(guidance=1.0))[0].rgba, res.rgba)
    finally:
        eng.unload()


def test_flux_fill_inpaints_but_refuses_txt2img(tiny_modern_dir: Callable[[str], Path]) -> None:
    eng = Engine()
    req = GenerationRequest(
        mode="txt2img", prompt="a red square", model=str(tiny_modern_dir("flux-fill")), seed=3
    )
    try:
        with pytest.raises(ModelError, match="FLUX.1 Fill model and can only inpaint"):
            eng.run(req.replace(width=64, height=64))
        crop = _canvas(80, 96)
        mask = np.zeros((80, 96), np.uint8)
        mask[20:60, 30:70] = 255
        job = req.replace(mode="inpaint", strength=1.0)
        (res,) = eng.run(job, GenerationInputs(image=crop, mask=mask))
        assert res.rgba.shape == (80, 96, 4)
        outside = res.rgba[..., 3] == 0
        assert outside.any() and np.array_equal(
            apply_patch(crop, res.rgba, 0, 0)[outside], crop[outside]
        )
        assert np.array_equal(
            eng.run(job, GenerationInputs(image=crop, mask=mask))[0].rgba, res.rgba
        )
    finally:
        eng.unload()


def test_invalid_numbers_stop_the_job(
    tiny_modern_dir: Callable[[str], Path], tmp_path: Path
) -> None:
    import shutil

    from safetensors.torch import load_file, save_file

    folder = shutil.copytree(tiny_modern_dir("flux"), tmp_path / "broken-flux")
    weights = folder / "transformer" / "diffusion_pytorch_model.safetensors"
    tensors = load_file(str(weights))
    tensors["proj_out.weight"].fill_(float("nan"))
    save_file(tensors, str(weights))
    eng = Engine()
    try:
        with pytest.raises(EngineError, match="invalid numbers"):
            eng.run(GenerationRequest("txt2img", "x", model=str(folder), width=64, height=64))
    finally:
        eng.unload()


def test_every_family_has_a_pipeline_for_every_mode() -> None:
    import diffusers

    from engine.local.families import MODE_PIPELINES

    assert set(MODE_PIPELINES) == set(MODERN_FAMILIES)
    for names in MODE_PIPELINES.values():
        assert all(hasattr(diffusers, n) for n in names)
