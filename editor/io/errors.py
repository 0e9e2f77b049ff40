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
