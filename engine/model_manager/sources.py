"""Where an install comes from: a direct URL, a Hugging Face repo (via huggingface_hub,
HF_ENDPOINT honoured), or a local file or folder; turned into a list of files to fetch."""

from __future__ import annotations

import os
import re
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from huggingface_hub import constants

from engine.model_manager.transfer import TransferError

PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin", ".pkl", ".msgpack", ".h5", ".onnx", ".pb")
# Names that say nothing about the model: the repo's name is used instead.
_GENERIC_STEMS = ("pytorch_lora_weights", "diffusion_pytorch_model", "model", "lora")
_REPO_RE = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
# Weight variants a diffusers repo may hold beside the full-precision files.
_VARIANT_RE = re.compile(r"\.(fp16|fp32|bf16|non_ema|ema_only|onnx|openvino)\.", re.IGNORECASE)


@dataclass(frozen=True)
class RemoteFile:
    url: str
    relpath: str  # path inside the installed folder ("" for a single-file install)
    size: int | None = None
    sha256: str | None = None  # published hash (Hugging Face LFS), checked after transfer


@dataclass(frozen=True)
class Plan:
    name: str  # the installed file or folder name
    files: tuple[RemoteFile, ...] = ()
    folder: bool = False
    local: Path | None = None
    headers: dict[str, str] = field(default_factory=dict)
    source: str = ""

    @property
    def size(self) -> int | None:
        if self.local is not None:
            return _local_size(self.local)
        sizes = [f.size for f in self.files]
        return None if any(s is None for s in sizes) else sum(s or 0 for s in sizes)


def _local_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def refuse_pickle(name: str) -> None:
    if name.lower().endswith(PICKLE_SUFFIXES):
        raise TransferError(
            f"{name} is a pickle file, which can run code when loaded; Overpaint installs only "
            ".safetensors files and diffusers folders."
        )


def plan_install(source: str, file: str | None = None) -> Plan:
    """The files an install of `source` (URL, repo id or local path) fetches."""
    text = source.strip()
    if text.startswith(("http://", "https://")):
        if file:
            raise TransferError("--file goes with a Hugging Face repo id, not with a URL.")
        name = Path(urllib.parse.unquote(urllib.parse.urlsplit(text).path)).name
        refuse_pickle(name)
        return Plan(name=name, files=(RemoteFile(text, ""),), source=text)
    local = Path(text).expanduser()
    if local.exists():
        if file:
            local = local / file
        refuse_pickle(local.name)
        return Plan(name=local.name, folder=local.is_dir(), local=local.resolve(), source=text)
    if _REPO_RE.match(text):
        return hub_plan(text, file)
    raise TransferError(
        f"{source!r} is not a web address, a Hugging Face repo id (owner/name) or an "
        "existing file or folder."
    )


def hub_endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def hub_plan(repo_id: str, file: str | None = None) -> Plan:
    """The files of a Hugging Face model repo: one file (`file`, or the repo's only
    .safetensors file), or a diffusers folder's configs and full-precision safetensors."""
    # huggingface_hub's API and HTTP stack: ~200 ms to import, only when installing
    from huggingface_hub import HfApi, hf_hub_url
    from huggingface_hub.utils import build_hf_headers

    if constants.is_offline_mode():
        raise TransferError(
            "Hugging Face downloads are turned off (HF_HUB_OFFLINE is set); unset it to "
            "install from the hub."
        )
    endpoint = hub_endpoint()
    info = _model_info(HfApi(endpoint=endpoint), repo_id)
    siblings = {s.rfilename: s for s in info.siblings or ()}
    revision = info.sha or "main"

    def remote(path: str, relpath: str) -> RemoteFile:
        s = siblings[path]
        sha = s.lfs.sha256 if s.lfs else None
        url = hf_hub_url(repo_id, path, revision=revision, endpoint=endpoint)
        return RemoteFile(url, relpath, s.size, sha)

    headers = dict(build_hf_headers())
    repo_name = repo_id.split("/")[-1]
    inside = sorted(p for p in siblings if p.startswith(f"{file.rstrip('/')}/")) if file else []
    if file and file not in siblings and inside:  # a folder of the repo (an image encoder)
        files = _folder_files(inside)
        prefix = len(file.rstrip("/")) + 1
        name = "-".join([repo_name, *PurePosixPath(file).parts])
        return Plan(name, tuple(remote(p, p[prefix:]) for p in files), folder=True,
                    headers=headers, source=f"{repo_id}/{file}")  # fmt: skip
    if file:
        if file not in siblings:
            raise TransferError(f"The repo {repo_id} has no file {file!r}.")
        refuse_pickle(file)
        stem = PurePosixPath(file).stem
        name = PurePosixPath(file).name
        if stem in _GENERIC_STEMS:
            name = f"{repo_name}{PurePosixPath(file).suffix}"
        return Plan(name, (remote(file, ""),), headers=headers, source=f"{repo_id}/{file}")
    paths = sorted(siblings)
    if "model_index.json" in siblings:
        chosen = [p for p in paths if "/" in p or p == "model_index.json"]
    elif "config.json" in siblings:
        chosen = [p for p in paths if "/" not in p]
    else:
        weights = [p for p in paths if p.endswith(".safetensors")]
        if len(weights) == 1:
            return hub_plan(repo_id, weights[0])
        listed = ", ".join(weights[:6]) or "none"
        raise TransferError(
            f"The repo {repo_id} is not a diffusers folder; choose one of its .safetensors "
            f"files with --file ({listed})."
        )
    files = _folder_files(chosen)
    if not any(p.endswith(".safetensors") for p in files):
        raise TransferError(
            f"The repo {repo_id} has no .safetensors weights (only pickles), which Overpaint "
            "refuses."
        )
    plan_files = tuple(remote(p, p) for p in files)
    return Plan(repo_name, plan_files, folder=True, headers=headers, source=repo_id)


def _folder_files(paths: list[str]) -> list[str]:
    """Configs, tokenizer files and full-precision safetensors of a diffusers folder (a
    variant only where a component has nothing else)."""
    keep = [p for p in paths if p.endswith((".json", ".txt", ".model"))]
    weights = [p for p in paths if p.endswith(".safetensors")]
    plain = [p for p in weights if not _VARIANT_RE.search(PurePosixPath(p).name + ".")]
    folders_with_plain = {str(PurePosixPath(p).parent) for p in plain}
    variants = [
        p
        for p in weights
        if p not in plain and str(PurePosixPath(p).parent) not in folders_with_plain
    ]
    return sorted(keep + plain + variants)


def _model_info(api, repo_id: str):
    from huggingface_hub.errors import (  # ~20 ms with its HTTP stack: only when installing
        GatedRepoError,
        HfHubHTTPError,
        RepositoryNotFoundError,
    )

    try:
        return api.model_info(repo_id, files_metadata=True)
    except GatedRepoError as e:
        raise TransferError(
            f"The repo {repo_id} is gated; accept its licence on its web page and log in with "
            "`hf auth login`."
        ) from e
    except RepositoryNotFoundError as e:
        raise TransferError(
            f"There is no Hugging Face model repo {repo_id} (or it is private)."
        ) from e
    except HfHubHTTPError as e:
        status = getattr(getattr(e, "response", None), "status_code", "an error")
        raise TransferError(f"Hugging Face answered HTTP {status} for the repo {repo_id}.") from e
    except Exception as e:  # httpx connection errors and the like: one sentence
        raise TransferError(
            f"Cannot reach {hub_endpoint()} ({type(e).__name__}); check the network."
        ) from e
