"""Loading the transformer families from the files ComfyUI and Forge users keep, through
the local engine on tiny random-weight models: split files and single files give the very
picture the diffusers folder gives; GGUF and fp8 transformers load on a CPU; a file that
does not fit, a missing configuration or a model too big for memory each get one
sentence, and nothing is left loaded half-way (engine.local.split_files, .memory)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from engine.core.errors import ModelError
from engine.local.engine import Engine
from engine.local.loading import DevicePolicy
from engine.local.memory import footprint, plan_memory
from engine.model_families import EDIT_FAMILIES
from engine.models import inspect_model
from engine.request import GenerationRequest
from tests.tiny_split import (
    config_root,
    write_bfl_transformer,
    write_gguf,
    write_single_file,
    write_sparse_t5,
    write_sparse_transformer,
    write_split,
)

FAMILIES = ("flux", "sd3", "z-image", "qwen-image", "chroma")


@pytest.fixture(scope="module")
def configs(
    tiny_modern_dir: Callable[[str], Path], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The families' configuration and tokenizers without weights (a config root)."""
    root = tmp_path_factory.mktemp("configs")
    for family in FAMILIES:
        config_root(tiny_modern_dir(family), family, root)
    return root


@pytest.fixture(scope="module")
def engine(configs: Path) -> Engine:
    eng = Engine(config_root=configs)
    yield eng
    eng.unload()


def _load_error(engine: Engine, model: Path) -> str:
    """The one sentence a job with `model` fails with."""
    with pytest.raises(ModelError) as err:
        engine.run(_request(model))
    return str(err.value)


def _request(model: Path) -> GenerationRequest:
    return GenerationRequest(
        mode="txt2img",
        prompt="a red square on a blue background",
        model=str(model),
        steps=2,  # Qwen-Image's scheduler gives NaN at 1 step
        guidance=3.5,
        width=64,
        height=64,
        seed=5,
        watermark=False,
        precision="fp32",
    )


@pytest.mark.parametrize("family", FAMILIES)
def test_split_and_single_files_paint_what_the_folder_paints(
    family: str, engine: Engine, tiny_modern_dir: Callable[[str], Path], tmp_path: Path
) -> None:
    folder = tiny_modern_dir(family)
    models = tmp_path / "models"
    split = write_split(folder, family, models, f"{family}-dev")
    single = write_single_file(folder, family, models / "checkpoints" / f"{family}.safetensors")
    (expected,) = engine.run(_request(folder))
    for path, kind in ((split, "split"), (single, "single-file")):
        (res,) = engine.run(_request(path))
        assert engine.info is not None and engine.info.kind == kind
        assert np.array_equal(res.rgba, expected.rgba), path.name
        assert f"Model: {path.stem}" in res.parameters


@pytest.mark.parametrize("family", FAMILIES)
def test_gguf_transformer_loads_on_a_cpu(
    family: str, engine: Engine, tiny_modern_dir: Callable[[str], Path], tmp_path: Path
) -> None:
    """A Q8_0 GGUF transformer stays quantised (diffusers' GGUFParameter) and paints
    nearly the folder's picture."""
    from diffusers.quantizers.gguf.utils import GGUFParameter

    folder = tiny_modern_dir(family)
    transformer = write_split(folder, family, tmp_path / "models", f"{family}-dev")
    gguf = write_gguf(transformer, tmp_path / "models" / "unet" / f"{family}-dev-Q8_0.gguf")
    transformer.unlink()
    (expected,) = engine.run(_request(folder))
    (res,) = engine.run(_request(gguf))
    loaded = engine.loaded_pipeline()
    assert loaded is not None and loaded[0].path == gguf
    params = list(loaded[1].transformer.parameters())
    assert sum(isinstance(p, GGUFParameter) and p.quant_type == 8 for p in params) >= 4
    diff = np.abs(res.rgba.astype(int) - expected.rgba.astype(int))
    assert res.rgba.shape == expected.rgba.shape and diff.mean() < 8


def test_fp8_transformer_and_text_encoder_are_upcast_on_a_cpu(
    engine: Engine, tiny_modern_dir: Callable[[str], Path], tmp_path: Path
) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    folder = tiny_modern_dir("flux")
    transformer = write_split(folder, "flux", tmp_path / "models", "flux1-dev-fp8")
    t5 = transformer.parent.parent / "text_encoders" / "t5xxl_fp16.safetensors"
    for path in (transformer, t5):  # ComfyUI's fp8 transformers and t5xxl_fp8_e4m3fn
        weights = load_file(str(path))
        save_file({k: v.to(torch.float8_e4m3fn) for k, v in weights.items()}, str(path))
    (res,) = engine.run(_request(transformer))
    loaded = engine.loaded_pipeline()
    assert loaded is not None and loaded[1].transformer.dtype == torch.float32
    assert loaded[1].text_encoder_2.dtype == torch.float32
    assert res.rgba.shape == (64, 64, 4) and (res.rgba[..., 3] == 255).all()


def test_a_narrow_bfl_file_fails_in_one_sentence_and_leaves_nothing_loaded(
    engine: Engine, tiny_modern_dir: Callable[[str], Path], tmp_path: Path
) -> None:
    """diffusers converts BFL-layout FLUX files assuming FLUX.1's width (3072): a narrow
    one cannot load, and says so; the diffusers-layout files above load."""
    models = tmp_path / "models"
    transformer = write_split(tiny_modern_dir("flux"), "flux", models, "narrow")
    write_bfl_transformer(transformer)
    engine.run(_request(tiny_modern_dir("flux")))
    assert _load_error(engine, transformer) == (
        "Cannot load the FLUX.1 transformer of narrow from narrow.safetensors: its tensors "
        "do not fit the family's layout (a different model size or a damaged file); pick "
        "another file (details are in the log)."
    )
    assert engine.loaded_pipeline() is None and engine.info is None


def test_missing_configuration_says_what_to_download(
    tiny_modern_dir: Callable[[str], Path], tmp_path: Path
) -> None:
    transformer = write_split(tiny_modern_dir("flux"), "flux", tmp_path / "models", "flux1")
    eng = Engine(config_root=tmp_path / "no-configs")
    assert _load_error(eng, transformer) == (
        "Loading FLUX.1 from single files needs its configuration and tokenizers (a few MB, "
        f"no weights), which Overpaint found neither in {tmp_path / 'no-configs' / 'flux'} "
        "nor in the Hugging Face cache; download them once with `hf download "
        "black-forest-labs/FLUX.1-schnell --exclude '*.safetensors' '*.gguf'` and try again."
    )
    assert eng.loaded_pipeline() is None


def test_the_configuration_comes_from_the_hugging_face_cache(
    tiny_modern_dir: Callable[[str], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a shipped configuration, a cached snapshot of the family's reference
    repository (weights or not) gives it."""
    hub = tmp_path / "hub"
    repo = hub / "models--black-forest-labs--FLUX.1-schnell"
    shutil.copytree(tiny_modern_dir("flux-schnell"), repo / "snapshots" / "abc")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc")
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    transformer = write_split(tiny_modern_dir("flux"), "flux", tmp_path / "models", "flux1")
    eng = Engine(config_root=tmp_path / "no-configs")
    (res,) = eng.run(_request(transformer))
    (expected,) = eng.run(_request(tiny_modern_dir("flux")))
    assert np.array_equal(res.rgba, expected.rgba)  # dev's guidance embedding, schnell's config
    eng.unload()


def _too_big(tiny_modern_dir: Callable[[str], Path], tmp_path: Path, parameters: int) -> Path:
    transformer = write_split(tiny_modern_dir("flux"), "flux", tmp_path / "models", "flux1-big")
    transformer.unlink()
    return write_sparse_transformer(transformer, parameters)


def test_a_model_too_big_for_memory_is_refused_before_loading(
    engine: Engine, tiny_modern_dir: Callable[[str], Path], tmp_path: Path
) -> None:
    import psutil

    total = psutil.virtual_memory().total
    big = _too_big(tiny_modern_dir, tmp_path, total // 2)  # 2x the memory in fp32
    engine.run(_request(tiny_modern_dir("flux")))
    before = engine.loaded_pipeline()
    need = round(footprint(inspect_model(big), 4).needed() / 1e9)
    assert _load_error(engine, big) == (
        f"flux1-big needs about {need} GB of memory in fp32; this machine has "
        f"{round(total / 1e9)} GB, so Overpaint did not load it: pick a smaller or "
        "GGUF-quantised model, or run it on a GPU or a ComfyUI server."
    )
    # The model loaded before stays, untouched; nothing of the refused one is kept.
    assert engine.loaded_pipeline() == before


def test_a_big_model_that_fits_warns_of_the_minutes_per_picture(
    tiny_modern_dir: Callable[[str], Path], tmp_path: Path
) -> None:
    info = inspect_model(_too_big(tiny_modern_dir, tmp_path, 10**9))
    cpu = DevicePolicy(device="cpu", dtype="bfloat16")
    policy, note = plan_memory(info, cpu, set(), steps=4)
    assert policy == cpu
    assert note is not None and note.startswith(
        "flux1-big runs on this computer's processor: expect about "
    )
    assert note.endswith(
        "minutes per picture at 1024² with 4 steps (a GPU or a ComfyUI server takes seconds)."
    )


@pytest.mark.parametrize(
    ("free_gib", "offload", "group"), [(80.0, False, False), (3.9, True, False), (2.0, False, True)]
)
def test_cuda_offload_follows_free_vram(
    free_gib: float,
    offload: bool,
    group: bool,
    tiny_modern_dir: Callable[[str], Path],
    tmp_path: Path,
) -> None:
    """A 1 B-parameter transformer (1.9 GiB in bf16) and a 0.5 B T5 (FLUX's proportions):
    the whole model on the GPU with room to spare, model offload when only its largest
    part fits, group offload below that; a switch the request forces stays."""
    transformer = _too_big(tiny_modern_dir, tmp_path, 10**9)
    write_sparse_t5(
        transformer.parent.parent / "text_encoders" / "t5xxl_fp16.safetensors", 5 * 10**8
    )
    info = inspect_model(transformer)
    gpu = DevicePolicy(device="cuda", dtype="bfloat16", free_vram_gib=free_gib)
    policy, note = plan_memory(info, gpu, set(), steps=4)
    assert (policy.cpu_offload, policy.group_offload, note) == (offload, group, None)
    forced, _ = plan_memory(info, gpu, {"cpu_offload"}, steps=4)
    assert forced == gpu


def test_a_text_encoder_that_does_not_fit_fails_in_one_sentence(
    engine: Engine, tiny_modern_dir: Callable[[str], Path], tmp_path: Path
) -> None:
    """The transformer loads, then the T5 file turns out to be another size: one sentence
    names the part and file, and nothing of the half-loaded model is kept."""
    import torch
    from safetensors.torch import load_file, save_file

    models = tmp_path / "models"
    write_split(tiny_modern_dir("flux"), "flux", models, "flux1-dev")
    t5 = models / "text_encoders" / "t5xxl_fp16.safetensors"
    weights = load_file(str(t5))
    weights["shared.weight"] = torch.zeros(7, 5)
    save_file(weights, str(t5))
    assert _load_error(engine, models / "diffusion_models" / "flux1-dev.safetensors") == (
        "Cannot load the T5-XXL text encoder (t5xxl) of flux1-dev from t5xxl_fp16.safetensors: "
        "its tensors do not fit the family's layout (a different model size or a damaged "
        "file); pick another file (details are in the log)."
    )
    assert engine.loaded_pipeline() is None


def test_the_configuration_comes_from_a_folder_of_the_family_in_the_models_folder(
    tiny_modern_dir: Callable[[str], Path], tmp_path: Path
) -> None:
    """A FLUX.1 diffusers folder the user installed (a starter) lends its configuration
    and tokenizers to a FLUX.1 GGUF transformer."""
    from engine.core.paths import user_models_dir

    shutil.copytree(tiny_modern_dir("flux"), user_models_dir() / "checkpoints" / "FLUX.1-dev")
    transformer = write_split(tiny_modern_dir("flux"), "flux", tmp_path / "models", "flux1")
    gguf = write_gguf(transformer, tmp_path / "models" / "unet" / "flux1-Q8_0.gguf")
    transformer.unlink()
    eng = Engine(config_root=tmp_path / "no-configs")
    (res,) = eng.run(_request(gguf))
    assert res.rgba.shape == (64, 64, 4)
    eng.unload()


def test_the_estimate_counts_what_loads(
    tiny_modern_dir: Callable[[str], Path], tmp_path: Path
) -> None:
    """Folder, split files and single file of one model: the estimate is the loaded
    pipeline's tensors at 4 bytes each (fp32), read from the headers alone; a GGUF
    transformer counts at its quantised size."""
    import torch
    from diffusers import DiffusionPipeline

    folder = tiny_modern_dir("flux")
    pipe = DiffusionPipeline.from_pretrained(str(folder), dtype=torch.float32)
    # parameters(): T5's tied embedding counts once, as it is stored and held.
    loaded = sum(
        p.numel() * 4
        for m in pipe.components.values()
        if isinstance(m, torch.nn.Module)
        for p in m.parameters()
    )
    split = write_split(folder, "flux", tmp_path / "models", "flux1")
    single = write_single_file(folder, "flux", tmp_path / "single.safetensors")
    for path in (folder, split, single):
        assert footprint(inspect_model(path), 4).total == loaded, path.name
    gguf = write_gguf(split, tmp_path / "models" / "unet" / "flux1-Q8_0.gguf")
    quantised = footprint(inspect_model(gguf), 4)
    transformer = sum(p.numel() * 4 for p in pipe.transformer.parameters())
    assert loaded - transformer < quantised.total < loaded - transformer / 3


@pytest.mark.parametrize("family", EDIT_FAMILIES)
def test_edit_models_from_files(
    family: str, tiny_modern_dir: Callable[[str], Path], tmp_path: Path
) -> None:
    """Kontext, Qwen-Image-Edit (Plus) and FLUX.2 Klein from split and single files: the
    family is told from the file (an Edit or Kontext transformer by its name), every part
    loads as the folder's, and an Edit of the whole picture runs (Qwen's prompt
    processor from the configuration folder)."""
    import torch

    from engine.local.loading import choose_device, load_pipeline
    from tests.engine.test_edit_mode import _edit

    folder = tiny_modern_dir(family)
    root = config_root(folder, family, tmp_path / "configs")
    models = tmp_path / "models"
    split = write_split(folder, family, models, f"{family}-dev")
    single = write_single_file(folder, family, models / "checkpoints" / f"{family}.safetensors")
    policy = choose_device(family, {}, "fp32")
    expected = load_pipeline(inspect_model(folder), policy)
    for path in (split, single):
        info = inspect_model(path)
        assert info.family == family
        pipe = load_pipeline(info, policy, root)
        for part in info.parts:
            ours, theirs = (getattr(p, part.component).state_dict() for p in (pipe, expected))
            assert ours.keys() == theirs.keys()
            assert all(torch.equal(ours[k], theirs[k]) for k in ours), part.component
    eng = Engine(config_root=root)
    request, inputs, _picture = _edit(folder, None)
    (res,) = eng.run(request.replace(model=str(split), steps=2), inputs)
    assert res.rgba.shape == (96, 128, 4)
    eng.unload()


def test_a_qwen_vae_in_comfyuis_wan_layout_loads(
    tiny_modern_dir: Callable[[str], Path], tmp_path: Path
) -> None:
    """ComfyUI keeps Qwen-Image's VAE in Wan 2.1's original layout (decoder.middle...):
    it loads tensor for tensor (a VAE of Wan's real block layout, narrow channels)."""
    import json

    import torch
    from diffusers import AutoencoderKLQwenImage

    from engine.local.loading import choose_device, load_pipeline
    from tests.tiny_split import write_wan_vae

    torch.manual_seed(0)
    vae = AutoencoderKLQwenImage(base_dim=16, z_dim=16)  # Wan's 4 stages of 2 blocks
    folder = tiny_modern_dir("qwen-image")
    root = config_root(folder, "qwen-image", tmp_path / "configs")
    (root / "qwen-image" / "vae" / "config.json").write_text(json.dumps(dict(vae.config)))
    models = tmp_path / "models"
    transformer = write_split(folder, "qwen-image", models, "qwen")
    write_wan_vae(vae, models / "vae" / "qwen_image_vae.safetensors")
    info = inspect_model(transformer)
    assert info.parts[-1].kind == "vae-qwen"
    pipe = load_pipeline(info, choose_device("qwen-image", {}, "fp32"), root)
    loaded, expected = pipe.vae.state_dict(), vae.state_dict()
    assert loaded.keys() == expected.keys()
    assert all(torch.equal(loaded[k], expected[k]) for k in loaded)


def test_fp8_storage_computes_in_the_models_dtype(tiny_modern_dir: Callable[[str], Path]) -> None:
    """What an fp8 transformer gets on a GPU, run here on the CPU: its layers stored in
    fp8 (half a bf16 copy), each computing in the model's dtype, close to full precision."""
    import torch
    from diffusers import FluxTransformer2DModel

    from engine.local.split_files import keep_fp8

    folder = tiny_modern_dir("flux") / "transformer"
    model = FluxTransformer2DModel.from_pretrained(str(folder), dtype=torch.float32)
    gen = torch.Generator().manual_seed(0)
    args = {
        "hidden_states": torch.randn(1, 16, 64, generator=gen),
        "encoder_hidden_states": torch.randn(1, 8, 32, generator=gen),
        "pooled_projections": torch.randn(1, 32, generator=gen),
        "timestep": torch.tensor([0.5]),
        "img_ids": torch.zeros(16, 3),
        "txt_ids": torch.zeros(8, 3),
        "guidance": torch.tensor([3.5]),
    }
    with torch.inference_mode():
        full = model(**args).sample
        keep_fp8(model, torch.float32)
        stored = model.transformer_blocks[0].attn.to_q.weight.dtype
        low = model(**args).sample
    assert stored == torch.float8_e4m3fn
    assert (low - full).abs().mean() < 0.05 * full.abs().mean()


def test_z_image_in_its_original_layout_paints_what_the_folder_paints(
    engine: Engine, tiny_modern_dir: Callable[[str], Path], tmp_path: Path
) -> None:
    """ComfyUI's z_image_turbo files keep the original layout (fused qkv, final_layer.):
    diffusers' converter takes it, and the picture is the folder's."""
    from tests.tiny_split import write_original_z_image

    folder = tiny_modern_dir("z-image")
    transformer = write_split(folder, "z-image", tmp_path / "models", "z_image_turbo_bf16")
    write_original_z_image(
        folder / "transformer" / "diffusion_pytorch_model.safetensors", transformer
    )
    (expected,) = engine.run(_request(folder))
    (res,) = engine.run(_request(transformer))
    assert np.array_equal(res.rgba, expected.rgba)
