"""Hostile and broken model files: refused with one sentence, never executed, never a crash.

tests/engine/test_models.py already covers truncated/random/empty safetensors, unknown
kinds and a .ckpt refused by name. This adds what it does not: headers that lie about
tensor sizes, a pickle disguised as .safetensors, a pickle inside a diffusers folder
(loaded through the real Engine), and a hypothesis fuzz of the header reader and family
detection (OVERPAINT_FUZZ_EXAMPLES cases per fuzz test).
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine.discovery as discovery
import engine.models as models
from engine.core.errors import EngineError, ModelError
from engine.models import discover_models, inspect_model, inspect_single_file
from tests.engine.sd_layout import family_tensors, write_fake_checkpoint

FUZZ_EXAMPLES = int(os.environ.get("OVERPAINT_FUZZ_EXAMPLES", "150"))


@pytest.fixture(autouse=True)
def _no_bundled_or_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(discovery, "BUNDLED_MODELS_DIR", tmp_path / "bundled")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))


def raw_safetensors(
    path: Path, header: object, body: bytes = b"", length: int | None = None
) -> Path:
    raw = json.dumps(header).encode() if not isinstance(header, bytes) else header
    n = len(raw) if length is None else length
    path.write_bytes(struct.pack("<Q", n % 2**64) + raw + body)
    return path


def assert_sentence(error: BaseException) -> None:
    text = str(error)
    assert text and "\n" not in text and len(text) < 600, text
    assert "Traceback" not in text


class Payload:
    """Unpickling this creates a marker file: proof that the pickle was executed."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


# ---------------------------------------------------------------- headers that lie


def _sd1_header(**entry_changes: object) -> tuple[dict, int]:
    header, offset = {}, 0
    for name, shape in family_tensors("sd1").items():
        size = 2 * int(__import__("math").prod(shape))
        header[name] = {"dtype": "F16", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    conv = "model.diffusion_model.input_blocks.0.0.weight"
    header[conv] = {**header[conv], **entry_changes}
    return header, offset


LIES = {
    # The shape says 23 KB of F16, the offsets give it 4 bytes.
    "shape bigger than its bytes": lambda: _sd1_header(data_offsets=[0, 4]),
    "offsets backwards": lambda: _sd1_header(data_offsets=[100, 10]),
    "negative offset": lambda: _sd1_header(data_offsets=[-50, 10]),
    "offsets as text": lambda: _sd1_header(data_offsets=["0", "1e9"]),
    "shape not a list": lambda: _sd1_header(shape=None),
    "shape of text": lambda: _sd1_header(shape=["320", "4", "3", "3"]),
    "shape too short": lambda: _sd1_header(shape=[320]),
    "negative dimension": lambda: _sd1_header(shape=[320, -4, 3, 3]),
    "unknown dtype": lambda: _sd1_header(dtype="Q128"),
    "short conv shape, consistent size": lambda: _sd1_header(shape=[320], data_offsets=[0, 640]),
    "entry not an object": lambda: ({**_sd1_header()[0], "x": [1, 2, 3]}, _sd1_header()[1]),
}


@pytest.mark.parametrize("kind", list(LIES))
def test_headers_that_lie_are_refused(kind: str, tmp_path: Path) -> None:
    header, size = LIES[kind]()
    path = raw_safetensors(tmp_path / "liar.safetensors", header, b"\0" * max(size, 0))
    with pytest.raises(ModelError) as info:
        inspect_single_file(path)
    assert_sentence(info.value)
    assert str(path) in str(info.value)


def test_header_length_lies(tmp_path: Path) -> None:
    header, size = _sd1_header()
    body = b"\0" * size
    for length, needle in [
        (2**63, "header is unreadable"),  # far past the end of the file
        (2**64 - 1, "header is unreadable"),
        (5, "corrupt"),  # cuts the JSON in the middle
        (len(json.dumps(header)) + 7, "corrupt"),  # swallows tensor bytes into the JSON
    ]:
        path = raw_safetensors(tmp_path / "len.safetensors", header, body, length=length)
        with pytest.raises(ModelError, match=needle) as info:
            inspect_single_file(path)
        assert_sentence(info.value)


def test_a_consistent_header_still_passes(tmp_path: Path) -> None:
    header, size = _sd1_header()
    path = raw_safetensors(tmp_path / "ok.safetensors", header, b"\0" * size)
    assert inspect_single_file(path).family == "sd1"


# ---------------------------------------------------------------- pickles


def test_pickle_renamed_to_safetensors_is_refused_unexecuted(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "model.safetensors"
    path.write_bytes(pickle.dumps({"state_dict": Payload(marker)}))
    with pytest.raises(ModelError) as info:
        inspect_single_file(path)
    assert_sentence(info.value)
    assert not marker.exists()


@pytest.mark.parametrize("suffix", [".ckpt", ".pt", ".pth", ".bin"])
def test_pickle_checkpoints_refused_by_discovery_and_the_engine(
    suffix: str, tmp_path: Path
) -> None:
    from engine.local.engine import Engine
    from engine.request import GenerationRequest

    marker = tmp_path / "pwned"
    folder = tmp_path / "models"
    folder.mkdir()
    path = folder / f"evil{suffix}"
    path.write_bytes(pickle.dumps(Payload(marker)))
    assert [m.path for m in discover_models([folder])] == []  # not listed
    with pytest.raises(ModelError, match="pickle") as info:
        Engine([folder]).run(GenerationRequest(mode="txt2img", model=str(path), steps=1))
    assert_sentence(info.value)
    assert not marker.exists()


def test_pickled_weights_inside_a_diffusers_folder_never_run(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    """Weights as a .bin pickle (the pre-safetensors diffusers layout) in the real loader."""
    from engine.local.engine import Engine
    from engine.request import GenerationRequest

    marker = tmp_path / "pwned"
    model = tmp_path / "evil-model"
    shutil.copytree(tiny_model_dir, model)
    for weights in (model / "unet").glob("*.safetensors"):
        weights.unlink()
    (model / "unet" / "diffusion_pytorch_model.bin").write_bytes(
        pickle.dumps({"conv_in.weight": Payload(marker)})
    )
    request = GenerationRequest(mode="txt2img", model=str(model), steps=1, width=64, height=64)
    with pytest.raises(EngineError) as info:
        Engine().run(request)
    assert_sentence(info.value)
    assert not marker.exists()


# ---------------------------------------------------------------- fuzz

NAMES = [*family_tensors("sd1"), *family_tensors("sdxl"), *family_tensors("sd2"), "__metadata__"]
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
ENTRY = st.fixed_dictionaries(
    {},
    optional={
        "dtype": st.sampled_from(["F16", "F32", "BF16", "I64", "U8", "??"]) | JSON,
        "shape": st.lists(st.integers(-3, 2**40), max_size=5) | JSON,
        "data_offsets": st.lists(st.integers(-10, 2**66), min_size=0, max_size=3) | JSON,
    },
)
HEADER = (
    st.dictionaries(st.sampled_from(NAMES) | st.text(max_size=20), ENTRY | JSON, max_size=8) | JSON
)


def inspect_or_model_error(inspect, path: Path) -> None:
    """Only two outcomes are allowed: a known family, or ModelError with one sentence."""
    try:
        info = inspect(path)
    except ModelError as e:
        assert_sentence(e)
    else:
        assert info.family in models.NATIVE_SIZES


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz-models")


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    header=HEADER,
    length_delta=st.sampled_from([0, 0, 0, -1, 1, 7, -(2**20), 2**40]),
    body=st.binary(max_size=64),
)
def test_fuzzed_headers_inspect_or_raise_model_error(
    fuzz_dir: Path, header: object, length_delta: int, body: bytes
) -> None:
    raw = json.dumps(header).encode()
    path = raw_safetensors(
        fuzz_dir / "f.safetensors", raw, body, length=max(len(raw) + length_delta, 0)
    )
    inspect_or_model_error(inspect_model, path)
    # Discovery over a folder holding it never raises: bad files are skipped.
    assert all(m.family in models.NATIVE_SIZES for m in discover_models([fuzz_dir]))


def _seed_checkpoint() -> tuple[bytes, int]:
    """A small but complete SD1 checkpoint (the tensors family detection reads)."""
    import tempfile

    shapes = family_tensors("sd1")
    shapes = {k: v for k, v in shapes.items() if "token_embedding" not in k}
    with tempfile.TemporaryDirectory() as d:
        data = write_fake_checkpoint(Path(d) / "s.safetensors", shapes).read_bytes()
    return data, 8 + struct.unpack("<Q", data[:8])[0]


SEED_CHECKPOINT, SEED_HEADER_END = _seed_checkpoint()


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    edits=st.lists(
        st.tuples(st.integers(0, SEED_HEADER_END + 64), st.integers(0, 255)), max_size=8
    ),
    cut=st.sampled_from([0, 0, 1, 2, 100, 4096]),
)
def test_fuzzed_checkpoint_bytes_inspect_or_raise_model_error(
    fuzz_dir: Path, edits: list, cut: int
) -> None:
    data = bytearray(SEED_CHECKPOINT)
    for pos, value in edits:
        data[pos] = value
    path = fuzz_dir / "b.safetensors"
    path.write_bytes(bytes(data[: len(data) - cut]))
    inspect_or_model_error(inspect_single_file, path)


def test_the_byte_fuzz_seed_is_a_valid_checkpoint(fuzz_dir: Path) -> None:
    path = fuzz_dir / "seed.safetensors"
    path.write_bytes(SEED_CHECKPOINT)
    assert inspect_single_file(path).family == "sd1"


@pytest.mark.parametrize("suffix", [".safetensors", ".pt", ".bin"])
def test_a_pickled_lora_never_runs(suffix: str, tiny_model_dir: Path, tmp_path: Path) -> None:
    """A LoRA given by path goes through diffusers' loader: a pickle payload must not run."""
    from engine.local.engine import Engine
    from engine.request import GenerationRequest

    marker = tmp_path / "pwned"
    lora = tmp_path / f"evil-lora{suffix}"
    lora.write_bytes(pickle.dumps({"lora_unet_down.lora_down.weight": Payload(marker)}))
    request = GenerationRequest(
        mode="txt2img", model=str(tiny_model_dir), steps=1, width=64, height=64,
        loras=((str(lora), 1.0),),
    )  # fmt: skip
    with pytest.raises(EngineError) as info:
        Engine().run(request)
    assert_sentence(info.value)
    assert not marker.exists()
