"""engine.core.atomic_write: whole-or-nothing replacement and the sweeping of stale temporaries."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.core.atomic_write import atomic_write, backup_path, remove_stale_temporaries


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_write(target, keep_backup=True) as tmp:
        tmp.write_text("half")
        raise RuntimeError("disk on fire")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_writes_through_a_symlink_and_keeps_a_backup(tmp_path: Path) -> None:
    real, link = tmp_path / "real.txt", tmp_path / "link.txt"
    real.write_text("one")
    link.symlink_to(real)
    with atomic_write(link, keep_backup=True) as tmp:
        tmp.write_text("two")
    assert link.is_symlink() and real.read_text() == "two"
    assert backup_path(real).read_text() == "one"


def test_sweeps_only_the_litter_of_its_own_path(tmp_path: Path) -> None:
    target = tmp_path / "p.ora"
    stale = [
        tmp_path / ".p.ora.k2_x9qzt.tmp",  # what tempfile.mkstemp used to name them
        tmp_path / ".p.ora.0a1b2c3d.tmp",
        tmp_path / ".p.ora.0a1b2c3d.bak.tmp",  # a backup link whose save was killed
    ]
    kept = [
        tmp_path / ".other.ora.0a1b2c3d.tmp",  # another project's (maybe running) save
        tmp_path / ".p.ora.notes.tmp",  # not a name we make
        tmp_path / "p.ora.0a1b2c3d.tmp",
    ]
    for path in stale + kept:
        path.write_bytes(b"x")
    assert sorted(remove_stale_temporaries(target)) == sorted(stale)
    assert all(p.exists() for p in kept) and not any(p.exists() for p in stale)


def test_a_missing_folder_is_no_error(tmp_path: Path) -> None:
    assert remove_stale_temporaries(tmp_path / "nowhere" / "p.ora") == []
