"""Loading control models offline, and keeping them between jobs.

ControlNets load with diffusers (`from_pretrained` for folders, `from_single_file` with a
bundled config folder for single files, both with local_files_only). T2I-Adapters have no
single-file loader in diffusers, so a single file is read with safetensors and its
original TencentARC key names (body.N.block1 ...) are mapped onto diffusers' own.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engine.control.models import (
    FOLDER_CLASSES,
    TRANSFORMER_TYPES,
    ControlModelInfo,
    adapter_type,
)
from engine.core.errors import ModelError
from engine.core.precision import fast_layout

log = logging.getLogger(__name__)


def load_control_model(info: ControlModelInfo, unet_config: dict[str, Any]) -> Any:
    """The ControlNetModel, T2IAdapter or transformer family's ControlNet (FLUX.1, SD 3.5,
    Qwen-Image, Z-Image) for `info`, in float32 on the CPU."""
    try:
        if info.model_type == "controlnet":
            return _load_controlnet(info)
        if info.model_type in TRANSFORMER_TYPES:
            import diffusers  # ~2 s to import: only when a control loads

            model = getattr(diffusers, FOLDER_CLASSES[info.model_type])
            return model.from_pretrained(str(info.path), local_files_only=True)
        return _load_adapter(info, unet_config)
    except ModelError:
        raise
    except MemoryError as e:
        raise ModelError(f"Not enough memory to load the control model {info.name}.") from e
    except Exception as e:
        log.exception("loading control model %s failed", info.path)
        raise ModelError(
            f"Cannot load the control model {info.name}: its files in {info.path} are "
            "missing or damaged (details are in the log)."
        ) from e


def _load_controlnet(info: ControlModelInfo) -> Any:
    from diffusers import ControlNetModel  # ~2 s to import: only when a control loads

    if info.layout == "diffusers":
        return ControlNetModel.from_pretrained(str(info.path), local_files_only=True)
    config_dir = info.config["_overpaint_config_dir"]
    return ControlNetModel.from_single_file(
        str(info.path), config=config_dir, local_files_only=True
    )


def _load_adapter(info: ControlModelInfo, unet_config: dict[str, Any]) -> Any:
    from diffusers import T2IAdapter  # ~2 s to import: only when a control loads

    if info.layout == "diffusers":
        return T2IAdapter.from_pretrained(str(info.path), local_files_only=True)
    from safetensors.torch import load_file  # torch: ~1.2 s to import, only when a model loads

    cfg = {k: v for k, v in info.config.items() if not k.startswith("_")}
    cfg["adapter_type"] = adapter_type(info.config, unet_config)
    model = T2IAdapter(**cfg)
    state = load_file(str(info.path))
    if info.original_keys:
        state = convert_original_adapter(state, int(cfg["num_res_blocks"]))
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ModelError(
            f"{info.path} does not hold a complete T2I-Adapter ({len(missing)} weights "
            f"missing, {len(unexpected)} unknown)."
        )
    return model.eval()


def convert_original_adapter(state: dict[str, Any], per_level: int) -> dict[str, Any]:
    """TencentARC key names -> diffusers': body.(level*n + i).X -> adapter.body.level.
    resnets.i.X, except each level's in_conv, which belongs to the level."""
    out = {}
    for key, value in state.items():
        m = re.match(r"body\.(\d+)\.(.+)$", key)
        if not m:
            out[f"adapter.{key}"] = value
            continue
        index, rest = int(m.group(1)), m.group(2)
        level, i = divmod(index, per_level)
        if rest.startswith("in_conv."):
            out[f"adapter.body.{level}.{rest}"] = value
        else:
            out[f"adapter.body.{level}.resnets.{i}.{rest}"] = value
    return out


class ControlCache:
    """Control models loaded for recent jobs: a job loads what it lacks and frees what it
    no longer uses, so a control stays loaded from one job to the next and costs nothing
    once the user stops using it."""

    def __init__(self) -> None:
        self._models: dict[tuple, Any] = {}

    def models_for(
        self,
        infos: Sequence[ControlModelInfo],
        device: Any,
        dtype: Any,
        unet_config: dict[str, Any],
    ) -> list[Any]:
        keys = [(*_key(info, unet_config), str(device), str(dtype)) for info in infos]
        for key in [k for k in self._models if k not in keys]:
            log.info("freeing control model %s", key[0])
            del self._models[key]
        out = []
        for info, key in zip(infos, keys, strict=True):
            if key not in self._models:
                log.info("loading control model %s", info.path)
                model = load_control_model(info, unet_config)
                model.requires_grad_(False)
                model = model.to(device=device)
                if model.dtype != dtype:
                    model = model.to(dtype=dtype)
                self._models[key] = fast_layout(model)
            out.append(self._models[key])
        return out

    def loaded(self) -> list[Path]:
        return [Path(k[0]) for k in self._models]

    def clear(self) -> None:
        self._models.clear()


def _key(info: ControlModelInfo, unet_config: dict[str, Any]) -> tuple:
    try:
        stamp = info.path.stat().st_mtime_ns
    except OSError:
        stamp = 0
    layout = adapter_type(info.config, unet_config) if info.model_type == "t2i-adapter" else ""
    return (str(info.path.resolve()), stamp, layout)
