"""The ComfyUI workflow builder: graphs per mode, samplers, file matching (no server)."""

from __future__ import annotations

import pytest

from engine.comfy.engine import native_size, pick_file
from engine.comfy.samplers import comfy_sampler
from engine.comfy.server import parse_version, plain_http_warning
from engine.comfy.workflow import (
    ControlPlan,
    WorkflowPlan,
    build_workflow,
    nodes_needed,
    sampling_steps,
    workflow_hash,
)
from engine.core.errors import InvalidRequestError, ModelError
from engine.request import GenerationRequest

PLAN = WorkflowPlan("sd15.safetensors", 512, 384, "euler_ancestral", "normal")


def _linked(graph: dict, node: str, name: str) -> str:
    """The id of the node feeding input `name` of `node`."""
    value = graph[node]["inputs"][name]
    assert isinstance(value, list), f"{node}.{name} is not a link: {value!r}"
    return value[0]


def test_txt2img_graph_samples_an_empty_latent_at_the_plan_size() -> None:
    request = GenerationRequest("txt2img", prompt="a cat", negative_prompt="dog", seed=7,
                                steps=12, guidance=5.5)  # fmt: skip
    graph = build_workflow(request, PLAN)
    assert nodes_needed(graph) == {
        "CheckpointLoaderSimple", "CLIPTextEncode", "EmptyLatentImage", "KSampler",
        "VAEDecode", "PreviewImage",
    }  # fmt: skip
    assert graph["latent"]["inputs"] == {"width": 512, "height": 384, "batch_size": 1}
    sampler = graph["sampler"]["inputs"]
    assert (sampler["seed"], sampler["steps"], sampler["cfg"], sampler["denoise"]) == (
        7, 12, 5.5, 1.0,
    )  # fmt: skip
    assert (sampler["sampler_name"], sampler["scheduler"]) == ("euler_ancestral", "normal")
    assert graph[_linked(graph, "sampler", "positive")]["inputs"]["text"] == "a cat"
    assert graph[_linked(graph, "sampler", "negative")]["inputs"]["text"] == "dog"
    assert _linked(graph, "sampler", "latent_image") == "latent"
    assert _linked(graph, "result", "images") == "decode"


def test_img2img_encodes_the_uploaded_picture_and_runs_strength_of_the_steps() -> None:
    request = GenerationRequest("img2img", steps=20, strength=0.5)
    plan = WorkflowPlan(**{**PLAN.__dict__, "image": "pic.png"})
    graph = build_workflow(request, plan)
    assert graph["image"] == {"class_type": "LoadImage", "inputs": {"image": "pic.png"}}
    assert _linked(graph, "sampler", "latent_image") == "encode"
    assert _linked(graph, "encode", "pixels") == "image"
    assert graph["sampler"]["inputs"]["denoise"] == 0.5
    # ComfyUI runs `steps` of a steps/denoise schedule: 10 of 20, as diffusers would.
    assert graph["sampler"]["inputs"]["steps"] == sampling_steps(request) == 10
    assert "mask" not in graph and "DifferentialDiffusion" not in nodes_needed(graph)


def test_soft_inpaint_masks_the_latent_and_routes_the_model_through_differential_diffusion() -> (
    None
):
    request = GenerationRequest("inpaint", steps=10, strength=1.0, soft_edges=True)
    plan = WorkflowPlan(**{**PLAN.__dict__, "image": "pic.png", "mask": "mask.png"})
    graph = build_workflow(request, plan)
    assert graph["mask"]["inputs"] == {"image": "mask.png", "channel": "red"}
    assert _linked(graph, "sampler", "latent_image") == "noise_mask"
    assert _linked(graph, "noise_mask", "samples") == "encode"
    assert _linked(graph, "noise_mask", "mask") == "mask"
    assert _linked(graph, "sampler", "model") == "differential"
    assert _linked(graph, "differential", "model") == "ckpt"


def test_hard_edged_inpaint_and_outpaint_keep_the_plain_model() -> None:
    plan = WorkflowPlan(**{**PLAN.__dict__, "image": "pic.png", "mask": "mask.png"})
    hard = build_workflow(GenerationRequest("inpaint", soft_edges=False), plan)
    assert _linked(hard, "sampler", "model") == "ckpt"
    out = build_workflow(GenerationRequest("outpaint"), plan)
    assert _linked(out, "sampler", "latent_image") == "noise_mask"


def test_loras_chain_after_the_checkpoint_and_feed_model_and_text_encoder() -> None:
    plan = WorkflowPlan(**{**PLAN.__dict__, "loras": (("a.safetensors", 0.8), ("b.pt", -0.5))})
    graph = build_workflow(GenerationRequest("txt2img", prompt="x"), plan)
    assert graph["lora0"]["inputs"]["lora_name"] == "a.safetensors"
    assert graph["lora0"]["inputs"]["strength_model"] == 0.8
    assert graph["lora1"]["inputs"]["strength_clip"] == -0.5
    assert _linked(graph, "lora1", "model") == "lora0"
    assert _linked(graph, "sampler", "model") == "lora1"
    assert _linked(graph, "positive", "clip") == "lora1"


def test_controls_apply_to_both_conditionings_in_order() -> None:
    controls = (
        ControlPlan("canny.safetensors", "c0.png", 0.7, 0.0, 0.8),
        ControlPlan("depth.pth", "c1.png", 1.2, 0.1, 1.0),
    )
    plan = WorkflowPlan(**{**PLAN.__dict__, "controls": controls})
    graph = build_workflow(GenerationRequest("txt2img"), plan)
    apply0 = graph["control0"]["inputs"]
    assert (apply0["strength"], apply0["start_percent"], apply0["end_percent"]) == (0.7, 0.0, 0.8)
    assert graph["control_net1"]["inputs"]["control_net_name"] == "depth.pth"
    assert graph["control_image1"]["inputs"]["image"] == "c1.png"
    assert _linked(graph, "control1", "positive") == "control0"
    assert graph["sampler"]["inputs"]["positive"] == ["control1", 0]
    assert graph["sampler"]["inputs"]["negative"] == ["control1", 1]


def test_the_graph_and_its_hash_are_a_function_of_the_request() -> None:
    a = GenerationRequest("txt2img", prompt="p", seed=3)
    assert build_workflow(a, PLAN) == build_workflow(a, PLAN)
    assert workflow_hash(build_workflow(a, PLAN)) == workflow_hash(build_workflow(a, PLAN))
    other = workflow_hash(build_workflow(a.replace(seed=4), PLAN))
    assert other != workflow_hash(build_workflow(a, PLAN))
    assert len(other) == 10


def test_sampler_names_map_to_comfy_pairs_and_a_missing_one_is_one_sentence() -> None:
    assert comfy_sampler("dpm++ 2m karras", "http://h") == ("dpmpp_2m", "karras")
    assert comfy_sampler("Euler a", "http://h", ["euler_ancestral"], ["normal"])[0] == (
        "euler_ancestral"
    )
    with pytest.raises(InvalidRequestError, match=r"^The ComfyUI server at http://h has no "
                       r"sampler for TCD; choose another sampler\.$"):  # fmt: skip
        comfy_sampler("TCD", "http://h")
    with pytest.raises(InvalidRequestError, match="no sampler for UniPC"):
        comfy_sampler("UniPC", "http://h", ["euler"], ["normal"])


def test_models_are_matched_by_file_name_or_stem_and_a_missing_one_lists_the_offer() -> None:
    offered = ["sd15/dream.safetensors", "base.ckpt"]
    assert pick_file("", offered, "checkpoint", "http://h") == "sd15/dream.safetensors"
    assert pick_file("/home/me/models/base.ckpt", offered, "checkpoint", "u") == "base.ckpt"
    assert pick_file("Dream", offered, "checkpoint", "u") == "sd15/dream.safetensors"
    with pytest.raises(ModelError, match=r"^The ComfyUI server at http://h has no checkpoint "
                       r"named 'other.safetensors'; it offers: sd15/dream"):  # fmt: skip
        pick_file("other.safetensors", offered, "checkpoint", "http://h")
    assert native_size("sd_xl_base_1.0.safetensors") == 1024
    assert native_size("dream.safetensors") == 512


def test_versions_and_plain_http_warnings() -> None:
    assert parse_version("0.3.64") == (0, 3, 64)
    assert parse_version("v1.2rc1") == (1, 2)
    assert plain_http_warning("http://127.0.0.1:8188") is None
    assert plain_http_warning("https://gpu.example.org") is None
    warning = plain_http_warning("http://192.168.1.20:8188")
    assert warning is not None and "unencrypted" in warning


def test_a_dead_server_fails_fast_with_one_sentence_naming_it(tmp_path) -> None:
    import re
    import time

    from engine.comfy.engine import ComfyEngine
    from engine.core.errors import EngineError
    from tests.comfy.servers import free_port

    url = f"http://127.0.0.1:{free_port()}"
    start = time.monotonic()
    with pytest.raises(EngineError) as caught:
        ComfyEngine([url]).run(GenerationRequest("txt2img", steps=2, width=64, height=64))
    assert time.monotonic() - start <= 10
    sentence = str(caught.value)
    assert re.fullmatch(rf"Could not reach the ComfyUI server at {url} \([a-z ]+\)\.", sentence)


def test_the_cli_with_a_dead_server_prints_one_sentence(tmp_path, capsys) -> None:
    from engine.cli.commands import main
    from tests.comfy.servers import free_port

    url = f"http://127.0.0.1:{free_port()}"
    code = main(["txt2img", "--prompt", "x", "--server", url, "--out", str(tmp_path / "o.png"),
                 "--no-history"])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and not (tmp_path / "o.png").exists()
    assert len(err) == 1 and err[0].endswith(f"Could not reach the ComfyUI server at {url} "
                                             "(connection refused).")  # fmt: skip
