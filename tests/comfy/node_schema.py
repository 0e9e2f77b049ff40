"""The vendored ComfyUI's node definitions, and a check of a workflow graph against them.

`nodes_0.3.64.json` is the `/object_info` answer of the vendored ComfyUI 0.3.64
(../shared/vendor) for every node Overpaint's workflows use, less tooltips; a file list
(checkpoints, text encoders, VAEs, style models, uploaded pictures: FILE_INPUTS) is an
empty list there. Refresh it from a running server with
`python -m tests.comfy.node_schema URL`. `graph_problems` checks a graph the way ComfyUI's
`/prompt` validation does: known nodes, every required input, no unknown input, links to
an existing node's output of the input's type, numbers within their bounds, choices among
the options.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

SCHEMA_FILE = Path(__file__).with_name("nodes_0.3.64.json")
_KEEP = ("min", "max")
# Inputs that name a file on the server: their options are whatever its folders hold.
FILE_INPUTS = {"ckpt_name", "unet_name", "clip_name", "clip_name1", "clip_name2",
               "clip_name3", "vae_name", "lora_name", "control_net_name", "image",
               "style_model_name"}  # fmt: skip


def load_schema() -> dict[str, Any]:
    return json.loads(SCHEMA_FILE.read_text())


def _trim(entry: dict[str, Any]) -> dict[str, Any]:
    inputs = {}
    for group in ("required", "optional"):
        specs = {}
        for name, spec in (entry["input"].get(group) or {}).items():
            options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
            kind = spec[0]
            if kind == "COMBO":  # the newer spelling of a choice
                kind = list(options.get("options", []))
            if name in FILE_INPUTS and isinstance(kind, list):
                kind = []
            specs[name] = [kind, {k: options[k] for k in _KEEP if k in options}]
        inputs[group] = specs
    return {"input": inputs, "output": entry["output"]}


def snapshot(url: str, nodes: set[str]) -> dict[str, Any]:
    import requests  # only when refreshing the snapshot

    answer = requests.get(url.rstrip("/") + "/object_info", timeout=60).json()
    return {name: _trim(answer[name]) for name in sorted(nodes)}


def graph_problems(graph: dict[str, dict[str, Any]], schema: dict[str, Any]) -> list[str]:
    """What ComfyUI would refuse in `graph` (empty when it is valid)."""
    problems = []
    for node_id, entry in graph.items():
        kind = entry["class_type"]
        if kind not in schema:
            problems.append(f"{node_id}: unknown node {kind}")
            continue
        specs = {**schema[kind]["input"]["required"], **schema[kind]["input"]["optional"]}
        given = entry["inputs"]
        for name in schema[kind]["input"]["required"]:
            if name not in given:
                problems.append(f"{node_id} ({kind}): required input {name} missing")
        for name, value in given.items():
            if name not in specs:
                problems.append(f"{node_id} ({kind}): unknown input {name}")
                continue
            problem = _value_problem(graph, schema, specs[name], value)
            if problem:
                problems.append(f"{node_id} ({kind}).{name}: {problem}")
    return problems


def _value_problem(graph: dict, schema: dict, spec: list, value: Any) -> str | None:
    kind, bounds = spec
    if isinstance(value, list):
        source = graph.get(value[0])
        if source is None:
            return f"links to missing node {value[0]}"
        outputs = schema.get(source["class_type"], {}).get("output", [])
        if not 0 <= value[1] < len(outputs):
            return f"links to output {value[1]} of {source['class_type']}, which has {len(outputs)}"
        if outputs[value[1]] != kind:
            return f"gets {outputs[value[1]]} where it takes {kind}"
        return None
    if isinstance(kind, list):  # a choice; an empty list is a list of files
        if kind and value not in kind:
            return f"{value!r} is not one of {kind}"
        return None if isinstance(value, str) else f"{value!r} is not a name"
    checks = {"INT": int, "FLOAT": (int, float), "STRING": str, "BOOLEAN": bool}
    wanted = checks.get(kind)
    if wanted is None:
        return f"takes a link to a {kind}, got {value!r}"
    if not isinstance(value, wanted) or (kind != "BOOLEAN" and isinstance(value, bool)):
        return f"{value!r} is not {kind}"
    if "min" in bounds and value < bounds["min"] or "max" in bounds and value > bounds["max"]:
        return f"{value!r} is outside {bounds}"
    return None


if __name__ == "__main__":
    from engine.comfy import modern_workflow, workflow

    used = set(workflow.REQUIRED_NODES) | set(workflow.CONTROL_NODES) | set(workflow.REGION_NODES)
    used |= set(modern_workflow.NODES)
    SCHEMA_FILE.write_text(json.dumps(snapshot(sys.argv[1], used), indent=1) + "\n")
    print(SCHEMA_FILE)
