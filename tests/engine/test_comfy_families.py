"""ComfyUI graphs of the transformer families, every family in every mode (no server).

Each graph is checked against the vendored ComfyUI 0.3.64's own node definitions
(tests/comfy/nodes_0.3.64.json: node names, required inputs, link types, bounds and
choices, as its /prompt validation checks them), then read for what makes the family:
its loaders, its shift, how it takes guidance and how it sees the picture it repaints.
"""

from __future__ import annotations

import pytest

from engine.comfy.engine import native_size
from engine.comfy.modern_workflow import build_modern_workflow
from engine.comfy.server_models import (
    Parts,
    ServerModel,
    check_family,
    family_from_name,
    find_model,
    pick_parts,
    server_models,
)
from engine.comfy.workflow import WorkflowPlan, build_workflow, nodes_needed
from engine.control.spec import ControlSpec
from engine.core.errors import InvalidRequestError, ModelError
from engine.reference.spec import ReferenceSpec
from tests.comfy.graphs import (
    ENCODERS,
    FILES,
    VAES,
    family_modes,
    graph_request,
    linked,
    modern_plan,
    server_model,
    upstream,
)
from tests.comfy.node_schema import graph_problems, load_schema

SCHEMA = load_schema()


@pytest.mark.parametrize("loader", ["diffusion_model", "checkpoint"])
@pytest.mark.parametrize(("key", "mode"), family_modes())
def test_every_family_and_mode_builds_a_graph_the_vendored_comfyui_accepts(
    key: str, mode: str, loader: str
) -> None:
    graph = build_modern_workflow(graph_request(mode), modern_plan(key, mode, loader))
    assert graph_problems(graph, SCHEMA) == []
    assert linked(graph, "result", "images") == "decode"
    sampler = graph["sampler"]["inputs"]
    assert sampler["seed"] == 9
    # img2img and the repaints run strength of the steps; txt2img and Edit run them all.
    assert sampler["steps"] == (20 if mode in ("txt2img", "edit") else 12)
    assert sampler["denoise"] == (1.0 if mode in ("txt2img", "edit") else 0.6)
    if loader == "checkpoint":
        assert {"UNETLoader", "VAELoader"}.isdisjoint(nodes_needed(graph))
        assert graph["ckpt"]["inputs"]["ckpt_name"] == FILES[key]
    else:
        assert graph["unet"]["inputs"] == {"unet_name": FILES[key], "weight_dtype": "default"}
    latent = graph[linked(graph, "sampler", "latent_image")]["class_type"]
    expected = {"txt2img": "EmptySD3LatentImage", "edit": "EmptySD3LatentImage",
                "img2img": "VAEEncode"}.get(mode, "InpaintModelConditioning")  # fmt: skip
    assert latent == expected


def test_the_sd_graphs_pass_the_same_check() -> None:
    plan = WorkflowPlan("sd15.safetensors", 512, 512, "euler", "normal", "p.png", "m.png")
    graph = build_workflow(graph_request("inpaint", guidance=7.0), plan)
    assert graph_problems(graph, SCHEMA) == []


def test_the_checker_finds_what_comfyui_would_refuse() -> None:
    graph = build_modern_workflow(graph_request("txt2img"), modern_plan("sd3", "txt2img"))
    graph["latent"]["inputs"]["width"] = 8  # below EmptySD3LatentImage's minimum
    graph["sampler"]["inputs"]["model"] = ["clip", 0]  # a CLIP where a MODEL goes
    graph["sampler"]["inputs"]["scheduler"] = "sgm"
    del graph["shift"]["inputs"]["shift"]
    problems = "\n".join(graph_problems(graph, SCHEMA))
    assert "width: 8 is outside" in problems
    assert "gets CLIP where it takes MODEL" in problems
    assert "'sgm' is not one of" in problems
    assert "required input shift missing" in problems


def test_flux_dev_takes_distilled_guidance_a_resolution_shift_and_both_encoders() -> None:
    graph = build_modern_workflow(graph_request("txt2img"), modern_plan("flux", "txt2img"))
    assert graph["clip"]["class_type"] == "DualCLIPLoader"
    assert graph["clip"]["inputs"] == {"clip_name1": "clip_l.safetensors",
                                       "clip_name2": "t5xxl_fp16.safetensors", "type": "flux"}  # fmt: skip
    assert graph["vae"]["inputs"] == {"vae_name": "ae.safetensors"}
    assert graph["sampler"]["inputs"]["cfg"] == 1.0
    assert upstream(graph, "sampler", "positive") == ["FluxGuidance", "CLIPTextEncode",
                                                        "DualCLIPLoader"]  # fmt: skip
    assert graph["guidance"]["inputs"]["guidance"] == 3.5
    # A distilled model takes no negative prompt: the empty one is ignored at CFG 1.
    assert graph["negative"]["inputs"]["text"] == ""
    shift = graph["shift"]["inputs"]
    assert graph["shift"]["class_type"] == "ModelSamplingFlux"
    assert (shift["width"], shift["height"], shift["max_shift"]) == (1024, 768, 1.15)


def test_flux_schnell_takes_no_guidance_and_no_shift() -> None:
    graph = build_modern_workflow(graph_request("txt2img"), modern_plan("flux-schnell", "txt2img"))
    kinds = nodes_needed(graph)
    assert "FluxGuidance" not in kinds and "ModelSamplingFlux" not in kinds
    assert graph["sampler"]["inputs"]["cfg"] == 1.0
    assert linked(graph, "sampler", "model") == "unet"


def test_cfg_families_take_the_negative_prompt_and_their_shift() -> None:
    for key, shift_node, shift, clip_type in (
        ("sd3", "ModelSamplingSD3", 3.0, None),
        ("qwen-image", "ModelSamplingAuraFlow", 3.1, "qwen_image"),
    ):
        graph = build_modern_workflow(
            graph_request("txt2img", guidance=4.5), modern_plan(key, "txt2img")
        )
        assert graph["sampler"]["inputs"]["cfg"] == 4.5
        assert graph["negative"]["inputs"]["text"] == "fog"
        assert "FluxGuidance" not in nodes_needed(graph)
        assert graph["shift"]["class_type"] == shift_node
        assert graph["shift"]["inputs"]["shift"] == shift
        if clip_type:
            assert graph["clip"]["inputs"]["type"] == clip_type
    sd3 = build_modern_workflow(graph_request("txt2img"), modern_plan("sd3", "txt2img"))
    assert sd3["clip"]["class_type"] == "TripleCLIPLoader"
    assert sd3["vae"]["inputs"]["vae_name"] == "sd3_vae.safetensors"
    chroma = build_modern_workflow(graph_request("txt2img"), modern_plan("chroma", "txt2img"))
    assert chroma["clip"]["inputs"] == {"clip_name": "t5xxl_fp16.safetensors", "type": "chroma"}
    assert "shift" not in chroma and chroma["sampler"]["inputs"]["cfg"] == 3.5


def test_a_requested_shift_replaces_the_familys() -> None:
    # SD 3.5 counts time in thousandths, the others in [0, 1]: each gets its clock's node.
    for key, kind in (("sd3", "ModelSamplingSD3"), ("flux", "ModelSamplingAuraFlow"),
                      ("chroma", "ModelSamplingAuraFlow"), ("qwen-image", "ModelSamplingAuraFlow"),
                      ("flux-schnell", "ModelSamplingAuraFlow")):  # fmt: skip
        graph = build_modern_workflow(
            graph_request("txt2img", shift=5.0), modern_plan(key, "txt2img")
        )
        assert graph["shift"]["class_type"] == kind
        assert graph["shift"]["inputs"]["shift"] == 5.0
        assert linked(graph, "sampler", "model") == "shift"


def test_inpaint_hands_the_picture_and_mask_to_inpaint_conditioning() -> None:
    for key in ("flux-fill", "sd3", "qwen-image", "chroma"):
        graph = build_modern_workflow(graph_request("inpaint"), modern_plan(key, "inpaint"))
        inputs = graph["inpaint"]["inputs"]
        assert (linked(graph, "inpaint", "pixels"), linked(graph, "inpaint", "mask")) == (
            "image", "mask",
        )  # fmt: skip
        assert inputs["noise_mask"] is True
        assert graph["mask"]["inputs"] == {"image": "mask.png", "channel": "red"}
        assert graph["sampler"]["inputs"]["positive"] == ["inpaint", 0]
        assert graph["sampler"]["inputs"]["negative"] == ["inpaint", 1]
        assert linked(graph, "sampler", "model") == "differential"
    hard = build_modern_workflow(
        graph_request("inpaint", soft_edges=False), modern_plan("flux-fill", "inpaint")
    )
    assert "DifferentialDiffusion" not in nodes_needed(hard)
    # Fill's guidance reaches the inpaint conditioning, which carries it to the sampler.
    fill = build_modern_workflow(
        graph_request("outpaint", guidance=30.0), modern_plan("flux-fill", "outpaint")
    )
    assert linked(fill, "inpaint", "positive") == "guidance"
    assert fill["guidance"]["inputs"]["guidance"] == 30.0


def test_kontext_sees_the_picture_and_each_reference_through_reference_latents() -> None:
    plan = modern_plan("flux-kontext", "edit", references=("ref0.png", "ref1.png"))
    graph = build_modern_workflow(graph_request("edit", prompt="make it night"), plan)
    assert upstream(graph, "sampler", "positive") == [
        "FluxGuidance", "ReferenceLatent", "ReferenceLatent", "ReferenceLatent",
        "CLIPTextEncode", "DualCLIPLoader",
    ]  # fmt: skip
    encoded = [linked(graph, f"reference_latent{i}", "pixels") for i in range(3)]
    assert encoded == ["image", "reference0", "reference1"]
    assert graph["reference1"]["inputs"] == {"image": "ref1.png"}
    assert graph["positive"]["inputs"]["text"] == "make it night"
    assert graph["latent"]["inputs"] == {"width": 1024, "height": 768, "batch_size": 1}
    # img2img starts from the picture as FLUX does, without a reference (as locally).
    img2img = build_modern_workflow(
        graph_request("img2img"), modern_plan("flux-kontext", "img2img")
    )
    assert "ReferenceLatent" not in nodes_needed(img2img)
    inpaint = build_modern_workflow(
        graph_request("inpaint"), modern_plan("flux-kontext", "inpaint")
    )
    assert linked(inpaint, "reference0_conditioning", "conditioning") == "positive"


def test_qwen_image_edit_encodes_the_instruction_with_the_pictures() -> None:
    graph = build_modern_workflow(graph_request("edit"), modern_plan("qwen-image-edit", "edit"))
    for node in ("positive", "negative"):
        assert graph[node]["class_type"] == "TextEncodeQwenImageEdit"
        assert linked(graph, node, "image") == "image"
        assert linked(graph, node, "vae") == "vae"
    assert graph["negative"]["inputs"]["prompt"] == "fog"
    assert graph["shift"]["class_type"] == "ModelSamplingAuraFlow"
    plus = build_modern_workflow(
        graph_request("edit"),
        modern_plan("qwen-image-edit-plus", "edit", references=("r0.png", "r1.png")),
    )
    inputs = plus["positive"]["inputs"]
    assert plus["positive"]["class_type"] == "TextEncodeQwenImageEditPlus"
    assert [inputs[f"image{i}"][0] for i in (1, 2, 3)] == ["image", "reference0", "reference1"]
    with pytest.raises(InvalidRequestError, match=r"^Qwen-Image-Edit takes no reference "
                       r"pictures besides the one it edits; hide the reference layers"):  # fmt: skip
        build_modern_workflow(
            graph_request("edit", references=(ReferenceSpec(),)),
            modern_plan("qwen-image-edit", "edit", references=("r0.png",)),
        )
    with pytest.raises(InvalidRequestError, match=r"^FLUX\.1 Kontext takes at most 1 reference "
                       r"picture, not 2; hide 1 of the reference layers\.$"):  # fmt: skip
        build_modern_workflow(
            graph_request("edit", references=(ReferenceSpec(), ReferenceSpec())),
            modern_plan("flux-kontext", "edit", references=("r0.png", "r1.png")),
        )


def test_loras_chain_between_the_loaders_and_the_shift() -> None:
    plan = modern_plan("flux", "txt2img", loras=(("flux-style.safetensors", 0.7),))
    graph = build_modern_workflow(graph_request("txt2img"), plan)
    assert graph["lora0"]["inputs"]["lora_name"] == "flux-style.safetensors"
    assert linked(graph, "lora0", "model") == "unet"
    assert linked(graph, "lora0", "clip") == "clip"
    assert linked(graph, "shift", "model") == "lora0"
    assert linked(graph, "positive", "clip") == "lora0"


def test_what_the_graphs_cannot_do_is_one_sentence() -> None:
    with pytest.raises(InvalidRequestError, match=r"^flux1-fill-dev\.safetensors is a FLUX\.1 "
                       r"Fill model and can only inpaint or outpaint; choose a regular model "
                       r"for txt2img\.$"):  # fmt: skip
        build_modern_workflow(graph_request("txt2img"), modern_plan("flux-fill", "inpaint"))
    with pytest.raises(InvalidRequestError, match=r"^sd3\.5_medium\.safetensors is a SD 3\.5 "
                       r"model, which cannot edit by instruction; pick a FLUX\.1 Kontext or "
                       r"Qwen-Image-Edit model for Edit\.$"):  # fmt: skip
        build_modern_workflow(graph_request("edit"), modern_plan("sd3", "img2img"))
    with pytest.raises(InvalidRequestError, match="Control layers do not run with FLUX.1"):
        build_modern_workflow(
            graph_request("txt2img", controls=(ControlSpec("scribble"),)),
            modern_plan("flux", "txt2img"),
        )


@pytest.mark.parametrize(
    ("name", "family"),
    [
        ("flux1-dev.safetensors", "flux"),
        ("flux1-schnell.safetensors", "flux"),
        ("flux1-krea-dev_fp8_scaled.safetensors", "flux"),
        ("flux1-fill-dev-Q4_K_S.gguf", "flux-fill"),
        ("flux1-kontext-dev.safetensors", "flux-kontext"),
        ("sd3.5_large.safetensors", "sd3"),
        ("sd3.5_medium_incl_clips_t5xxlfp8scaled.safetensors", "sd3"),
        ("qwen_image_fp8_e4m3fn.safetensors", "qwen-image"),
        ("qwen_image_edit_fp8_e4m3fn.safetensors", "qwen-image-edit"),
        ("qwen_image_edit_2509_fp8_e4m3fn.safetensors", "qwen-image-edit-plus"),
        ("chroma/Chroma1-HD.safetensors", "chroma"),
        ("z_image_turbo_bf16.safetensors", "z-image"),
        ("flux-2-klein-4b.safetensors", "flux2-klein"),
        ("sd_xl_base_1.0.safetensors", "sdxl"),
        ("v1-5-pruned-emaonly.safetensors", None),
    ],
)
def test_families_are_told_from_published_file_names(name: str, family: str | None) -> None:
    assert family_from_name(name) == family


def test_the_server_list_is_grouped_by_family() -> None:
    models = server_models(
        ("dream.safetensors", "flux1-dev-fp8.safetensors", "sd_xl_base_1.0.safetensors"),
        ("qwen_image_fp8.safetensors", "mystery.safetensors", "flux1-kontext-dev.safetensors"),
    )
    assert [(m.label, m.name, m.loader) for m in models] == [
        ("SD 1.x / 2.x", "dream.safetensors", "checkpoint"),
        ("SDXL", "sd_xl_base_1.0.safetensors", "checkpoint"),
        ("FLUX.1", "flux1-dev-fp8.safetensors", "checkpoint"),
        ("FLUX.1 Kontext", "flux1-kontext-dev.safetensors", "diffusion_model"),
        ("Qwen-Image", "qwen_image_fp8.safetensors", "diffusion_model"),
    ]  # a diffusion model whose name names no family is left out


def test_models_are_found_by_name_and_a_nameless_family_is_one_sentence() -> None:
    checkpoints, unets = ("sd15.safetensors",), ("flux1-dev.safetensors", "mystery.safetensors")
    assert find_model("", checkpoints, unets, "u") == ServerModel("sd15.safetensors", "sd1",
                                                                  "checkpoint")  # fmt: skip
    assert find_model("flux1-dev", checkpoints, unets, "u").loader == "diffusion_model"
    assert find_model("", (), unets, "u").name == "flux1-dev.safetensors"
    with pytest.raises(ModelError, match=r"^Overpaint cannot tell the family of the diffusion "
                       r"model 'mystery\.safetensors' on the ComfyUI server at u from its "
                       r"name; rename it"):  # fmt: skip
        find_model("mystery", checkpoints, unets, "u")
    with pytest.raises(ModelError, match=r"has no model named 'nope'; it offers: sd15"):
        find_model("nope", checkpoints, unets, "u")


def test_a_missing_part_names_it_and_its_folder() -> None:
    flux = server_model("flux")
    with pytest.raises(ModelError, match=r"^The ComfyUI server at u has no T5-XXL text encoder "
                       r"for FLUX\.1 \(such as t5xxl_fp16\.safetensors in its "
                       r"models/text_encoders folder\)\.$"):  # fmt: skip
        pick_parts(flux, ("clip_l.safetensors",), VAES, "u")
    with pytest.raises(ModelError, match=r"no Qwen-Image VAE for Qwen-Image \(such as "
                       r"qwen_image_vae\.safetensors in its models/vae folder\)\.$"):  # fmt: skip
        pick_parts(server_model("qwen-image"), ENCODERS, ("ae.safetensors",), "u")
    # FLUX.2's VAE is not FLUX.1's.
    assert pick_parts(server_model("flux"), ENCODERS, ("flux2-vae.safetensors", "flux_vae.sft"),
                      "u").vae == "flux_vae.sft"  # fmt: skip
    # VAELoader's built-in previews are not a family's VAE.
    with pytest.raises(ModelError, match=r"no SD 3\.5 VAE for SD 3\.5"):
        pick_parts(server_model("sd3"), ENCODERS, ("pixel_space", "taesd3", "taef1"), "u")
    # SD 3.5 runs with the encoders there are (ComfyUI fills in the rest).
    assert pick_parts(server_model("sd3"), ("clip_l.safetensors",), VAES, "u") == Parts(
        ("clip_l.safetensors",), "sd3", "sd3_vae.safetensors"
    )


def test_the_native_side_follows_the_family_the_name_tells() -> None:
    assert [native_size(n) for n in ("dream.safetensors", "ponyDiffusion.safetensors",
                                     "flux1-dev.safetensors", "qwen_image.safetensors")] == [
        512, 1024, 1024, 1024,
    ]  # fmt: skip


def test_families_newer_than_comfyui_0_3_64_are_one_sentence() -> None:
    z = ServerModel("z_image_turbo_bf16.safetensors", "z-image", "diffusion_model")
    with pytest.raises(ModelError, match=r"^Z-Image models do not run on ComfyUI servers from "
                       r"Overpaint yet .*server at http://h runs 0\.3\.64\); run "
                       r"z_image_turbo_bf16\.safetensors with the local engine instead\.$"):  # fmt: skip
        check_family(z, "http://h", "0.3.64")
    klein = ServerModel("flux-2-klein-4b.safetensors", "flux2-klein", "diffusion_model")
    with pytest.raises(ModelError, match=r"^FLUX\.2 Klein models do not run on ComfyUI"):
        check_family(klein, "http://h", "0.3.64")
