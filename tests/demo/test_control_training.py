"""The scribble control's trainer on the demo model, a step at a time: a run cut in two
resumes where it stopped, and the export is the average of the weights folded in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from engine.demo import train_control
from engine.demo.train_control import ControlTrainer


@pytest.mark.usefixtures("one_torch_thread")
def test_a_resumed_run_averages_its_weights_and_exports_the_average(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(train_control, "AVERAGE_FROM", 2)
    monkeypatch.setattr(train_control, "AVERAGE_EVERY", 1)
    work = tmp_path / "work"
    trainer = ControlTrainer(work, seed=0, batch=1, lr=1e-3, model=train_control.DEMO_MODEL)
    seen = []
    for _ in range(2):
        trainer.train_step()
        seen.append({k: v.clone() for k, v in trainer.controlnet.state_dict().items()})
    trainer.save()
    assert json.loads((work / "progress.json").read_text()) == {"step": 2, "averaged": 1}

    again = ControlTrainer(work, seed=0, batch=1, lr=1e-3, model=train_control.DEMO_MODEL)
    assert again.step == 2 and again.averaged == 1
    again.train_step()
    seen.append({k: v.clone() for k, v in again.controlnet.state_dict().items()})
    again.export(tmp_path / "out")

    exported = load_file(str(tmp_path / "out" / "diffusion_pytorch_model.safetensors"))
    meta = json.loads((tmp_path / "out" / "overpaint.json").read_text())
    assert meta["steps"] == 3 and meta["averaged"] == {"from": 2, "every": 1, "count": 2}
    moved = [k for k in exported if not torch.equal(seen[1][k], seen[2][k])]
    assert moved  # training changed the weights, so the mean differs from the last ones
    for key in moved:
        mean = (seen[1][key] + seen[2][key]) / 2
        assert exported[key].dtype == torch.float16
        torch.testing.assert_close(exported[key].float(), mean, atol=2e-3, rtol=2e-3)
    last = [k for k in moved if torch.equal(exported[k], seen[2][k].half())]
    assert len(last) < len(moved) / 2  # not simply the last weights
