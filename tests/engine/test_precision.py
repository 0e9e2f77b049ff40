"""The CPU precision policy (engine.core.precision) and bf16 jobs through the real Engine.

Unit tests of the flags, the timed probe, the per-machine cache and the request's checks;
then the tiny model and the demo model in bf16 against fp32 (PSNR), soft inpainting's
untouched pixels, the NaN fallback to fp32, and bit-identical reruns in bf16.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.core import precision
from engine.core.cvsafe import import_cv2
from engine.core.errors import InvalidRequestError
from engine.core.precision import (
    CACHE_NAME,
    NO_BF16_HARDWARE,
    CpuPrecision,
    cpu_flags,
    has_bf16_hardware,
    machine_precision,
    measure,
    resolve_cpu_precision,
)
from engine.jobs import image_composite, prepare_job
from engine.local.engine import Engine
from engine.local.loading import choose_device
from engine.local.result_checks import INVALID_LATENTS, InvalidNumbers
from engine.region import apply_patch
from engine.request import GenerationRequest
from tests.seamless_scenes import H, W, disc_mask, disc_picture

# Below this a bf16 picture visibly differs from the fp32 one (issue 26's gate).
MIN_PSNR_DB = 30.0

X86_CPUINFO = """\
processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu vme sse2 avx2 avx512f amx_tile amx_bf16 avx512_bf16
vmx flags\t: vnmi preemption_timer posted_intr

processor\t: 1
flags\t\t: fpu vme sse2 avx2 avx512f avx512_vnni
"""
ARM_CPUINFO = """\
processor\t: 0
BogoMIPS\t: 50.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics bf16 i8mm
CPU implementer\t: 0x41
"""
OLD_X86_CPUINFO = "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma\n"


# -- the policy on its own ---------------------------------------------------------------


def test_flags_come_from_x86_flags_and_arm_features_lines() -> None:
    x86 = cpu_flags(X86_CPUINFO)
    assert {"amx_bf16", "avx512_bf16", "avx512_vnni", "sse2"} <= x86  # every processor's line
    assert "vnmi" not in x86  # "vmx flags" is another list
    assert has_bf16_hardware(x86)
    arm = cpu_flags(ARM_CPUINFO)
    assert {"asimd", "bf16", "i8mm"} <= arm and "50.00" not in arm
    assert has_bf16_hardware(arm)
    assert cpu_flags(OLD_X86_CPUINFO) == {"fpu", "sse2", "avx", "avx2", "fma"}
    assert not has_bf16_hardware(cpu_flags(OLD_X86_CPUINFO))
    assert cpu_flags("") == set() and not has_bf16_hardware(set())


def test_without_bf16_flags_the_probe_picks_fp32_without_timing_anything(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_timing(*_args: object) -> float:
        raise AssertionError("timed bf16 on a processor without it")

    monkeypatch.setattr(precision, "_speedup", no_timing)
    assert measure(False) == CpuPrecision(False, 0.0, 0.0, "fp32")


def test_with_bf16_flags_the_probe_times_both_and_chooses(one_torch_thread: None) -> None:
    found = measure(True)
    assert found.hardware_bf16 and found.matmul_speedup > 0 and found.conv_speedup > 0
    assert found.choice == ("bf16" if min(found.matmul_speedup, found.conv_speedup) >= 1.2
                            else "fp32")  # fmt: skip


@pytest.fixture
def fresh_machine_precision():
    """machine_precision is cached per process: start and leave with it empty."""
    machine_precision.cache_clear()
    yield
    machine_precision.cache_clear()


def test_the_machine_choice_is_measured_once_and_cached_per_machine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_machine_precision: None,
    one_torch_thread: None,
) -> None:  # fmt: skip
    measured: list[bool] = []
    real_measure = precision.measure

    def counted(hardware: bool) -> CpuPrecision:
        measured.append(hardware)
        return real_measure(hardware)

    monkeypatch.setattr(precision, "measure", counted)
    first = machine_precision(tmp_path)
    assert measured == [has_bf16_hardware()]
    stored = json.loads((tmp_path / CACHE_NAME).read_text(encoding="utf-8"))
    assert stored["result"]["choice"] == first.choice
    assert CpuPrecision(**stored["result"]) == first
    # Keyed by processor, torch version and thread count.
    assert stored["machine"].endswith(f"|torch {torch.__version__}|1 threads")

    # A later start reads the file instead of measuring.
    machine_precision.cache_clear()
    assert machine_precision(tmp_path) == first and len(measured) == 1

    # Another machine's answer (here: another thread count) is measured again and replaces it.
    (tmp_path / CACHE_NAME).write_text(
        json.dumps({"machine": stored["machine"].replace("|1 threads", "|64 threads"),
                    "result": {**stored["result"], "choice": "other"}}),
        encoding="utf-8",
    )  # fmt: skip
    machine_precision.cache_clear()
    assert machine_precision(tmp_path).choice in ("fp32", "bf16") and len(measured) == 2
    rewritten = json.loads((tmp_path / CACHE_NAME).read_text(encoding="utf-8"))
    assert rewritten["machine"] == stored["machine"]

    # Same processor, another thread count: a key of its own.
    torch.set_num_threads(2)
    machine_precision.cache_clear()
    machine_precision(tmp_path)
    assert len(measured) == 3
    assert json.loads((tmp_path / CACHE_NAME).read_text())["machine"].endswith("|2 threads")


def test_an_unknown_precision_is_refused_in_a_sentence(tiny_model_dir: Path) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        resolve_cpu_precision("fp8")
    assert str(caught.value) == "Unknown precision 'fp8'; use auto, fp32, bf16."
    # The engine refuses it the same way, before loading anything.
    engine = Engine()
    request = GenerationRequest("txt2img", model=str(tiny_model_dir), precision="float8")
    with pytest.raises(InvalidRequestError, match=r"^Unknown precision 'float8'; use auto"):
        engine.run(request)
    assert engine.loaded_pipeline() is None
    # Names are not case-sensitive; fp16 (recorded on a GPU) means auto on a CPU.
    assert resolve_cpu_precision("FP32") == ("fp32", None)
    assert resolve_cpu_precision("fp16") == resolve_cpu_precision("auto")


def test_bf16_without_the_flags_still_runs_bf16_and_warns_once(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    one_torch_thread: None,
) -> None:  # fmt: skip
    monkeypatch.setattr(precision, "cpu_flags", lambda cpuinfo=None: cpu_flags(OLD_X86_CPUINFO))
    monkeypatch.setattr(precision, "_warned", set())
    assert not has_bf16_hardware()
    caplog.set_level(logging.WARNING, logger="engine.core.precision")

    assert resolve_cpu_precision("bf16") == ("bf16", NO_BF16_HARDWARE)
    assert resolve_cpu_precision("bf16") == ("bf16", None)
    policy = choose_device("sd1", {"device": "cpu"}, "bf16")
    assert (policy.dtype, policy.precision, policy.warning) == ("bfloat16", "bf16", None)
    assert [r.getMessage() for r in caplog.records] == [NO_BF16_HARDWARE]

    # Through the engine: the first result carries the warning, later ones do not.
    monkeypatch.setattr(precision, "_warned", set())
    engine = Engine()
    request = _txt2img(tiny_model_dir, steps=2, width=64, height=64, precision="bf16")
    first, second = engine.run(request)[0], engine.run(request)[0]
    assert first.warnings.count(NO_BF16_HARDWARE) == 1 and first.request.precision == "bf16"
    assert NO_BF16_HARDWARE not in second.warnings and second.request.precision == "bf16"
    engine.run(request.replace(precision="fp32"))  # a reload in fp32, then bf16 again
    assert NO_BF16_HARDWARE not in engine.run(request)[0].warnings
    assert [r.getMessage() for r in caplog.records].count(NO_BF16_HARDWARE) == 2
    engine.unload()


# -- bf16 jobs through the real engine -----------------------------------------------------


def _txt2img(model: Path | str, **changes: object) -> GenerationRequest:
    base = GenerationRequest(
        mode="txt2img", prompt="a red circle on a blue background", model=str(model), steps=20,
        width=256, height=256, seed=3, watermark=False,
    )  # fmt: skip
    return base.replace(**changes)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio of two uint8 pictures in dB (inf when identical)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


@pytest.fixture(scope="module")
def engine():
    eng = Engine()
    yield eng
    eng.unload()


def _unet_runs_in(engine: Engine, dtype: torch.dtype) -> bool:
    unet = engine._base.unet
    return {p.dtype for p in unet.parameters()} == {dtype}


@pytest.mark.parametrize("which", ["tiny", "demo"])
def test_bf16_matches_fp32_above_30_db(
    engine: Engine, tiny_model_dir: Path, which: str, one_torch_thread: None,
) -> None:  # fmt: skip
    # The demo model (the default "") at its native 128²; the tiny one too (48.7 dB at its
    # native 256² when measured, 48.5 at 128², for a quarter of the time).
    request = _txt2img(tiny_model_dir if which == "tiny" else "", width=128, height=128)
    fp32 = engine.run(request.replace(precision="fp32"))[0]
    assert fp32.request.precision == "fp32" and _unet_runs_in(engine, torch.float32)
    bf16 = engine.run(request.replace(precision="bf16"))[0]
    assert bf16.request.precision == "bf16" and "Precision: bf16" in bf16.parameters
    assert _unet_runs_in(engine, torch.bfloat16)
    conv = engine._base.unet.conv_in.weight  # bf16 convolutions run channels_last
    assert conv.is_contiguous(memory_format=torch.channels_last)
    db = psnr(bf16.rgba[..., :3], fp32.rgba[..., :3])
    print(f"bf16 vs fp32 PSNR, {which} model, 20 steps: {db:.1f} dB")
    assert MIN_PSNR_DB <= db < math.inf, db  # close to fp32, and really computed in bf16


def test_bf16_reruns_are_bit_identical(
    engine: Engine, tiny_model_dir: Path, one_torch_thread: None
) -> None:
    request = _txt2img(tiny_model_dir, steps=6, width=128, height=128, precision="bf16",
                       n_samples=2)  # fmt: skip
    first = engine.run(request)
    again = engine.run(request)
    assert [r.request.precision for r in first] == ["bf16", "bf16"]
    for a, b in zip(first, again, strict=True):
        assert np.array_equal(a.rgba, b.rgba)
    # The recorded request replays the sample exactly, even after a reload.
    engine.unload()
    assert np.array_equal(engine.run(first[1].request)[0].rgba, first[1].rgba)


def test_a_rerun_uses_the_recorded_cpu_threads(
    engine: Engine, tiny_model_dir: Path, one_torch_thread: None
) -> None:
    """The window's jobs run on one thread and the CLI's on every core; bf16 sums split by
    thread, so a rerun must run on the count the picture was made with."""
    request = _txt2img(tiny_model_dir, steps=6, width=128, height=128, precision="bf16")
    (made,) = engine.run(request)
    assert made.request.option("cpu_threads") == 1
    torch.set_num_threads(2)  # as `overpaint rerun` starts on a 2-core machine
    (again,) = engine.run(made.request)
    assert torch.get_num_threads() == 1 and again.request == made.request
    assert np.array_equal(again.rgba, made.rgba)


def _beyond(mask: np.ndarray, radius: int) -> np.ndarray:
    """Pixels farther than `radius` (Chebyshev, as feather_mask's reach) from the mask."""
    cv2 = import_cv2()
    kernel = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
    return cv2.dilate((mask > 0).astype(np.uint8), kernel) == 0


def test_soft_inpainting_in_bf16_leaves_pixels_beyond_the_feather_bit_identical(
    engine: Engine, tiny_model_dir: Path, one_torch_thread: None
) -> None:
    picture, _truth = disc_picture((40, 90, 200))
    mask = disc_mask(60)
    params = dict(prompt="a green square", seed=1, steps=10, model=str(tiny_model_dir),
                  inpaint_mode="add", soft_edges=True)  # fmt: skip
    job = prepare_job(params, W, H, image_composite(picture), mask=mask, native=256,
                      watermark=False)  # fmt: skip
    request = job.request.replace(precision="bf16")
    assert request.mode == "inpaint" and request.soft_edges and request.mask_blur > 0
    result = engine.run(request, job.inputs)[0]
    assert result.request.precision == "bf16"
    out = apply_patch(picture, result.rgba, result.x, result.y)

    far = _beyond(mask, request.mask_blur)
    box = np.zeros_like(far)
    box[result.y : result.y + result.rgba.shape[0], result.x : result.x + result.rgba.shape[1]] = 1
    assert (far & box).sum() > 10_000  # the patch reaches well beyond the feather
    assert np.array_equal(out[far], picture[far])
    inside = mask > 0
    assert np.abs(out[inside].astype(int) - picture[inside]).mean() > 5  # it did repaint
    # The same job again gives the same pixels.
    assert np.array_equal(engine.run(request, job.inputs)[0].rgba, result.rgba)


def _poison_unet_once(unet: torch.nn.Module) -> tuple[object, list[int]]:
    """A hook making the UNet's next output NaN, once; (its handle, the calls it poisoned)."""
    poisoned: list[int] = []

    def hook(_module: object, _args: object, output: object) -> object:
        if poisoned:
            return output
        poisoned.append(1)
        if isinstance(output, tuple):
            return (torch.full_like(output[0], math.nan), *output[1:])
        output.sample = torch.full_like(output.sample, math.nan)
        return output

    return unet.register_forward_hook(hook), poisoned


def test_nan_in_bf16_runs_the_job_again_in_fp32(
    engine: Engine, tiny_model_dir: Path, caplog: pytest.LogCaptureFixture,
    one_torch_thread: None,
) -> None:  # fmt: skip
    request = _txt2img(tiny_model_dir, steps=6, width=128, height=128, precision="bf16")
    warm = engine.run(request)[0]  # the model is loaded in bf16
    handle, poisoned = _poison_unet_once(engine._base.unet)
    caplog.set_level(logging.WARNING, logger="engine.local.engine")
    try:
        rescued = engine.run(request)[0]
    finally:
        handle.remove()
    assert poisoned == [1]
    assert rescued.request.precision == "fp32" and "Precision: fp32" in rescued.parameters
    messages = [r.getMessage() for r in caplog.records if r.name == "engine.local.engine"]
    assert any(INVALID_LATENTS in m and "running the job again in fp32" in m for m in messages)
    # The rescued job is what fp32 makes of it, and the next bf16 job is bf16 again.
    assert np.array_equal(rescued.rgba, engine.run(request.replace(precision="fp32"))[0].rgba)
    after = engine.run(request)[0]
    assert after.request.precision == "bf16" and np.array_equal(after.rgba, warm.rgba)


def test_nan_in_fp32_fails_the_job_with_the_invalid_numbers_message(
    engine: Engine, tiny_model_dir: Path, one_torch_thread: None
) -> None:
    request = _txt2img(tiny_model_dir, steps=6, width=128, height=128, precision="fp32")
    warm = engine.run(request)[0]
    handle, poisoned = _poison_unet_once(engine._base.unet)
    try:
        with pytest.raises(InvalidNumbers) as caught:
            engine.run(request)
    finally:
        handle.remove()
    assert poisoned == [1] and str(caught.value) == INVALID_LATENTS
    assert np.array_equal(engine.run(request)[0].rgba, warm.rgba)  # and the engine carries on
