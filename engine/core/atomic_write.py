"""Crash-safe file replacement, the one way Overpaint writes every file it creates.

The new bytes go to a hidden temporary file beside the target (same filesystem, so the
final rename is atomic), are fsynced, and only then renamed over the target: the target
is always a complete old or new version. With ``keep_backup`` the old version is first
hard-linked (or copied) to "<name>.bak", so the target name never stops existing.

Permissions follow the user's umask, as in every other editor: a new file gets
``0666 & ~umask`` (the kernel applies the umask when the temporary file is created, so
nothing here has to read it), and a replaced file keeps its own mode.

A kill leaves the temporary file behind. Each writer holds an exclusive ``flock`` on its
temporary file until the rename is done, so a temporary that can be locked belongs to a
dead writer: `remove_stale_temporaries` deletes exactly those. Every write (and opening a
project) calls it for its path, so a crash leaves litter only until the next save.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no flock, so stale temporaries cannot be told apart
    fcntl = None

BACKUP_SUFFIX = ".bak"
TEMP_SUFFIX = ".tmp"
# Eight name characters, as tempfile.mkstemp made them before (older litter matches too).
_RANDOM_RE = r"[a-z0-9_]{8}"


def backup_path(path: str | os.PathLike[str]) -> Path:
    """Where the previous version of `path` is kept ("picture.ora" -> "picture.ora.bak")."""
    target = Path(path)
    return target.with_name(target.name + BACKUP_SUFFIX)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], keep_backup: bool = False) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces `path` (durably).

    If the body raises (Ctrl-C included), the temporary file is removed and `path` is
    untouched. With `keep_backup`, an existing `path` is kept as "<name>.bak".
    """
    # Through a symlink to the real file, so saving keeps the link instead of replacing it.
    target = Path(os.path.realpath(path))
    remove_stale_temporaries(target)
    fd, tmp = _create_locked_temp(target)
    try:
        try:
            os.fchmod(fd, stat.S_IMODE(target.stat().st_mode))
        except FileNotFoundError:
            pass  # a new file: the umask already chose its mode
        yield tmp
        os.fsync(fd)
        if keep_backup and target.is_file():
            _keep_backup(target, tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        # Only now: until the rename is done, a sweeper must see the temporary as alive.
        os.close(fd)
    _fsync_dir(target.parent)
    # Once more after our own rename: a writer killed while the first sweep ran (its
    # lock not yet dropped) leaves nothing behind either. One directory listing.
    remove_stale_temporaries(target)


def remove_stale_temporaries(path: str | os.PathLike[str]) -> list[Path]:
    """Delete the temporary files that killed writers of `path` left; return them.

    A temporary that a running save (in any process) still writes is locked and stays.
    Errors (a read-only folder, a vanished file) are ignored: this is housekeeping.
    """
    if fcntl is None:
        return []
    target = Path(os.path.realpath(path))
    name = re.escape(target.name)
    temp_re = re.compile(rf"\.{name}\.({_RANDOM_RE}){re.escape(TEMP_SUFFIX)}")
    staging_re = re.compile(rf"\.{name}\.({_RANDOM_RE})\.bak{re.escape(TEMP_SUFFIX)}")
    try:
        names = os.listdir(target.parent)
    except OSError:
        return []
    removed = []
    for entry in names:
        candidate = target.parent / entry
        if temp_re.fullmatch(entry):
            if _unlink_if_unlocked(candidate, candidate):
                removed.append(candidate)
        elif match := staging_re.fullmatch(entry):
            # A backup staging link is alive exactly while its writer's temporary is.
            owner = target.parent / f".{target.name}.{match.group(1)}{TEMP_SUFFIX}"
            if _unlink_if_unlocked(owner, candidate):
                removed.append(candidate)
    return removed


def _create_locked_temp(target: Path) -> tuple[int, Path]:
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}{TEMP_SUFFIX}")
        try:
            fd = os.open(tmp, flags, 0o666)  # the kernel applies the umask
        except FileExistsError:
            continue
        if fcntl is None:
            return fd, tmp
        fcntl.flock(fd, fcntl.LOCK_EX)
        # A sweeper may have locked and deleted the file between its creation and our
        # lock; then it is no longer ours under that name, so start over.
        if _same_file(tmp, fd):
            return fd, tmp
        os.close(fd)
    raise FileExistsError(errno.EEXIST, "no free temporary file name", str(target.parent))


def _unlink_if_unlocked(lock_path: Path, victim: Path) -> bool:
    """Unlink `victim` when nobody holds `lock_path`'s lock (or it is gone)."""
    try:
        fd = os.open(lock_path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        fd = -1  # the writer's temporary is gone: nothing alive owns `victim`
    except OSError:
        return False
    try:
        if fd >= 0:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return False  # a running save holds it
            if lock_path == victim and not _same_file(victim, fd):
                return False  # renamed or replaced meanwhile
        victim.unlink()
        return True
    except OSError:
        return False
    finally:
        if fd >= 0:
            os.close(fd)


def _same_file(path: Path, fd: int) -> bool:
    try:
        st = os.stat(path, follow_symlinks=False)
    except OSError:
        return False
    own = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)


def _keep_backup(target: Path, tmp: Path) -> None:
    backup = backup_path(target)
    # Named after our temporary, so a sweeper knows it lives exactly as long as that.
    staging = tmp.with_name(tmp.name[: -len(TEMP_SUFFIX)] + ".bak" + TEMP_SUFFIX)
    staging.unlink(missing_ok=True)
    try:
        os.link(target, staging)  # instant, and the old bytes stay where they are
    except OSError:
        shutil.copy2(target, staging)
    try:
        os.replace(staging, backup)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise


def _fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable; not possible on every platform, harmless to skip.
    with contextlib.suppress(OSError):
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
