"""Undo history capped by memory, not by count.

QUndoStack caps history by number of commands and only while empty; a painting history
must instead drop its oldest steps when the pixels it holds exceed a budget (setting
``undo_limit_mb``). So this is a small stack of our own with QUndoStack-like names.

Every command has a user-facing ``text`` ("Brush stroke", "Merge down", ...) that Undo/Redo
menu items show, and reports ``nbytes()`` (the pixel data it holds), which the cap counts.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from PySide6.QtCore import QObject, Signal

DEFAULT_UNDO_LIMIT_MB = 512


class Command:
    """One undoable edit. Subclasses implement redo() and undo()."""

    text = "Edit"

    def redo(self) -> None:
        raise NotImplementedError

    def undo(self) -> None:
        raise NotImplementedError

    def nbytes(self) -> int:
        return 0

    def merge(self, other: Command) -> bool:
        """Absorb ``other`` (pushed right after self) into self; True if merged.

        Used so that dragging a slider makes one step instead of hundreds.
        """
        return False


class MacroCommand(Command):
    """Several commands undone and redone as one step."""

    def __init__(self, text: str, commands: list[Command] | None = None) -> None:
        self.text = text
        self.commands: list[Command] = list(commands or [])

    def redo(self) -> None:
        for cmd in self.commands:
            cmd.redo()

    def undo(self) -> None:
        for cmd in reversed(self.commands):
            cmd.undo()

    def nbytes(self) -> int:
        return sum(cmd.nbytes() for cmd in self.commands)


class History(QObject):
    """The undo stack. ``changed`` fires after every push/undo/redo/clear."""

    changed = Signal()
    clean_changed = Signal(bool)

    def __init__(self, undo_limit_mb: float = DEFAULT_UNDO_LIMIT_MB, parent=None) -> None:
        super().__init__(parent)
        self._commands: list[Command] = []
        self._index = 0  # commands[:index] are done
        self._clean: int | None = 0  # index at which the document matches its file
        self._limit = int(undo_limit_mb * 1024 * 1024)
        self._macro: MacroCommand | None = None
        self._macro_depth = 0
        # The name of the state before the first step (the History dock's first row): a
        # new image unless whoever made the document says otherwise ("Opened NAME").
        self.start_text = "New image"

    # -- pushing ---------------------------------------------------------------------------
    def push(self, cmd: Command, applied: bool = False) -> None:
        """Add ``cmd``; runs its redo() first unless the edit is ``applied`` already (strokes)."""
        if not applied:
            cmd.redo()
        if self._macro is not None:
            self._macro.commands.append(cmd)
            return
        was_clean = self.is_clean()
        del self._commands[self._index :]
        if self._clean is not None and self._clean > self._index:
            self._clean = None
        top = self._commands[-1] if self._commands else None
        if top is not None and self._clean != self._index and top.merge(cmd):
            pass
        else:
            self._commands.append(cmd)
            self._index += 1
        self._enforce_limit()
        self._announce(was_clean)

    @contextmanager
    def macro(self, text: str) -> Iterator[None]:
        """Group every push inside the ``with`` block into one undo step named ``text``."""
        outer = self._macro is None
        if outer:
            self._macro = MacroCommand(text)
        self._macro_depth += 1
        try:
            yield
        finally:
            self._macro_depth -= 1
            if outer:
                macro, self._macro = self._macro, None
                if macro.commands:
                    self.push(macro, applied=True)

    def top(self) -> Command | None:
        """The newest done step (None when there is none)."""
        return self._commands[self._index - 1] if self._index > 0 else None

    def take_top(self, cmd: Command) -> bool:
        """Lift ``cmd``, the newest done step, off the stack with its edit still applied,
        so that it can be pushed again inside a larger step (an outpaint's canvas growth
        joining the result's Accept). False, and nothing changes, if ``cmd`` is not the
        newest done step. The redo steps go, as with any push."""
        if self._macro is not None or self.top() is not cmd:
            return False
        self._index -= 1
        del self._commands[self._index :]
        if self._clean is not None and self._clean > self._index:
            self._clean = None
        return True

    def drop_top(self, cmd: Command) -> bool:
        """Undo ``cmd``, the newest done step, and forget it: no redo step is left (a
        discarded outpaint's canvas growth). False, and nothing changes, if ``cmd`` is not
        the newest done step."""
        if self._macro is not None or self.top() is not cmd:
            return False
        was_clean = self.is_clean()
        cmd.undo()
        self._index -= 1
        del self._commands[self._index :]
        if self._clean is not None and self._clean > self._index:
            self._clean = None
        self._announce(was_clean)
        return True

    # -- moving ----------------------------------------------------------------------------
    def undo(self) -> bool:
        if not self.can_undo():
            return False
        was_clean = self.is_clean()
        self._index -= 1
        self._commands[self._index].undo()
        self._announce(was_clean)
        return True

    def redo(self) -> bool:
        if not self.can_redo():
            return False
        was_clean = self.is_clean()
        self._commands[self._index].redo()
        self._index += 1
        self._announce(was_clean)
        return True

    def can_undo(self) -> bool:
        return self._index > 0 and self._macro is None

    def can_redo(self) -> bool:
        return self._index < len(self._commands) and self._macro is None

    def undo_text(self) -> str:
        return self._commands[self._index - 1].text if self._index > 0 else ""

    def redo_text(self) -> str:
        return self._commands[self._index].text if self._index < len(self._commands) else ""

    def texts(self) -> list[str]:
        """Names of all steps, oldest first (for a history panel); index() of them are done."""
        return [cmd.text for cmd in self._commands]

    def count(self) -> int:
        return len(self._commands)

    def index(self) -> int:
        return self._index

    def clear(self) -> None:
        was_clean = self.is_clean()
        self._commands.clear()
        self._index = 0
        self._clean = 0
        self._announce(was_clean)

    # -- clean state (unsaved changes) -----------------------------------------------------
    def set_clean(self) -> None:
        was_clean = self.is_clean()
        self._clean = self._index
        self._announce(was_clean)

    def is_clean(self) -> bool:
        return self._clean == self._index

    def mark_modified(self) -> None:
        """Treat the current state as unsaved (e.g. work restored from a recovery file)."""
        was_clean = self.is_clean()
        self._clean = None
        self._announce(was_clean)

    # -- memory ----------------------------------------------------------------------------
    def undo_bytes(self) -> int:
        """Bytes of pixel data the history holds (undo and redo steps)."""
        return sum(cmd.nbytes() for cmd in self._commands)

    @property
    def undo_limit_mb(self) -> float:
        return self._limit / (1024 * 1024)

    @undo_limit_mb.setter
    def undo_limit_mb(self, value: float) -> None:
        self._limit = int(max(value, 0) * 1024 * 1024)
        was_clean = self.is_clean()
        self._enforce_limit()
        self._announce(was_clean)

    def _enforce_limit(self) -> None:
        # Drop the oldest steps until under the cap; the newest done step always stays,
        # so the edit just made can be undone even when it alone exceeds the cap.
        total = self.undo_bytes()
        while total > self._limit and self._index > 1:
            dropped = self._commands.pop(0)
            total -= dropped.nbytes()
            self._index -= 1
            if self._clean is not None:
                self._clean = self._clean - 1 if self._clean > 0 else None

    def _announce(self, was_clean: bool) -> None:
        self.changed.emit()
        if was_clean != self.is_clean():
            self.clean_changed.emit(self.is_clean())
