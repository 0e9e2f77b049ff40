"""Installing a planned source into the models folder, atomically.

Everything is fetched (or copied) into a staging folder beside the models folder
(<data>/downloads/<key>/), checked (SHA-256, safetensors header, kind), and only then
renamed into models/<kind folder>/ in one step. So a failed, cancelled or checked-bad
install never leaves anything in the models folder; a cancelled or broken transfer
leaves its `.part` file in staging, where the next install of the same source resumes.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from engine.core.errors import Cancelled, ModelError
from engine.core.paths import user_data_dir, user_models_dir
from engine.model_files import WEIGHT_SUFFIXES
from engine.model_manager.kinds import KIND_DIRS, KINDS, classify
from engine.model_manager.sources import Plan, plan_install, refuse_pickle
from engine.model_manager.transfer import (
    CancelFn,
    Meter,
    ProgressFn,
    TransferError,
    check_sha256,
    download,
    file_name_from,
    human_size,
)

log = logging.getLogger(__name__)
# Room left free after an install so the system does not run dry.
DISK_MARGIN = 64 * 1024 * 1024


@dataclass(frozen=True)
class InstallResult:
    name: str
    kind: str
    family: str
    path: Path
    size: int


def staging_root() -> Path:
    return user_data_dir() / "downloads"


def free_space(folder: Path) -> int:
    """Free bytes on the disk that holds `folder` (its nearest existing parent)."""
    probe = Path(folder)
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    return shutil.disk_usage(probe).free


def check_space(needed: int | None, folder: Path, name: str) -> None:
    if needed is None:
        return
    free = free_space(folder)
    if needed + DISK_MARGIN > free:
        raise TransferError(
            f"Not enough disk space for {name}: it needs {human_size(needed)} and "
            f"{human_size(free)} is free in {folder}."
        )


def look_up(source: str, file: str | None = None) -> Plan:
    """`plan_install`, with a local file or folder checked where it lies: a wrong one (not
    a model, cut off) is refused naming the user's own path, before anyone is asked to
    install it and before it is copied (a check of the staged copy would name that)."""
    plan = plan_install(source, file)
    if plan.local is not None:
        classify(plan.local)
    return plan


def install(
    source: str,
    file: str | None = None,
    sha256: str | None = None,
    kind: str | None = None,
    link: bool = False,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    plan: Plan | None = None,
) -> InstallResult:
    """Install `source` (see `plan_install`) into the models folder; raises TransferError,
    ModelError or Cancelled with one sentence, leaving the models folder as it was."""
    if kind is not None and kind not in KINDS:
        raise TransferError(f"Unknown kind {kind!r}; use one of {', '.join(KINDS)}.")
    plan = plan or look_up(source, file)
    if sha256 and plan.folder:
        raise TransferError("--sha256 checks one file; a folder is checked file by file.")
    key = hashlib.sha1(f"{plan.source}|{file}".encode()).hexdigest()[:16]
    stage = staging_root() / key
    stage.mkdir(parents=True, exist_ok=True)
    if plan.local is not None and link:
        staged = plan.local
    elif plan.local is not None:
        staged = _copy_local(plan, stage, progress, cancel)
    else:
        staged = _fetch(plan, stage, progress, cancel)
    try:
        check_sha256(staged, sha256, plan.name)
        found = classify(staged)
        if kind is None:
            kind = found.kind
        target = user_models_dir() / KIND_DIRS[kind] / staged.name
        if target.exists() or target.is_symlink():
            raise TransferError(f"{target.name} is already installed at {target}; remove it first.")
        target.parent.mkdir(parents=True, exist_ok=True)
        if staged is plan.local:
            target.symlink_to(staged, target_is_directory=staged.is_dir())
        else:
            os.replace(staged, target)
    except (TransferError, ModelError):
        if staged is not plan.local:
            _remove(staged)
        raise
    finally:
        if stage.is_dir() and not any(stage.iterdir()):
            stage.rmdir()
    size = _size(target)
    log.info("installed %s as %s (%s) at %s", plan.source, kind, found.family, target)
    return InstallResult(target.name, kind, found.family, target, size)


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _fetch(plan: Plan, stage: Path, progress: ProgressFn | None, cancel: CancelFn | None) -> Path:
    total = plan.size
    partial = sum(p.stat().st_size for p in stage.rglob("*.part") if p.is_file())
    check_space(None if total is None else total - partial, stage, plan.name)
    meter = Meter(total, progress, plan.name)
    if not plan.folder:
        (remote,) = plan.files
        names: dict[str, str] = {}

        def checked(headers, size) -> None:
            name = plan.name
            if not name.lower().endswith(WEIGHT_SUFFIXES):  # e.g. Civitai's /download/42
                name = file_name_from(headers, remote.url) or name
            refuse_pickle(name)
            names["name"] = name
            if meter.total is None:
                meter.total = size
                check_space(size, stage, name)

        part = stage / "download.part"
        download(remote.url, part, meter, plan.headers, cancel, checked)
        name = names.get("name") or plan.name
        if not name.lower().endswith(WEIGHT_SUFFIXES):
            name = f"{Path(name).stem or 'model'}.safetensors"  # checked by its header next
        done = stage / name
        os.replace(part, done)
        _checked(done, remote.sha256, name)
        return done
    folder = stage / plan.name
    for remote in plan.files:
        dest = folder / remote.relpath
        if dest.is_file() and (remote.size is None or dest.stat().st_size == remote.size):
            meter.add(dest.stat().st_size, force=True)  # fetched by an earlier try
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_name(dest.name + ".part")
        download(remote.url, part, meter, plan.headers, cancel)
        os.replace(part, dest)
        _checked(dest, remote.sha256, remote.relpath)
    return folder


def _checked(path: Path, sha256: str | None, name: str) -> None:
    """Check a fetched file's published hash; a bad one is deleted (resuming it is moot)."""
    try:
        check_sha256(path, sha256, name)
    except TransferError:
        path.unlink(missing_ok=True)
        raise


def _copy_local(
    plan: Plan, stage: Path, progress: ProgressFn | None, cancel: CancelFn | None
) -> Path:
    assert plan.local is not None
    check_space(plan.size, stage, plan.name)
    meter = Meter(plan.size, progress, plan.name)
    source = plan.local
    files = [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())
    target = stage / plan.name
    _remove(target)
    try:
        for path in files:
            dest = target if source.is_file() else target / path.relative_to(source)
            dest.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "rb") as src, open(dest, "wb") as out:
                for block in iter(lambda: src.read(1 << 20), b""):
                    if cancel and cancel():
                        raise Cancelled("Install cancelled.")
                    out.write(block)
                    meter.add(len(block))
        meter.add(0, force=True)
    except BaseException:
        _remove(target)
        raise
    return target


def cleanup_staging() -> None:
    """Forget every interrupted transfer (their `.part` files)."""
    shutil.rmtree(staging_root(), ignore_errors=True)
