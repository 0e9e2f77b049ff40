"""The generation settings value (engine.generation_settings): defaults, saving and
reading back, and tolerant reading of older saved settings."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from engine.generation_settings import GenerationSettings, parse_values
from engine.jobs import build_request, image_composite, prepare_job


def test_defaults_are_the_panel_and_cli_defaults() -> None:
    s = GenerationSettings()
    assert (s.prompt, s.negative_prompt, s.model, s.mode) == ("", "", "", "auto")
    assert (s.seed, s.seed_locked, s.steps, s.guidance) == (0, False, 20, 7.0)
    assert (s.strength, s.scheduler, s.n_samples, s.loras) == (None, "Euler a", 1, ())
    assert (s.inpaint_mode, s.grow, s.feather, s.context) == ("auto", 0, None, "auto")
    assert s.color_match and s.soft_edges
    # A request from the defaults: strength None is the plain 0.75.
    request = build_request("img2img", s)
    assert (request.steps, request.guidance, request.strength) == (20, 7.0, 0.75)


def test_frozen_and_loras_made_immutable() -> None:
    s = GenerationSettings(loras=[["ink", "0.5"]])  # type: ignore[arg-type]
    assert s.loras == (("ink", 0.5),)
    hash(s)  # usable as a key: nothing mutable inside
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.prompt = "x"  # type: ignore[misc]


def test_round_trip_through_a_dict() -> None:
    s = GenerationSettings(
        prompt="a cat", negative_prompt="blurry", model="/m", mode="inpaint", seed=42,
        seed_locked=True, steps=13, guidance=5.5, strength=0.4, scheduler="DDIM",
        n_samples=3, loras=(("ink", -1.5), ("paper", 0.5)), inpaint_mode="remove",
        grow=-4, feather=9, context="64", color_match=False, soft_edges=False,
    )  # fmt: skip
    saved = s.to_dict()
    assert saved["loras"] == [["ink", -1.5], ["paper", 0.5]]  # plain lists for a file
    assert GenerationSettings.from_dict(saved) == s
    assert GenerationSettings.from_dict(GenerationSettings().to_dict()) == GenerationSettings()


def test_ini_strings_read_back_typed() -> None:
    # What QSettings' INI format hands back: every value a string, None unreadable.
    ini = {
        "prompt": "a boat", "seed": "4242", "seed_locked": "true", "steps": "13",
        "guidance": "6.5", "strength": "0.3", "n_samples": "2", "grow": "3",
        "feather": "", "color_match": "false", "soft_edges": "true", "loras": "",
    }  # fmt: skip
    s = GenerationSettings.from_dict(ini)
    assert (s.prompt, s.seed, s.seed_locked, s.steps) == ("a boat", 4242, True, 13)
    assert (s.guidance, s.strength, s.n_samples, s.grow) == (6.5, 0.3, 2, 3)
    assert (s.feather, s.color_match, s.soft_edges, s.loras) == (None, False, True, ())


def test_an_old_settings_file_still_loads() -> None:
    # An older release's keys: some gone since ("sampler", "width"), newer ones missing,
    # and a hand-edited bad value. Unknown keys are ignored, the rest take the defaults.
    old = {
        "prompt": "a house", "sampler": "k_euler", "width": "512", "steps": "many",
        "seed": None, "guidance": "8", "loras": "not a list",
    }  # fmt: skip
    s = GenerationSettings.from_dict(old)
    assert s == GenerationSettings(prompt="a house", guidance=8.0)


def test_parse_values_keeps_only_what_parses() -> None:
    # A partial update ("Use parameters" copies a few fields) sets only those.
    assert parse_values({"steps": "9", "seed": "x", "other": 1}) == {"steps": 9}


def test_a_job_from_settings_equals_one_from_the_same_dict() -> None:
    # jobs.py reads a mapping through from_dict: scripts and tests may pass dicts.
    values = {"prompt": "p", "mode": "img2img", "steps": 7, "seed": 5, "strength": 0.4}
    canvas = np.full((64, 64, 4), 200, np.uint8)
    by_dict = prepare_job(values, 64, 64, image_composite(canvas))
    typed = prepare_job(GenerationSettings.from_dict(values), 64, 64, image_composite(canvas))
    assert by_dict.request == typed.request
    assert (typed.request.steps, typed.request.seed, typed.request.strength) == (7, 5, 0.4)


def test_every_field_has_a_reader() -> None:
    every = {f.name: getattr(GenerationSettings(), f.name) for f in dataclasses.fields(
        GenerationSettings)}  # fmt: skip
    assert set(parse_values(every)) == set(every)
