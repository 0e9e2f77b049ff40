"""Reference layers outside Edit on ComfyUI servers (no server): FLUX.1 models take them
through core Redux nodes, checked against the vendored ComfyUI 0.3.64's node definitions;
what Redux cannot do, and every other family, is one sentence before anything is uploaded
(IP-Adapter is not a core node)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.comfy.engine import _Job
from engine.comfy.modern_workflow import build_modern_workflow
from engine.comfy.redux import ReduxPlan
from engine.comfy.server import ComfyServer, ServerInfo
from engine.comfy.workflow import nodes_needed
from engine.core.errors import InvalidRequestError, ModelError
from engine.core.images import picture_hash
from engine.reference.spec import ReferenceSpec
from engine.request import GenerationInputs, GenerationRequest
from tests.comfy.graphs import graph_request, linked, modern_plan, upstream
from tests.comfy.node_schema import graph_problems, load_schema

PICTURE = np.full((32, 32, 4), 200, np.uint8)
SCHEMA = load_schema()
STYLE, VISION = "flux1-redux-dev.safetensors", "sigclip_vision_patch14_384.safetensors"
ENCODERS = ("clip_l.safetensors", "t5xxl_fp16.safetensors")


def _info(
    checkpoints: tuple[str, ...] = (),
    diffusion_models: tuple[str, ...] = (),
    style_models: tuple[str, ...] = (STYLE,),
    clip_visions: tuple[str, ...] = ("clip_vision_h.safetensors", VISION),
) -> ServerInfo:
    return ServerInfo(
        "http://127.0.0.1:9", "0.3.64", "cpu", frozenset(SCHEMA), checkpoints, (), (), ("euler",),
        ("normal",), diffusion_models=diffusion_models, text_encoders=ENCODERS,
        vaes=("ae.safetensors",), style_models=style_models, clip_visions=clip_visions,
    )  # fmt: skip


def _job(model: str, info: ServerInfo, *specs: ReferenceSpec, mode: str = "txt2img") -> _Job:
    specs = specs or (ReferenceSpec(),)
    request = GenerationRequest(
        mode, prompt="a park", steps=2, width=64, height=64, model=model, references=specs,
        scheduler="Euler",
    )  # fmt: skip
    inputs = GenerationInputs(
        references=(PICTURE,) * len(specs), reference_masks=(None,) * len(specs)
    )
    return _Job(request, inputs, [(ComfyServer(info.url), info)], None, lambda: False, ())


def _redux(*weights: float) -> ReduxPlan:
    return ReduxPlan(STYLE, VISION, tuple((f"ref{i}.png", w) for i, w in enumerate(weights)))


def _refs(*weights: float) -> tuple[ReferenceSpec, ...]:
    return tuple(ReferenceSpec(weight=w) for w in weights)


def test_flux_takes_each_reference_through_redux_on_the_positive_prompt() -> None:
    request = graph_request("txt2img", references=_refs(0.8, 1.5))
    graph = build_modern_workflow(request, modern_plan("flux", "txt2img", redux=_redux(0.8, 1.5)))
    assert graph_problems(graph, SCHEMA) == []
    assert graph["clip_vision"] == {"class_type": "CLIPVisionLoader",
                                    "inputs": {"clip_name": VISION}}  # fmt: skip
    assert graph["style_model"] == {"class_type": "StyleModelLoader",
                                    "inputs": {"style_model_name": STYLE}}  # fmt: skip
    for i, weight in enumerate((0.8, 1.5)):
        assert graph[f"redux_image{i}"]["inputs"] == {"image": f"ref{i}.png"}
        vision = graph[f"redux_vision{i}"]["inputs"]
        assert vision["crop"] == "center"
        assert (vision["clip_vision"][0], vision["image"][0]) == ("clip_vision", f"redux_image{i}")
        apply = graph[f"redux{i}"]["inputs"]
        assert (apply["strength"], apply["strength_type"]) == (weight, "multiply")
        assert linked(graph, f"redux{i}", "style_model") == "style_model"
        assert linked(graph, f"redux{i}", "clip_vision_output") == f"redux_vision{i}"
    # The prompt, then each picture's tokens, then the guidance, into the sampler.
    assert upstream(graph, "sampler", "positive") == [
        "FluxGuidance", "StyleModelApply", "StyleModelApply", "CLIPTextEncode", "DualCLIPLoader",
    ]  # fmt: skip
    assert linked(graph, "redux0", "conditioning") == "positive"
    assert linked(graph, "sampler", "negative") == "negative"  # the negative has no tokens


def test_fill_and_kontext_take_redux_into_the_conditioning_they_sample_with() -> None:
    fill = build_modern_workflow(
        graph_request("inpaint", references=_refs(1.0)),
        modern_plan("flux-fill", "inpaint", redux=_redux(1)),
    )
    assert graph_problems(fill, SCHEMA) == []
    assert upstream(fill, "inpaint", "positive")[:2] == ["FluxGuidance", "StyleModelApply"]
    kontext = build_modern_workflow(
        graph_request("img2img", references=_refs(1.0)),
        modern_plan("flux-kontext", "img2img", redux=_redux(1)),
    )
    assert graph_problems(kontext, SCHEMA) == []
    assert "ReferenceLatent" not in nodes_needed(kontext)  # outside Edit it is FLUX.1 dev
    assert "StyleModelApply" in nodes_needed(kontext)


def test_a_weight_of_zero_adds_no_redux_node_so_the_graph_is_the_one_without() -> None:
    without = build_modern_workflow(graph_request("txt2img"), modern_plan("flux", "txt2img"))
    zero = build_modern_workflow(
        graph_request("txt2img", references=_refs(0.0)),
        modern_plan("flux", "txt2img", redux=_redux(0)),
    )
    assert zero == without
    half = build_modern_workflow(
        graph_request("txt2img", references=_refs(0.0, 1.0)),
        modern_plan("flux", "txt2img", redux=_redux(0, 1)),
    )
    assert [k for k in half if k.startswith("redux")] == ["redux_image1", "redux_vision1", "redux1"]


def test_the_job_picks_the_servers_redux_files_and_uploads_the_pictures_for_them() -> None:
    info = _info(diffusion_models=("flux1-dev.safetensors",),
                 style_models=("t2iadapter_style_sd14v1.pth", STYLE))  # fmt: skip
    job = _job("flux1-dev.safetensors", info, *_refs(0.6))
    assert job.uploads.names["reference0"].startswith("overpaint-")
    job.uploads.ensure = lambda server: dict(job.uploads.names)  # no upload: no server here
    plan = job.plan_for(*job.servers[0])
    assert plan.redux == ReduxPlan(STYLE, VISION, ((job.uploads.names["reference0"], 0.6),))
    assert plan.references == ()  # Edit's pictures only
    graph = job.graph_for(*job.servers[0], job.job.sample_request(0), plan)
    assert graph_problems(graph, SCHEMA) == []


def test_sd_reference_layers_are_refused_in_one_sentence() -> None:
    with pytest.raises(InvalidRequestError) as found:
        _job("sd15.safetensors", _info(checkpoints=("sd15.safetensors",)))
    assert str(found.value) == (
        "IP-Adapter is not a core ComfyUI node, so reference layers cannot be used on "
        "ComfyUI servers; hide them, pick a FLUX.1 model (which takes them through Redux), "
        "or run the job on this computer."
    )


def test_what_redux_cannot_honour_is_one_sentence() -> None:
    info = _info(diffusion_models=("flux1-schnell.safetensors", "sd3.5_large.safetensors"))
    cases = (
        (ReferenceSpec("style"), r"^Reference 1 is of kind Style, but FLUX\.1 Redux on ComfyUI "
         r"servers takes the whole reference, not its style or layout alone; set its kind to "
         r"Reference\.$"),
        (ReferenceSpec(start=0.2, end=0.8), r"^Reference 1 acts on part of the steps \(0\.2 to "
         r"0\.8\), but FLUX\.1 Redux on ComfyUI servers acts on all of them; set its range to 0 "
         r"to 1\.$"),
        (ReferenceSpec(mask_hash="ab12"), r"^Reference 1 is limited to a region, but ComfyUI's "
         r"core nodes have no masked Redux; let it act on the whole picture or hide it\.$"),
    )  # fmt: skip
    for spec, message in cases:
        with pytest.raises(InvalidRequestError, match=message):
            _job("flux1-schnell.safetensors", info, spec)
    with pytest.raises(InvalidRequestError, match=r"^On ComfyUI servers reference layers steer "
                       r"only FLUX\.1 models \(through Redux\), not SD 3\.5 models; hide them "
                       r"or pick a FLUX\.1 model\.$"):  # fmt: skip
        _job("sd3.5_large.safetensors", info)


def test_a_server_without_the_redux_files_says_which_file_goes_in_which_folder() -> None:
    url = "http://127.0.0.1:9"
    for info, message in (
        (_info(diffusion_models=("flux1-dev.safetensors",), style_models=()),
         rf"^The ComfyUI server at {url} has no FLUX\.1 Redux model for reference layers; put "
         r"flux1-redux-dev\.safetensors in its models/style_models folder\.$"),
        (_info(diffusion_models=("flux1-dev.safetensors",), clip_visions=("clip_vision_h.pt",)),
         rf"^The ComfyUI server at {url} has no SigLIP vision model for FLUX\.1 Redux; put "
         r"sigclip_vision_patch14_384\.safetensors in its models/clip_vision folder\.$"),
    ):  # fmt: skip
        job = _job("flux1-dev.safetensors", info)
        with pytest.raises(ModelError, match=message):
            job.plan_for(*job.servers[0])  # before anything is uploaded: no server here


def test_a_missing_or_changed_reference_picture_is_one_sentence_before_any_upload() -> None:
    info = _info(diffusion_models=("flux1-dev.safetensors",))
    spec = ReferenceSpec(image_hash=picture_hash(PICTURE))
    request = GenerationRequest("txt2img", prompt="a park", steps=2, width=64, height=64,
                                model="flux1-dev.safetensors", references=(spec,))  # fmt: skip
    servers = [(ComfyServer(info.url), info)]
    for pictures, message in (
        ((), r"^Reference picture 1 is missing; give it again"),
        ((255 - PICTURE,), r"^Reference picture 1 is not the one the request was made with"),
    ):
        with pytest.raises(InvalidRequestError, match=message):
            _Job(request, GenerationInputs(references=pictures), servers, None, lambda: False, ())
    with pytest.raises(InvalidRequestError, match=r"^A reference's weight must be between 0 "):
        _job("flux1-dev.safetensors", info, ReferenceSpec(weight=3.0))
