"""Regional prompts in ComfyUI workflows: core ConditioningSetMask/ConditioningCombine
nodes, checked against the vendored ComfyUI 0.3.64's node definitions, and the masks a
job uploads (no server)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.comfy.regions import ROOT, region_pictures, region_plans
from engine.comfy.workflow import (
    REGION_NODES,
    ControlPlan,
    WorkflowPlan,
    build_workflow,
    nodes_needed,
)
from engine.core.errors import InvalidRequestError
from engine.core.images import picture_hash
from engine.regions.spec import RegionSpec
from engine.request import GenerationInputs, GenerationRequest
from tests.comfy.node_schema import graph_problems, load_schema

SCHEMA = load_schema()
PLAN = WorkflowPlan("sd15.safetensors", 512, 512, "euler_ancestral", "normal")
REQUEST = GenerationRequest(
    "txt2img", prompt="a park", negative_prompt="blur",
    regions=(RegionSpec("a red kite", "clouds"), RegionSpec("a dog")),
)  # fmt: skip


def _masks() -> tuple[np.ndarray, np.ndarray]:
    left = np.zeros((64, 96), np.uint8)
    left[:, :30] = 255
    right = np.zeros((64, 96), np.uint8)
    right[:, 70:] = 255
    return left, right


def _texts(graph: dict, cond: str) -> list[tuple[str, str | None]]:
    """(text, mask picture) of every conditioning combined into `cond`."""
    entry = graph[cond]
    if entry["class_type"] == "ConditioningCombine":
        a, b = entry["inputs"]["conditioning_1"][0], entry["inputs"]["conditioning_2"][0]
        return _texts(graph, a) + _texts(graph, b)
    assert entry["class_type"] == "ConditioningSetMask"
    assert entry["inputs"]["strength"] == 1.0 and entry["inputs"]["set_cond_area"] == "default"
    text = graph[entry["inputs"]["conditioning"][0]]["inputs"]["text"]
    mask = graph[entry["inputs"]["mask"][0]]
    assert mask["class_type"] == "LoadImageMask" and mask["inputs"]["channel"] == "red"
    return [(text, mask["inputs"]["image"])]


def test_regions_join_masked_conditionings_with_the_root_where_no_region_is() -> None:
    request, pictures = region_pictures(REQUEST, GenerationInputs(region_masks=_masks()),
                                        ("sd15", "sd1", True), (192, 128))  # fmt: skip
    assert set(pictures) == {"region0", "region1", ROOT}
    assert all(p.shape == (128, 192) for p in pictures.values())
    assert pictures[ROOT][:, 70:130].all() and not pictures[ROOT][:, :55].any()
    assert [r.mask_hash for r in request.regions] == [picture_hash(m) for m in _masks()]
    names = {key: f"{key}.png" for key in pictures}
    regions, root = region_plans(request, names)
    plan = WorkflowPlan(
        **{
            **PLAN.__dict__,
            "regions": regions,
            "root_mask": root,
            "controls": (ControlPlan("cn.safetensors", "c.png", 1.0, 0, 1),),
        }
    )
    graph = build_workflow(request, plan)  # fmt: skip
    assert graph_problems(graph, SCHEMA) == []
    assert set(REGION_NODES) <= nodes_needed(graph)
    # The controls apply to the combined conditioning, which the sampler reads.
    positive = graph["control0"]["inputs"]["positive"][0]
    negative = graph["control0"]["inputs"]["negative"][0]
    assert _texts(graph, positive) == [
        ("a park", f"{ROOT}.png"),
        ("a red kite, a park", "region0.png"),
        ("a dog, a park", "region1.png"),
    ]
    assert _texts(graph, negative) == [
        ("blur", f"{ROOT}.png"),
        ("clouds, blur", "region0.png"),
        ("blur", "region1.png"),
    ]


def test_regions_over_everything_leave_the_root_out_and_no_regions_add_nothing() -> None:
    full = np.full((64, 96), 255, np.uint8)
    one = REQUEST.replace(regions=REQUEST.regions[:1])
    request, pictures = region_pictures(one, GenerationInputs(region_masks=(full,)),
                                        ("sd15", "sd1", True), (96, 64))  # fmt: skip
    assert set(pictures) == {"region0"}
    regions, root = region_plans(request, {"region0": "r.png"})
    graph = build_workflow(request, WorkflowPlan(**{**PLAN.__dict__, "regions": regions}))
    assert graph_problems(graph, SCHEMA) == []
    assert _texts(graph, graph["sampler"]["inputs"]["positive"][0]) == [
        ("a red kite, a park", "r.png")
    ]
    plain = REQUEST.replace(regions=())
    assert region_pictures(plain, GenerationInputs(), ("sd15", "sd1", True), (96, 64)) == (
        plain,
        {},
    )
    assert not {"ConditioningSetMask", "ConditioningCombine"} & nodes_needed(
        build_workflow(plain, PLAN)
    )


def test_missing_masks_and_transformer_families_are_one_sentence() -> None:
    with pytest.raises(InvalidRequestError, match=r"^Region 1 \('a red kite'\) has no mask"):
        region_pictures(REQUEST, GenerationInputs(), ("sd15", "sd1", True), (96, 64))
    with pytest.raises(InvalidRequestError, match="^Regional prompts work with SD 1.x"):
        region_pictures(REQUEST, GenerationInputs(region_masks=_masks()),
                        ("flux1-dev", "flux", False), (96, 64))  # fmt: skip
