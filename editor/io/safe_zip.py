"""Reading members of an untrusted zip archive without trusting what it says about itself.

Nothing is ever extracted to disk, so a member name cannot write outside any folder; names
that try (`../`, drive letters) or symlink members mark the archive as hostile and it is
refused whole. Sizes are capped twice: the sizes the central directory declares are
checked before reading, and the actual bytes are read with a hard cap, so a member that
lies about its size (a zip bomb) cannot make us inflate more than the cap.
"""

from __future__ import annotations

import logging
import os
import stat
import zipfile
from pathlib import Path, PurePosixPath

from editor.io.errors import ProjectFormatError

log = logging.getLogger(__name__)

MAX_MEMBERS = 10_000
MAX_MEMBER_BYTES = 1 << 30  # one member; a 16-bit 100 MP layer PNG stays well below
MAX_TOTAL_BYTES = 8 << 30  # everything we may read from one archive
# A deflated member that inflates more than this many times is a bomb, not a picture.
MAX_RATIO = 1000
RATIO_MIN_BYTES = 16 << 20


def normalise_name(name: str) -> str | None:
    """A member name as a clean relative path, or None when it points outside the archive.

    A leading slash is tolerated (some writers put "/data/a.png" in stack.xml).
    """
    name = name.replace("\\", "/").lstrip("/")
    parts = PurePosixPath(name).parts
    if parts and ":" in parts[0]:  # "C:/..." is absolute on Windows
        return None
    if any(part == ".." for part in parts):
        return None
    return "/".join(part for part in parts if part != ".")


class SafeZip:
    """An open archive whose names, sizes and member types were checked on open."""

    def __init__(self, path: str | os.PathLike[str], label: str) -> None:
        self.label = label
        # A save cut short (a full disk, a crash) leaves 0 bytes: say so, as for images.
        # (A missing file's OSError goes to the caller, which words it.)
        if os.stat(path).st_size == 0:
            raise ProjectFormatError(
                f'"{label}" is empty (0 bytes), so there is no project to open.'
            )
        try:
            self._zip = zipfile.ZipFile(path)
        except OSError:
            raise  # missing file, permissions: the caller words those
        except Exception as exc:  # BadZipFile, and struct/value errors of a mangled directory
            log.warning("opening %s as zip failed: %r", label, exc)
            raise ProjectFormatError(
                f'"{label}" is not an OpenRaster project (it is not a zip archive) or it is damaged.'
            ) from None
        try:
            self._members = self._check_members()
        except BaseException:
            self._zip.close()
            raise
        self._read_total = 0

    def _check_members(self) -> dict[str, zipfile.ZipInfo]:
        infos = self._zip.infolist()
        if len(infos) > MAX_MEMBERS:
            raise self._refuse(f"it holds {len(infos)} files, more than a project ever needs")
        members: dict[str, zipfile.ZipInfo] = {}
        declared_total = 0
        for info in infos:
            clean = normalise_name(info.filename)
            if clean is None:
                raise self._refuse("it contains a file path that points outside the project")
            if stat.S_ISLNK(info.external_attr >> 16):
                raise self._refuse("it contains a symbolic link")
            if info.file_size > MAX_MEMBER_BYTES:
                raise self._refuse("one of its files is far too large to be a layer")
            if (
                info.compress_type != zipfile.ZIP_STORED
                and info.file_size > RATIO_MIN_BYTES
                and info.file_size > MAX_RATIO * max(info.compress_size, 1)
            ):
                raise self._refuse("it is a zip bomb (a tiny file that would unpack enormously)")
            declared_total += info.file_size
            if not clean or info.filename.endswith("/"):  # ZipInfo.is_dir() fails on ""
                continue
            members.setdefault(clean, info)
        if declared_total > MAX_TOTAL_BYTES:
            raise self._refuse("its contents would unpack to more than 8 GB")
        return members

    def _refuse(self, reason: str) -> ProjectFormatError:
        return ProjectFormatError(f'"{self.label}" was not opened because {reason}.')

    def names(self) -> list[str]:
        return list(self._members)

    def has(self, name: str) -> bool:
        clean = normalise_name(name)
        if clean is None:
            raise self._refuse(f'it refers to "{name}", a path outside the project')
        return bool(clean) and clean in self._members

    def read(self, name: str, cap: int = MAX_MEMBER_BYTES) -> bytes:
        """The bytes of member `name` (already normalised or not); KeyError when absent."""
        clean = normalise_name(name)
        if clean is None:
            raise self._refuse(f'it refers to "{name}", a path outside the project')
        info = self._members[clean]
        cap = min(cap, MAX_MEMBER_BYTES, MAX_TOTAL_BYTES - self._read_total)
        if info.file_size > cap:
            raise self._refuse(f'"{clean}" inside it is too large')
        try:
            with self._zip.open(info) as fh:
                data = fh.read(cap + 1)
        except Exception as exc:
            # Bad CRC, a zlib stream error, truncation, unsupported compression or encryption.
            log.warning("reading %s from %s failed: %r", clean, self.label, exc)
            raise ProjectFormatError(
                f'"{self.label}" is damaged: "{clean}" inside it could not be read.'
            ) from None
        if len(data) > cap:
            raise self._refuse(f'"{clean}" inside it unpacks to more than its declared size')
        self._read_total += len(data)
        return data

    def close(self) -> None:
        self._zip.close()

    def __enter__(self) -> SafeZip:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def label_for(path: str | os.PathLike[str]) -> str:
    return Path(path).name
