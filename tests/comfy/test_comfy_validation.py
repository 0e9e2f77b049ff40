"""Every graph Overpaint sends, for every family and mode, passes the vendored ComfyUI
0.3.64's own `/prompt` validation (tests/comfy/comfy_validate.py, run in its venv without
a server): the graph tests' node-definition check, confirmed by ComfyUI itself."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from engine.comfy.modern_workflow import build_modern_workflow
from engine.comfy.redux import ReduxPlan
from engine.comfy.workflow import ControlPlan, WorkflowPlan, build_workflow
from engine.reference.spec import ReferenceSpec
from engine.request import GenerationRequest
from tests.comfy import comfy_validate
from tests.comfy.graphs import family_modes, graph_request, modern_plan

pytestmark = pytest.mark.timeout(600)


def _graphs() -> dict[str, dict]:
    graphs = {}
    for key, mode in family_modes():
        for loader in ("diffusion_model", "checkpoint"):
            for soft in (True, False):
                request = graph_request(mode, soft_edges=soft)
                plan = modern_plan(key, mode, loader, references=("r0.png",) * (mode == "edit"))
                if key == "qwen-image-edit":
                    plan = modern_plan(key, mode, loader)
                graphs[f"{key} {mode} {loader} soft={soft}"] = build_modern_workflow(request, plan)
    flux_lora = modern_plan("flux", "inpaint", loras=(("style.safetensors", 0.8),))
    graphs["flux inpaint lora"] = build_modern_workflow(graph_request("inpaint"), flux_lora)
    for key, mode in (("flux", "txt2img"), ("flux-fill", "inpaint"), ("flux-kontext", "img2img")):
        redux = ReduxPlan("flux1-redux-dev.safetensors", "sigclip_vision_patch14_384.safetensors",
                          (("r0.png", 1.0), ("r1.png", 0.5)))  # fmt: skip
        request = graph_request(mode, references=(ReferenceSpec(), ReferenceSpec(weight=0.5)))
        graphs[f"{key} {mode} redux"] = build_modern_workflow(
            request, modern_plan(key, mode, redux=redux)
        )
    graphs["sd3 shift"] = build_modern_workflow(
        graph_request("txt2img", shift=4.0), modern_plan("sd3", "txt2img")
    )
    sd = WorkflowPlan("sd15.safetensors", 512, 512, "euler", "normal", "p.png", "m.png",
                      (("l.safetensors", 0.5),), (ControlPlan("c.pth", "c.png", 1, 0, 1),))  # fmt: skip
    graphs["sd15 inpaint lora control"] = build_workflow(GenerationRequest("inpaint"), sd)
    return graphs


def test_comfyui_itself_accepts_every_graph(comfy_cache: Path, tmp_path: Path) -> None:
    graphs = _graphs()
    # One graph ComfyUI must refuse, so an accepting answer means it looked.
    broken = build_modern_workflow(graph_request("txt2img"), modern_plan("flux", "txt2img"))
    broken["sampler"]["inputs"]["model"] = ["clip", 0]
    graphs["broken"] = broken
    comfy_validate.stand_ins(list(graphs.values()), tmp_path / "base")
    (tmp_path / "graphs.json").write_text(json.dumps(list(graphs.values())))
    done = subprocess.run(
        [str(comfy_cache / "comfyui-venv" / "bin" / "python"), comfy_validate.__file__,
         str(comfy_cache / "ComfyUI"), str(tmp_path / "graphs.json"), str(tmp_path / "base")],
        capture_output=True, text=True, timeout=500,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    refused = {
        name: (result["error"], result["node_errors"])
        for name, result in zip(graphs, results, strict=True)
        if not result["valid"]
    }
    assert list(refused) == ["broken"], refused
    assert "Return type mismatch" in json.dumps(refused["broken"])
    assert len(graphs) > 100
