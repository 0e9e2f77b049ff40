"""`overpaint models install|remove`: direct URLs, a hub-style endpoint for the Hugging
Face path, local files; resume, SHA-256, sorting by kind, errors that leave the models
folder untouched, and the trash. Served by local HTTP servers, never the internet."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path

import pytest

from engine.cli.commands import main
from engine.core.paths import user_data_dir, user_models_dir
from engine.model_manager import install as install_module
from engine.model_manager import transfer
from engine.model_manager.installed import list_installed
from engine.model_manager.kinds import classify
from engine.model_manager.transfer import Progress
from tests.model_server import Served, folder_files, hub_repo, serve


def _safetensors(path: Path, tensors: dict[str, tuple[int, ...]]) -> Path:
    import torch
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: torch.ones(shape) for k, shape in tensors.items()}, str(path))
    return path


def _big_lora(path: Path) -> bytes:
    """A 3.2 MB LoRA-shaped file: big enough for a transfer to break off half-way."""
    key = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k"
    return _safetensors(
        path, {f"{key}.lora_down.weight": (4, 768), f"{key}.lora_up.weight": (200_000, 4)}
    ).read_bytes()


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert err and err[-1].startswith("error: ") and "Traceback" not in "".join(err), err
    return err[-1]


def _models_tree() -> list[str]:
    root = user_models_dir()
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


@pytest.fixture
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real retry loop with pauses of a few milliseconds instead of seconds."""
    monkeypatch.setattr(transfer, "DEFAULT_RETRY", transfer.Retry(retries=4, first_wait_s=0.01))


def test_url_install_resumes_by_itself_with_range_and_sorts_by_content(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], quick_retries: None
) -> None:
    data = _big_lora(tmp_path / "src.safetensors")
    served = Served(files={"/api/download/models/42": data})
    served.disposition["/api/download/models/42"] = "ink-style.safetensors"
    # The connection drops twice mid-transfer: one command still installs the file.
    served.cut_after["/api/download/models/42"] = [1_500_000, 1_000_000]
    sha = hashlib.sha256(data).hexdigest()
    with serve(served) as base:
        url = f"{base}/api/download/models/42"
        assert main(["models", "install", url, "--sha256", sha]) == 0
    assert served.ranges == ["bytes=1500000-", "bytes=2500000-"]  # resumed, not restarted
    target = user_models_dir() / "loras" / "ink-style.safetensors"
    assert target.read_bytes() == data
    captured = capsys.readouterr()
    assert f"installed ink-style.safetensors (LoRA, sd1, 3.2 MB) at {target}" in captured.out
    assert "error" not in captured.err
    assert not list((user_data_dir() / "downloads").rglob("*"))
    (item,) = list_installed()
    assert (item.name, item.kind, item.family, item.size) == ("ink-style", "lora", "sd1", len(data))


def test_a_transfer_that_keeps_dropping_gives_one_line_and_the_rerun_resumes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], quick_retries: None
) -> None:
    data = _big_lora(tmp_path / "src.safetensors")
    served = Served(files={"/ink.safetensors": data})
    served.drop_every["/ink.safetensors"] = 500_000
    with serve(served) as base:
        url = f"{base}/ink.safetensors"
        assert main(["models", "install", url]) == 1
        line = _error_line(capsys)
        assert "stopped early (2.5 MB of 3.2 MB) after 5 tries" in line
        assert "run the install again to resume" in line
        # The first try and 4 retries, each resuming where the last one stopped.
        assert served.ranges == [f"bytes={n * 500_000}-" for n in range(1, 5)]
        assert _models_tree() == []
        (part,) = list((user_data_dir() / "downloads").rglob("*.part"))
        assert part.stat().st_size == 2_500_000
        # The network recovers; the same command picks up the part file.
        del served.drop_every["/ink.safetensors"]
        assert main(["models", "install", url]) == 0
    assert served.ranges[-1] == "bytes=2500000-"
    assert (user_models_dir() / "loras" / "ink.safetensors").read_bytes() == data


def test_install_errors_leave_the_models_folder_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _big_lora(tmp_path / "a.safetensors")
    served = Served(files={"/a.safetensors": data, "/old.ckpt": b"\x80\x04junk"})
    with serve(served) as base:
        assert main(["models", "install", f"{base}/a.safetensors", "--sha256", "0" * 64]) == 1
        assert "failed its SHA-256 check" in _error_line(capsys)
        assert main(["models", "install", f"{base}/missing.safetensors"]) == 1
        assert "HTTP 404" in _error_line(capsys)
        assert main(["models", "install", f"{base}/old.ckpt"]) == 1
        assert "pickle" in _error_line(capsys)
        monkeypatch.setattr(install_module, "free_space", lambda folder: 1000)
        assert main(["models", "install", f"{base}/a.safetensors"]) == 1
        assert "Not enough disk space for a.safetensors: it needs 3.2 MB" in _error_line(capsys)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert main(["models", "install", f"http://127.0.0.1:{port}/a.safetensors"]) == 1
    assert "Cannot reach 127.0.0.1" in _error_line(capsys)
    assert main(["models", "install", "not a source"]) == 1
    assert "is not a web address" in _error_line(capsys)
    assert _models_tree() == []


def test_hub_folder_and_file_installs(
    hub: Served, tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = folder_files(tiny_model_dir)
    # A pickle and an fp16 variant beside the safetensors are not fetched.
    files["unet/diffusion_pytorch_model.bin"] = b"pickle"
    files["unet/diffusion_pytorch_model.fp16.safetensors"] = b"variant"
    hub_repo(hub, "tester/tiny-sd", files)
    lora = _big_lora(tmp_path / "l.safetensors")
    hub_repo(hub, "tester/lcm-tiny", {"pytorch_lora_weights.safetensors": lora, "README.md": b"#"})

    progress: list[Progress] = []
    result = install_module.install("tester/tiny-sd", progress=progress.append)
    assert (result.kind, result.family) == ("checkpoint", "sd1")
    assert result.path == user_models_dir() / "checkpoints" / "tiny-sd"
    assert not (result.path / "unet" / "diffusion_pytorch_model.bin").exists()
    assert not (result.path / "unet" / "diffusion_pytorch_model.fp16.safetensors").exists()
    assert progress[-1].done == progress[-1].total == result.size
    assert main(["models"]) == 0  # the installed folder is a model the engine finds
    assert f"tiny-sd\tsd1\tdiffusers\t{result.path}" in capsys.readouterr().out

    # The repo's only .safetensors file; its generic name gives way to the repo's.
    assert main(["models", "install", "tester/lcm-tiny", "--kind", "lora"]) == 0
    assert (user_models_dir() / "loras" / "lcm-tiny.safetensors").read_bytes() == lora
    assert main(["models", "install", "tester/nope"]) == 1
    assert "no Hugging Face model repo tester/nope" in _error_line(capsys)
    # A published hash that does not match what arrives: nothing is installed.
    hub_repo(hub, "tester/bad", {"x.safetensors": lora})
    hub.files["/tester/bad/resolve/c0ffee/x.safetensors"] = lora[:-4] + b"\0\0\0\0"
    assert main(["models", "install", "tester/bad", "--file", "x.safetensors"]) == 1
    assert "failed its SHA-256 check" in _error_line(capsys)
    assert not (user_models_dir() / "loras" / "x.safetensors").exists()


def test_local_install_link_kinds_and_remove_to_trash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    vae = _safetensors(tmp_path / "my-vae.safetensors", {"encoder.conv_in.weight": (2, 2),
                                                        "decoder.conv_out.weight": (2, 2)})  # fmt: skip
    control = _safetensors(
        tmp_path / "cn.safetensors",
        {"control_model.input_hint_block.0.weight": (2, 2),
         "control_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": (320, 768)},
    )  # fmt: skip
    esrgan = _safetensors(
        tmp_path / "4x.safetensors", {"conv_first.weight": (2, 2), "conv_last.weight": (2, 2)}
    )
    assert [classify(p).kind for p in (vae, control, esrgan)] == ["vae", "controlnet", "upscaler"]
    assert classify(control).family == "sd1"

    assert main(["models", "install", str(vae)]) == 0
    assert (user_models_dir() / "vae" / "my-vae.safetensors").read_bytes() == vae.read_bytes()
    assert main(["models", "install", str(esrgan), "--link"]) == 0
    linked = user_models_dir() / "upscalers" / "4x.safetensors"
    assert linked.is_symlink() and linked.resolve() == esrgan.resolve()
    assert main(["models", "install", str(vae)]) == 1
    assert "already installed" in _error_line(capsys)

    assert main(["models", "remove", "my-vae"]) == 0
    trashed = tmp_path / "xdg" / "Trash" / "files" / "my-vae.safetensors"
    assert trashed.read_bytes() == vae.read_bytes()
    info = (tmp_path / "xdg" / "Trash" / "info" / "my-vae.safetensors.trashinfo").read_text()
    assert "Path=" + str(user_models_dir() / "vae" / "my-vae.safetensors") in info
    assert main(["models", "remove", "4x"]) == 0
    assert esrgan.is_file()  # a linked model's own file stays where it was
    assert main(["models", "remove", "my-vae"]) == 1
    assert "No installed model is named 'my-vae'" in _error_line(capsys)
    assert main(["models", "starters"]) == 0
    assert "sd15\tCheckpoint\t~4.3 GB\tCreativeML OpenRAIL-M" in capsys.readouterr().out
