"""Crash-safe file replacement: the target is always either the old file or the new one.

The new bytes go to a temporary file in the target's folder (same filesystem, so the
final rename is atomic), are fsynced, and only then renamed over the target. The old
version is first hard-linked (or copied) to a backup, so the target name never stops
existing: a kill at any moment leaves a complete old or new file, plus maybe a stray
temporary file, which the next save's `mkstemp` never collides with.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

BACKUP_SUFFIX = ".bak"


def backup_path(path: str | os.PathLike[str]) -> Path:
    """Where the previous version of `path` is kept ("picture.ora" -> "picture.ora.bak")."""
    target = Path(path)
    return target.with_name(target.name + BACKUP_SUFFIX)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], keep_backup: bool = True) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces `path` (durably).

    If the body raises, the temporary file is removed and `path` is untouched.
    """
    # Through a symlink to the real file, so saving keeps the link instead of replacing it.
    target = Path(os.path.realpath(path))
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        # mkstemp makes the file private (0600); a saved file keeps the old file's
        # permissions, or gets the usual ones for a new file.
        os.chmod(tmp, _mode_for(target))
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        if keep_backup and target.is_file():
            _keep_backup(target)
        os.replace(tmp, target)
    except BaseException:
        # BaseException too: Ctrl-C during a save must not leave a stray temp file.
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)


def _mode_for(target: Path) -> int:
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


def _keep_backup(target: Path) -> None:
    backup = backup_path(target)
    staging = backup.with_name(f".{backup.name}.tmp")
    staging.unlink(missing_ok=True)
    try:
        os.link(target, staging)  # instant, and the old bytes stay where they are
    except OSError:
        shutil.copy2(target, staging)
    os.replace(staging, backup)


def _fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable; not possible on every platform, harmless to skip.
    with contextlib.suppress(OSError):
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
