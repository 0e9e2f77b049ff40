"""Quality of the demo scribble ControlNet on held-out scribbles, judged by pixel statistics.

Held-out scenes come from their own seed stream, with centres at least 0.1 of the side
away from every position a caption can name. The prompt gives kind, colour and background
but never a position, so where the shape goes is the scribble's to say:
- follow: the generated shape's centre (centroid of its largest blob) lies within 15% of the
  picture side of the scribbled shape's centre; colour, background and kind are read as in
  engine.demo.evaluate. The same prompts and seeds without the control are the baseline.
- override: a scribbled square under a "circle" prompt; the shape read back must be a square
  (it fills its bounding box) near the scribble, where without the control it is a circle.

    python -m engine.demo.evaluate_control --control resources/models/controlnet/NAME \\
        --out control-metrics.json [--precision bf16]

--precision bf16 runs both pipelines in bfloat16 with the engine's layout (as
engine.demo.evaluate does); the default is float32.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from engine.demo.evaluate import (
    EVAL_PRECISIONS,
    _batched,
    classify_kind,
    grid,
    read_picture,
    shape_blobs,
    to_precision,
    with_scheduler,
)
from engine.demo.train_control import (
    DEMO_MODEL,
    HELDOUT_SEED,
    ControlScene,
    heldout_scenes,
    render_scene,
)

log = logging.getLogger(__name__)
CENTRE_TOLERANCE = 0.15  # of the picture side


def scribble_centre(scene: ControlScene, kind: str) -> tuple[float, float]:
    """Centroid of the area the scribbled outline encloses (a triangle's sits low)."""
    return (scene.cx, scene.cy + scene.r / 3) if kind == "triangle" else (scene.cx, scene.cy)


def shape_centre(image: np.ndarray) -> tuple[float, float] | None:
    _, blobs = shape_blobs(image)
    if not blobs:
        return None
    h, w, _ = image.shape
    return float(blobs[0][:, 1].mean() / w), float(blobs[0][:, 0].mean() / h)


def centre_distance(image: np.ndarray, target: tuple[float, float]) -> float:
    """Distance between the drawn shape's centre and `target`, as a fraction of the side
    (inf when nothing was drawn)."""
    centre = shape_centre(image)
    return float("inf") if centre is None else float(np.hypot(*np.subtract(centre, target)))


def scribbles_for(scenes: list[ControlScene], kind: str | None = None) -> list[np.ndarray]:
    return [
        render_scene(s, np.random.default_rng([HELDOUT_SEED, i]), kind=kind)[1]
        for i, s in enumerate(scenes)
    ]


def _generate(pipe: Any, prompts: list[str], scribbles: list[np.ndarray] | None) -> np.ndarray:
    from PIL import Image

    kwargs: dict[str, Any] = {"num_inference_steps": 20, "guidance_scale": 7.0}
    if scribbles is not None:
        kwargs["image"] = [Image.fromarray(s) for s in scribbles]
    return _batched(pipe, prompts, 50, 0, height=128, width=128, **kwargs)


def follow_scores(
    control_pipe: Any,
    plain_pipe: Any,
    scenes: list[ControlScene],
    cases: list[dict[str, bool]] | None = None,
) -> tuple[dict[str, float], np.ndarray]:
    """Rates over `scenes`; each case's pass/fail per figure goes into `cases` if given."""
    prompts = [s.prompt() for s in scenes]
    targets = [scribble_centre(s, s.kind) for s in scenes]
    images = _generate(control_pipe, prompts, scribbles_for(scenes))
    plain = _generate(plain_pipe, prompts, None)
    dist = [centre_distance(im, t) for im, t in zip(images, targets, strict=True)]
    plain_dist = [centre_distance(im, t) for im, t in zip(plain, targets, strict=True)]
    readings = [read_picture(im) for im in images]
    judged = [
        {
            "centre_within_15pct": bool(d <= CENTRE_TOLERANCE),
            "colour": r.colour == s.colour,
            "background": r.background == s.background,
            "kind": r.kind == s.kind,
            "one_shape": r.blobs == 1,
            "without_control_centre_within_15pct": bool(pd <= CENTRE_TOLERANCE),
        }
        for d, pd, r, s in zip(dist, plain_dist, readings, scenes, strict=True)
    ]
    if cases is not None:
        cases.extend(judged)

    def rate(key: str) -> float:
        return float(np.mean([j[key] for j in judged]))

    rates = {
        "centre_within_15pct": rate("centre_within_15pct"),
        "median_centre_distance": float(np.median(dist)),
        "colour": rate("colour"),
        "background": rate("background"),
        "kind": rate("kind"),
        "one_shape": rate("one_shape"),
        "without_control_centre_within_15pct": rate("without_control_centre_within_15pct"),
    }
    return rates, images


def override_scores(
    control_pipe: Any,
    plain_pipe: Any,
    scenes: list[ControlScene],
    cases: list[dict[str, bool]] | None = None,
) -> tuple[dict[str, float], np.ndarray]:
    prompts = [f"a {s.colour} circle, {s.background} background" for s in scenes]
    images = _generate(control_pipe, prompts, scribbles_for(scenes, kind="square"))
    plain = _generate(plain_pipe, prompts, None)
    judged = [
        {
            "square": shape_kind(im) == "square",
            "square_near_scribble": bool(
                centre_distance(im, scribble_centre(s, "square")) <= CENTRE_TOLERANCE
            ),
            "without_control_square": shape_kind(p) == "square",
        }
        for im, p, s in zip(images, plain, scenes, strict=True)
    ]
    if cases is not None:
        cases.extend(judged)
    rates = {k: float(np.mean([j[k] for j in judged])) for k in judged[0]} if judged else {}
    return rates, images


def shape_kind(image: np.ndarray) -> str | None:
    """The kind of the largest shape in `image`, None when there is none."""
    _, blobs = shape_blobs(image)
    return classify_kind(blobs[0]) if blobs else None


def load_pipes(model: Path, control: Path, precision: str = "fp32") -> tuple[Any, Any]:
    """(ControlNet pipeline, plain pipeline) sharing the demo model's parts, in `precision`
    ("fp32" | "bf16", laid out as the engine lays them out: engine.demo.evaluate)."""
    import torch
    from diffusers import (
        ControlNetModel,
        StableDiffusionControlNetPipeline,
        StableDiffusionPipeline,
    )

    plain = StableDiffusionPipeline.from_pretrained(
        str(model), torch_dtype=torch.float32, local_files_only=True, safety_checker=None
    )
    with_scheduler(plain, "Euler a")
    controlnet = ControlNetModel.from_pretrained(
        str(control), torch_dtype=torch.float32, local_files_only=True
    )
    control_pipe = StableDiffusionControlNetPipeline.from_pipe(plain, controlnet=controlnet)
    for pipe in (plain, control_pipe):
        pipe.set_progress_bar_config(disable=True)
    to_precision(control_pipe, precision)  # shares its modules with `plain`
    return control_pipe, plain


def evaluate_control(
    model: Path,
    control: Path,
    count: int = 100,
    precision: str = "fp32",
    cases: dict[str, list[dict[str, bool]]] | None = None,
) -> dict[str, Any]:
    """All figures of the ControlNet; with `cases` (a dict) the per-case pass/fail of
    "follow" and "override" land there, in the order of the held-out scenes."""
    import torch

    control_pipe, plain = load_pipes(model, control, precision)
    scenes = heldout_scenes(count)
    squares = heldout_scenes(count // 2, seed=HELDOUT_SEED + 1)
    results: dict[str, Any] = {"scheduler": "Euler a", "steps": 20, "guidance": 7.0}
    sections: dict[str, list[dict[str, bool]]] = {"follow": [], "override": []}
    with torch.inference_mode():
        results["follow"], images = follow_scores(control_pipe, plain, scenes, sections["follow"])
        results["override"], square_images = override_scores(
            control_pipe, plain, squares, sections["override"]
        )
    results["precision"] = precision
    if cases is not None:
        cases.update(sections)
    results["_images"] = np.concatenate([images, square_images])
    return results


def main(argv: list[str] | None = None) -> int:
    from PIL import Image

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEMO_MODEL)
    parser.add_argument("--control", type=Path, required=True, help="ControlNet folder")
    parser.add_argument("--out", type=Path, required=True, help="metrics JSON to write")
    parser.add_argument("--count", type=int, default=100, help="held-out scribbles")
    parser.add_argument("--precision", choices=EVAL_PRECISIONS, default="fp32")
    args = parser.parse_args(argv)
    results = evaluate_control(args.model, args.control, args.count, args.precision)
    Image.fromarray(grid(results.pop("_images"))).save(args.out.with_suffix(".png"))
    args.out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
