"""Live's traced UNet (engine.local.live_unet): the demo model's live jobs run their
UNet steps traced, with the untraced UNet's pixels; a step it cannot trace (extra
inputs, gradients) runs the UNet itself, and a changed attention is traced anew."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.core.paths import RESOURCES
from engine.local import live_unet
from engine.local.engine import Engine
from engine.local.live_unet import TracedUNet
from engine.request import GenerationInputs, GenerationRequest

DEMO = RESOURCES / "models" / "overpaint-demo"


def _picture() -> np.ndarray:
    yy, xx = np.mgrid[:128, :128]
    rgba = np.zeros((128, 128, 4), np.uint8)
    rgba[...] = (40, 60, 200, 255)
    rgba[(yy - 60) ** 2 + (xx - 45) ** 2 < 30**2, :3] = (230, 40, 30)
    return rgba


def _live(precision: str, seed: int, live: bool = True) -> GenerationRequest:
    # What Live asks of the demo: 3 steps of a 0.35 refine, no guidance (editor.ui.live).
    return GenerationRequest(
        mode="img2img", prompt="a large red circle on the left, blue background", seed=seed,
        model=str(DEMO), width=128, height=128, strength=0.35, steps=9, guidance=1.0,
        scheduler="Euler a", precision=precision, options=(("live", live),),
    )  # fmt: skip


def _pixels(engine: Engine, request: GenerationRequest) -> np.ndarray:
    (result,) = engine.run(request, GenerationInputs(image=_picture()))
    return result.rgba


def _live_unet(engine: Engine):
    (pipe,) = engine.warm._live_pipes.values()
    return pipe.unet


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_live_jobs_on_the_demo_run_traced_with_the_untraced_pixels(precision, monkeypatch):
    traced_engine = Engine()
    traced = [_pixels(traced_engine, _live(precision, 5))]
    unet = _live_unet(traced_engine)
    assert isinstance(unet, TracedUNet)
    # The first job did not wait for the trace: at least its first step ran untraced.
    assert unet.traced_steps < 3
    unet.wait_for_traces()
    before = unet.traced_steps
    traced.append(_pixels(traced_engine, _live(precision, 6)))
    assert unet.traces_built == 1  # one input shape: one trace, kept between jobs
    assert unet.traced_steps == before + 3
    # A Generate job on the same loaded model keeps the plain UNet.
    _pixels(traced_engine, _live(precision, 5, live=False))
    assert unet.traced_steps == before + 3

    monkeypatch.setattr(live_unet, "TRACE_MAX_PARAMETERS", 0)  # too big to trace: eager
    plain_engine = Engine()
    plain = [_pixels(plain_engine, _live(precision, seed)) for seed in (5, 6)]
    assert not isinstance(_live_unet(plain_engine), TracedUNet)
    for a, b in zip(traced, plain, strict=True):
        assert np.array_equal(a, b)
    assert not np.array_equal(traced[0], traced[1])


class _Halved:
    """An attention processor that halves the attention output (as a stand-in for what
    regional prompts swap in)."""

    def __init__(self) -> None:
        from diffusers.models.attention_processor import AttnProcessor2_0

        self.inner = AttnProcessor2_0()

    def __call__(
        self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None
    ):
        out = self.inner(attn, hidden_states, encoder_hidden_states, attention_mask, temb)
        return out * 0.5


def _demo_unet_and_inputs(seed: int) -> tuple:
    """The demo's UNet with a random latent and text embedding of Live's size."""
    from diffusers import UNet2DConditionModel

    unet = UNet2DConditionModel.from_pretrained(str(DEMO / "unet")).eval()
    gen = torch.Generator().manual_seed(seed)
    return unet, torch.randn(1, 4, 16, 16, generator=gen), torch.randn(1, 77, 128, generator=gen)


def test_steps_it_cannot_trace_run_the_unet_as_it_is_now() -> None:
    unet, x, text = _demo_unet_and_inputs(0)
    traced = TracedUNet(unet, background=False)  # each new trace made in the step
    with torch.inference_mode():
        t = torch.tensor(300.0)
        plain = unet(x, t, text, return_dict=False)[0]
        assert torch.equal(traced(x, t, text, return_dict=False)[0], plain)
        assert torch.equal(traced(x, t, text).sample, plain)
        assert (traced.traces_built, traced.traced_steps) == (1, 2)
        # An extra input (here a mask on the text tokens; ControlNet residuals come the
        # same way): the UNet itself runs, with it.
        mask = torch.cat([torch.ones(1, 8), torch.zeros(1, 69)], dim=1)
        masked = traced(x, t, text, encoder_attention_mask=mask, return_dict=False)[0]
        want = unet(x, t, text, encoder_attention_mask=mask, return_dict=False)[0]
        assert torch.equal(masked, want)
        assert not torch.equal(want, plain)
        assert traced.traced_steps == 2
        # Attention processors swapped in for a job (regional prompts): that job's steps
        # run the UNet itself, and the trace serves again once its own are back.
        own = unet.attn_processors
        t2 = torch.tensor(200.0)
        before = unet(x, t2, text, return_dict=False)[0]
        unet.set_attn_processor(_Halved())
        swapped = traced(x, t2, text, return_dict=False)[0]
        assert torch.equal(swapped, unet(x, t2, text, return_dict=False)[0])
        assert not torch.equal(swapped, before)
        assert (traced.traces_built, traced.traced_steps) == (1, 2)
        unet.set_attn_processor(own)
        assert torch.equal(traced(x, t, text, return_dict=False)[0], plain)
        assert (traced.traces_built, traced.traced_steps) == (1, 3)
        # A hook added on a module: the next run is traced anew, with it.
        unet.conv_out.register_forward_hook(lambda _m, _i, out: out * 2)
        hooked = traced(x, torch.tensor(400.0), text, return_dict=False)[0]
        assert torch.equal(hooked, unet(x, torch.tensor(400.0), text, return_dict=False)[0])
        assert (traced.traces_built, traced.traced_steps) == (2, 4)
    # With gradients on (training), the UNet itself.
    out = traced(x, t, text, return_dict=False)[0]
    assert out.requires_grad and traced.traced_steps == 4


def test_a_trace_built_meanwhile_has_the_processors_of_the_step_that_asked_for_it() -> None:
    unet, x, text = _demo_unet_and_inputs(1)
    traced = TracedUNet(unet)
    with torch.inference_mode():
        t = torch.tensor(300.0)
        plain = unet(x, t, text, return_dict=False)[0]
        # The step that starts the build runs untraced, with the same result.
        assert torch.equal(traced(x, t, text, return_dict=False)[0], plain)
        assert traced.traced_steps == 0
        # Processors swapped while the trace is being built do not get into it.
        own = unet.attn_processors
        unet.set_attn_processor(_Halved())
        traced.wait_for_traces()
        unet.set_attn_processor(own)
        assert torch.equal(traced(x, t, text, return_dict=False)[0], plain)
        assert (traced.traces_built, traced.traced_steps) == (1, 1)
