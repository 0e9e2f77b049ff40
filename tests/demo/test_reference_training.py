"""The demo reference adapter's trainer, a step at a time: a run cut in two is the run
in one piece, and its export is a plain IP-Adapter plus encoder that the engine finds,
pairs and loads like any other."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from engine.demo import train_reference
from engine.demo.train_reference import ReferenceTrainer, reference_sample
from engine.reference.adapters import choose_adapter, unet_widths


def _trainer(work: Path) -> ReferenceTrainer:
    return ReferenceTrainer(work, seed=0, batch=1, lr=1e-3, model=train_reference.DEMO_MODEL)


def test_pairs_share_what_but_not_where() -> None:
    from engine.demo.evaluate import read_picture

    for index in range(6):
        reference, target, scene = reference_sample(0, index)
        seen, wanted = read_picture(reference), read_picture(target)
        assert (seen.colour, seen.kind, seen.background) == (
            scene.colour, scene.kind, scene.background,
        )  # fmt: skip
        assert (wanted.colour, wanted.kind, wanted.background) == (
            scene.colour, scene.kind, scene.background,
        )  # fmt: skip
        ys, xs = np.nonzero(np.abs(target.astype(int) - target[0, 0].astype(int)).sum(-1) > 60)
        centre = (xs.mean() / target.shape[1], ys.mean() / target.shape[0])
        assert np.hypot(centre[0] - scene.cx, centre[1] - scene.cy) > 0.05


def test_two_chunks_equal_one_run_and_the_export_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The second step also runs the extra classification batch.
    monkeypatch.setattr(train_reference, "CLASSIFY_FROM", 1)
    monkeypatch.setattr(train_reference, "CLASSIFY_BATCH", 2)
    whole = _trainer(tmp_path / "whole")
    whole.train_step()
    whole.train_step()

    first = _trainer(tmp_path / "cut")
    first.train_step()
    first.save()
    second = _trainer(tmp_path / "cut")
    assert second.step == 1
    second.train_step()
    for (key, a), b in zip(
        whole.trainable.state_dict().items(), second.trainable.state_dict().values(), strict=True
    ):
        torch.testing.assert_close(a, b, msg=key)
    for key, value in whole.average.items():
        torch.testing.assert_close(value, second.average[key], msg=key)

    models = tmp_path / "models"
    path, encoder = second.export(models)
    assert json.loads((encoder / "overpaint.json").read_text())["steps"] == 2
    tensors = load_file(str(path))
    assert all(v.dtype == torch.float16 for v in tensors.values())
    average = second.average
    torch.testing.assert_close(
        tensors["image_proj.proj.weight"].float(),
        average["adapter.proj.image_projection_layers.0.image_embeds.weight"],
        atol=2e-3, rtol=2e-3,
    )  # fmt: skip

    unet = second.pipe.unet
    widths = unet_widths(dict(unet.config), list(unet.attn_processors))
    found = choose_adapter("", "overpaint-demo", "demo", widths, [models])
    assert found.path == path and found.encoder == encoder
    assert found.shape.embeds == 128 and not found.shape.hidden
