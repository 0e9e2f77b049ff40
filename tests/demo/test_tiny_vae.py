"""The demo model's own tiny VAE (resources/models/overpaint-demo/vae_tiny): close to the
full VAE on held-out scenes, used by Live jobs on the demo in place of an installed TAESD,
and never listed as a model of its own."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from engine.core.paths import RESOURCES, user_models_dir
from engine.demo.dataset import caption, heldout_scenes
from engine.demo.evaluate import blob_sketch, read_picture
from engine.demo.evaluate_tiny_vae import autoencoder_scores, heldout_pictures, load_tiny
from engine.demo.tiny_vae import load_teacher
from engine.local.warm import tiny_vae_dir
from engine.request import GenerationInputs, GenerationRequest

DEMO = RESOURCES / "models" / "overpaint-demo"
OWN = DEMO / "vae_tiny"


def _save_taesd(folder: Path) -> Path:
    """A family-level TAESD-shaped folder (random weights: its pictures are noise)."""
    from diffusers import AutoencoderTiny

    AutoencoderTiny(
        encoder_block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        num_encoder_blocks=(1, 1, 1, 1),
        num_decoder_blocks=(1, 1, 1, 1),
    ).save_pretrained(str(folder))
    return folder


def test_the_tiny_vae_is_small_and_close_to_the_full_one() -> None:
    files = [p for p in OWN.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) <= 1_000_000
    assert json.loads((OWN / "config.json").read_text())["_class_name"] == "AutoencoderTiny"
    scores = autoencoder_scores(load_teacher(DEMO), load_tiny(OWN), heldout_pictures(8))
    assert scores["tiny_decode_vs_full_decode_psnr"]["min"] >= 28.0
    assert scores["tiny_encode_full_decode_vs_full_round_trip_psnr"]["min"] >= 32.0


@pytest.fixture(scope="module")
def engine():
    from engine.local.engine import Engine

    return Engine()


def _live_job(engine, seed: int, live: bool) -> np.ndarray:
    scene = heldout_scenes()[3]
    sketch = blob_sketch(scene, 128, seed)
    picture = np.dstack([sketch, np.full((128, 128), 255, np.uint8)])
    request = GenerationRequest(
        mode="img2img", prompt=caption(scene), seed=seed, model=str(DEMO), width=128,
        height=128, strength=0.35, steps=9, guidance=1.0, scheduler="Euler a",
        options=(("live", live),),
    )  # fmt: skip
    (result,) = engine.run(request, GenerationInputs(image=picture))
    return result.rgba[..., :3]


def test_live_jobs_on_the_demo_decode_with_its_own_tiny_vae(engine) -> None:
    from diffusers import AutoencoderTiny

    # An installed TAESD is SD's latent space, not the demo's: it must not be used here.
    taesd = _save_taesd(user_models_dir() / "vae-approx" / "taesd")
    assert tiny_vae_dir("sd1", [user_models_dir()]) == taesd
    assert tiny_vae_dir("sd1", [user_models_dir()], DEMO) == OWN

    full = _live_job(engine, 5, live=False)
    live = _live_job(engine, 5, live=True)
    (pipe,) = engine.warm._live_pipes.values()
    assert isinstance(pipe.vae, AutoencoderTiny)
    assert Path(pipe.vae.config._name_or_path) == OWN
    assert not np.array_equal(live, full)  # the tiny VAE made this one...
    diff = np.abs(live.astype(int) - full.astype(int))
    assert diff.mean() < 8  # ...and it is close to the full VAE's (4/255 measured)
    seen, expected = read_picture(live), read_picture(full)
    assert (seen.background, seen.colour, seen.position) == (
        expected.background,
        expected.colour,
        expected.position,
    )
    assert np.array_equal(_live_job(engine, 5, live=False), full)  # other jobs: full VAE


def test_a_model_with_its_own_latent_space_never_gets_the_family_taesd(tmp_path: Path) -> None:
    taesd = _save_taesd(tmp_path / "models" / "taesd")
    dirs = [tmp_path / "models"]
    # The demo's VAE config without a vae_tiny: its scaling factor is not SD's.
    demo_like = tmp_path / "demo-like"
    shutil.copytree(DEMO / "vae", demo_like / "vae", ignore=shutil.ignore_patterns("*.safetensors"))
    assert tiny_vae_dir("sd1", dirs, demo_like) is None
    sd_like = tmp_path / "sd-like"
    (sd_like / "vae").mkdir(parents=True)
    (sd_like / "vae" / "config.json").write_text(json.dumps({"scaling_factor": 0.18215}))
    assert tiny_vae_dir("sd1", dirs, sd_like) == taesd
    assert tiny_vae_dir("sd1", dirs, tmp_path / "one-file.safetensors") == taesd


def test_vae_tiny_is_not_listed_as_a_model(tmp_path: Path) -> None:
    from engine.model_manager.installed import list_bundled, list_installed
    from engine.models import discover_models

    copy = user_models_dir() / "my-demo"
    shutil.copytree(DEMO, copy)
    found = [m.path for m in discover_models()]
    assert copy in found and DEMO in found
    listed = [m.path for m in (*list_installed(), *list_bundled())]
    assert copy in listed
    assert not [p for p in (*found, *listed) if "vae_tiny" in Path(p).parts]
