"""Typed engine errors whose str() is one sentence a user can act on.

Details (tracebacks, tensor shapes) go to the log; the message says what happened and
what to try next.
"""

from __future__ import annotations


class EngineError(Exception):
    """Base class: str(error) is a single user-facing sentence."""


class ModelError(EngineError):
    """A model is missing, unreadable, of an unknown family or wrong for the mode."""


class OutOfMemoryError(EngineError):
    """The device ran out of memory."""


class InvalidRequestError(EngineError):
    """The request's parameters or inputs cannot be used."""


class Cancelled(EngineError):
    """The job was cancelled; no result was produced."""

    def __init__(self, message: str = "Generation cancelled.") -> None:
        super().__init__(message)
