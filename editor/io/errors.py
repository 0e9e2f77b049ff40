"""Errors raised when a file cannot be read or written.

`str(error)` is one plain sentence fit to show a user: what happened to which file and,
where there is one, what to do next. Technical detail goes to the log, not the message.
"""

from __future__ import annotations


class FileError(Exception):
    """A file could not be opened or saved; the message names the file and the reason."""


class ImageTooLargeError(FileError):
    """The image's declared size is above the configured pixel limit (decoding never started)."""


class ProjectFormatError(FileError):
    """An OpenRaster project is malformed or unsafe and was refused as a whole."""


def file_error_from_os(exc: OSError, name: str, saving: bool = False) -> FileError:
    """The user-facing sentence for an operating-system error on file `name`."""
    if isinstance(exc, IsADirectoryError):
        return FileError(f'"{name}" is a folder, not a file.')
    if saving:
        if isinstance(exc, FileNotFoundError):
            return FileError(f'"{name}" could not be saved because its folder does not exist.')
        if isinstance(exc, PermissionError):
            return FileError(f'"{name}" could not be saved: permission denied for that folder.')
        return FileError(f'"{name}" could not be saved ({exc.strerror or exc}).')
    if isinstance(exc, FileNotFoundError):
        return FileError(f'"{name}" does not exist; it may have been moved or deleted.')
    if isinstance(exc, PermissionError):
        return FileError(f'"{name}" cannot be opened: permission denied.')
    return FileError(f'"{name}" could not be read ({exc.strerror or exc}).')
