"""Every Layer attribute has a place in the .ora and survives every way a project is
written: Save (through a snapshot, as the window does), autosave/recovery, and a copy.

The lists here are walked, not written out: a Layer attribute added later without a row
in editor.io.layer_fields, or without a sample value below, fails these tests.
"""

from __future__ import annotations

import dataclasses
import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np
import pytest

from editor.io.layer_fields import LAYER_FIELDS
from editor.io.ora import OWN_ATTR_PREFIX, OraLayer
from editor.io.project import load_ora, save_ora
from editor.model.control_role import ControlRole
from editor.model.document import Document
from editor.model.layer import SAVED_ATTRIBUTES, Layer
from editor.model.reference_role import ReferenceRole
from editor.model.region_role import RegionRole
from editor.model.snapshot import document_from_snapshot, snapshot
from editor.recovery import RecoveryStore, write_recovery
from tests.editor.io.test_ora import make_ora, png, solid

# A value other than the default for every saved attribute.
SAMPLES = {
    "name": "Sketch <&\"'> ü",
    "x": -5,
    "y": 9,
    "opacity": 0.35,
    "blend_mode": "screen",
    "visible": False,
    "alpha_locked": True,
    "metadata": {"parameters": "a cat\nSteps: 4, Seed: 7", "overpaint_request": "{}"},
    "control": ControlRole("lineart", 1.5, 0.2, 0.9, prepared=True),
    "region_prompt": RegionRole('a red <ball> & "sky"', "blurry, dark", painted=True),
    # Limited to the region layer of that name (names need not be tidy).
    "reference": ReferenceRole("style", 0.6, 0.1, 0.8, region='Sky <&"> ü ' + "x" * 80),
}


def test_every_layer_attribute_is_listed_and_has_a_place_in_the_file() -> None:
    # Not per process or the pixels themselves: everything else a Layer holds is saved.
    assert set(vars(Layer())) - {"uid", "pixels"} == set(SAVED_ATTRIBUTES)
    names = [f.attribute for f in LAYER_FIELDS]
    assert sorted(names) == sorted(SAVED_ATTRIBUTES)  # each exactly once
    ora_fields = {f.name for f in dataclasses.fields(OraLayer)}
    prefixes = [f.prefix for f in LAYER_FIELDS if f.ora_field is None]
    for field in LAYER_FIELDS:
        assert (field.ora_field is None) != (field.prefix is None), field
        assert field.ora_field is None or field.ora_field in ora_fields, field
    for prefix in prefixes:
        assert prefix.startswith(OWN_ATTR_PREFIX)
        # One attribute must never be read back by two fields.
        assert not [p for p in prefixes if p != prefix and p.startswith(prefix)]


def sample_layer() -> Layer:
    rgba = np.zeros((6, 8, 4), np.uint8)
    rgba[1:5, 2:7] = (30, 200, 90, 255)
    return Layer.from_rgba(rgba, **SAMPLES)


def test_samples_cover_every_attribute_and_differ_from_the_defaults() -> None:
    assert set(SAMPLES) == set(SAVED_ATTRIBUTES)
    default = Layer().saved_attributes()
    for name in SAVED_ATTRIBUTES:
        assert SAMPLES[name] != default[name], name
    assert sample_layer().saved_attributes() == SAMPLES


def two_layer_document() -> Document:
    doc = Document(20, 16)
    doc.add_layer("Background", rgba=np.full((16, 20, 4), 255, np.uint8))
    doc.insert_layer(sample_layer())
    doc.reset_history()
    return doc


def written_like_save(doc: Document, path: Path) -> None:
    # The window's Save: a snapshot on the UI thread, the document rebuilt off it.
    save_ora(document_from_snapshot(snapshot(doc)), path)


def written_like_autosave(doc: Document, path: Path) -> None:
    session = RecoveryStore(path.parent / "recovery").new_session()
    try:
        write_recovery(snapshot(doc), session, None, "untitled")
        path.write_bytes(session.ora_path.read_bytes())
    finally:
        session.release()


@pytest.mark.parametrize("write", [save_ora, written_like_save, written_like_autosave])
def test_every_attribute_survives_save_and_reopen(tmp_path: Path, write) -> None:
    doc = two_layer_document()
    path = tmp_path / "p.ora"
    write(doc, path)
    notes: list[str] = []
    back = load_ora(path, warnings=notes)
    assert notes == []
    assert [layer.saved_attributes() for layer in back.layers] == [
        layer.saved_attributes() for layer in doc.layers
    ]
    np.testing.assert_array_equal(back.layers[1].to_rgba(), doc.layers[1].to_rgba())


def test_copy_keeps_every_attribute_and_shares_nothing() -> None:
    layer = sample_layer()
    twin = layer.copy()
    assert twin.saved_attributes() == layer.saved_attributes() and twin.uid != layer.uid
    twin.metadata["parameters"] = "changed"
    twin.pixels[0, 0] = 7
    assert layer.metadata == SAMPLES["metadata"] and layer.pixels[0, 0, 0] == 0


def test_own_attributes_in_stack_xml_and_other_readers_see_a_plain_layer(tmp_path: Path) -> None:
    path = tmp_path / "p.ora"
    save_ora(two_layer_document(), path)
    with zipfile.ZipFile(path) as zf:
        root = ET.fromstring(zf.read("stack.xml"))
    top = next(root.iter("layer"))
    own = {k: v for k, v in top.attrib.items() if k.startswith(OWN_ATTR_PREFIX)}
    assert own == {
        "overpaint-alpha-lock": "true",
        "overpaint-control-kind": "lineart",
        "overpaint-control-strength": "1.5",
        "overpaint-control-start": "0.2",
        "overpaint-control-end": "0.9",
        "overpaint-control-prepared": "true",
        "overpaint-region-prompt": 'a red <ball> & "sky"',
        "overpaint-region-negative": "blurry, dark",
        "overpaint-region-painted": "true",
        "overpaint-reference-kind": "style",
        "overpaint-reference-strength": "0.6",
        "overpaint-reference-start": "0.1",
        "overpaint-reference-end": "0.8",
        "overpaint-reference-region": 'Sky <&"> ü ' + "x" * 80,
    }
    assert top.get("composite-op") == "svg:screen" and top.get("visibility") == "hidden"
    # The plain background writes none of Overpaint's own attributes.
    bottom = list(root.iter("layer"))[1]
    assert not [k for k in bottom.attrib if k.startswith(OWN_ATTR_PREFIX)]


def test_an_unusable_control_role_opens_as_a_normal_layer_with_a_sentence(
    tmp_path: Path,
) -> None:
    stack = (
        '<image w="4" h="4"><stack>'
        '<layer name="lines" src="data/a.png" overpaint-control-kind="hologram" '
        'overpaint-alpha-lock="true"/>'
        "</stack></image>"
    )
    path = make_ora(tmp_path / "odd.ora", stack, {"data/a.png": png(solid(4, 4, (9, 9, 9, 255)))})
    notes: list[str] = []
    layer = load_ora(path, warnings=notes).layers[0]
    assert layer.control is None and layer.alpha_locked
    assert len(notes) == 1
    assert notes[0].startswith('Layer "lines" is kept as a normal layer: unknown control kind')
