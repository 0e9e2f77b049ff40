"""The Generate panel's settings saved in the settings file and shown again, including
a file written by an older release."""

from __future__ import annotations

from pathlib import Path

from editor.ui.generate.panel import GenerationPanel
from editor.ui.settings import Settings
from engine.generation_settings import GenerationSettings

# An older release's section: values as INI strings, a key since dropped ("sampler"),
# no inpainting keys at all, and a hand-edited value that does not parse.
OLD_FILE = """\
[generation_params]
prompt=a lighthouse at dusk
negative_prompt=blurry
sampler=k_euler
steps=lots
seed=4242
seed_locked=true
guidance=8.5
scheduler=DDIM
n_samples=2
"""


def test_an_old_settings_file_loads_into_the_panel(qtbot, tmp_path: Path) -> None:
    path = tmp_path / "overpaint.ini"
    path.write_text(OLD_FILE)
    saved = Settings(path).generation_settings()
    assert saved == GenerationSettings(
        prompt="a lighthouse at dusk", negative_prompt="blurry", seed=4242,
        seed_locked=True, guidance=8.5, scheduler="DDIM", n_samples=2,
    )  # fmt: skip
    panel = GenerationPanel()
    qtbot.addWidget(panel)
    panel.set_settings(saved)
    shown = panel.settings()
    assert (shown.prompt, shown.seed, shown.seed_locked, shown.steps) == (
        "a lighthouse at dusk", 4242, True, 20,
    )  # fmt: skip
    assert (shown.guidance, shown.scheduler, shown.n_samples) == (8.5, "DDIM", 2)
    # Missing inpainting keys: the panel's defaults.
    assert (shown.inpaint_mode, shown.feather, shown.context) == ("auto", None, "auto")
    assert shown.color_match and shown.soft_edges


def test_the_panel_round_trips_through_the_settings_file(qtbot, tmp_path: Path) -> None:
    panel = GenerationPanel()
    qtbot.addWidget(panel)
    chosen = GenerationSettings(
        prompt="a red boat", negative_prompt="fog", mode="img2img", seed=7,
        seed_locked=True, steps=13, guidance=4.5, strength=0.35, scheduler="DDIM",
        n_samples=3, inpaint_mode="remove", grow=-6, feather=12, context="96",
        color_match=False, soft_edges=False,
    )  # fmt: skip
    panel.set_settings(chosen)
    assert panel.settings() == chosen
    path = tmp_path / "overpaint.ini"
    Settings(path).set_generation_settings(panel.settings())
    second = GenerationPanel()
    qtbot.addWidget(second)
    second.set_settings(Settings(path).generation_settings())
    assert second.settings() == chosen


def test_a_partial_mapping_sets_only_its_keys(qtbot) -> None:
    panel = GenerationPanel()
    qtbot.addWidget(panel)
    panel.set_settings(GenerationSettings(prompt="keep me", steps=30, grow=5))
    panel.set_settings({"steps": "12", "seed": "not a number", "feather": None})
    shown = panel.settings()
    assert (shown.prompt, shown.steps, shown.seed, shown.grow) == ("keep me", 12, 0, 5)
    assert shown.feather is None  # None is Auto
