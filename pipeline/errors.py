"""Errors the engine raises for things a user can fix.

Every `BrushworkError` carries a message meant for the user as is: the CLI prints it as one line
and the GUI shows it in the window. Anything else escaping the engine is a bug.
"""

from __future__ import annotations


class BrushworkError(Exception):
    """Base class: the message is written for the user."""


class RequestError(BrushworkError, ValueError):
    """A generation request has a bad value; the message names the field and the value."""


class ModelError(BrushworkError):
    """A model could not be found or loaded."""


class ImageInputError(BrushworkError):
    """An init image or mask could not be read or does not fit the request."""


class OutputError(BrushworkError):
    """A finished image could not be written."""


class Cancelled(BrushworkError):
    """The job was cancelled by the user; not a failure."""

    def __init__(self, message: str = "Cancelled.") -> None:
        super().__init__(message)
