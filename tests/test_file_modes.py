"""Every file Overpaint creates gets the permissions the umask allows; a replaced file
keeps its own. Checked through the real entry points: the `overpaint` CLI, .ora saves
(with their .bak), PNG export and recovery files."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from editor.app import main
from editor.io.export import export_png
from editor.io.project import save_ora
from editor.model.document import Document
from engine.core.atomic_write import backup_path


@pytest.fixture(params=[0o022, 0o027], ids=["umask022", "umask027"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _document() -> Document:
    doc = Document(64, 48)
    rgba = np.zeros((48, 64, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 255
    doc.add_layer("red", rgba=rgba)
    return doc


def _inputs(folder: Path) -> tuple[Path, Path]:
    picture, mask = folder / "in.png", folder / "mask.png"
    Image.fromarray(np.full((64, 64, 3), 120, np.uint8)).save(picture)
    white = np.zeros((64, 64), np.uint8)
    white[20:40, 20:40] = 255
    Image.fromarray(white).save(mask)
    return picture, mask


def test_cli_outputs_follow_the_umask(umask: int, tmp_path: Path) -> None:
    picture, mask = _inputs(tmp_path)
    filled, flat, project = tmp_path / "filled.png", tmp_path / "flat.png", tmp_path / "p.ora"
    argv = ["fill", "--init-img", str(picture), "--mask", str(mask), "--out", str(filled)]
    assert main(argv) == 0
    save_ora(_document(), project)
    assert main(["flatten", str(project), str(flat)]) == 0
    for path in (filled, flat, project):
        assert _mode(path) == 0o666 & ~umask, path.name


def test_txt2img_output_follows_the_umask(tiny_model_dir: Path, tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        out = tmp_path / "gen.png"
        argv = ["txt2img", "--prompt", "x", "--model", str(tiny_model_dir), "--steps", "1"]
        assert main([*argv, "--width", "64", "--height", "64", "--out", str(out)]) == 0
    finally:
        os.umask(old)
    assert _mode(out) == 0o640


def test_project_backup_export_and_recovery_follow_the_umask(umask: int, tmp_path: Path) -> None:
    from editor.model.snapshot import snapshot
    from editor.recovery import RecoveryStore, write_recovery

    doc, project, exported = _document(), tmp_path / "p.ora", tmp_path / "p.png"
    save_ora(doc, project)
    save_ora(doc, project)
    export_png(doc, exported)
    session = RecoveryStore(tmp_path / "recovery").new_session()
    try:
        write_recovery(snapshot(doc), session, project, "p.ora")
        made = (project, backup_path(project), exported, session.ora_path, session.meta_path)
        for path in made:
            assert _mode(path) == 0o666 & ~umask, path.name
    finally:
        session.release()


def test_replacing_a_file_keeps_its_mode(tmp_path: Path) -> None:
    doc, project, exported = _document(), tmp_path / "p.ora", tmp_path / "p.png"
    save_ora(doc, project)
    export_png(doc, exported)
    picture, mask = _inputs(tmp_path)
    filled = tmp_path / "filled.png"
    main(["fill", "--init-img", str(picture), "--mask", str(mask), "--out", str(filled)])
    for path in (project, exported, filled):
        path.chmod(0o640)
    old = os.umask(0o002)  # would give 0664 to a new file
    try:
        save_ora(doc, project)
        export_png(doc, exported)
        argv = ["fill", "--init-img", str(picture), "--mask", str(mask), "--out", str(filled)]
        assert main(argv) == 0
    finally:
        os.umask(old)
    for path in (project, backup_path(project), exported, filled):
        assert _mode(path) == 0o640, path.name
