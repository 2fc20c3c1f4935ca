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


class ImageNotSavedError(OutputError):
    """Generated images could not be written to the output folder (read-only or full). They are
    not lost: `unsaved` holds them (GeneratedImages). When `fallback` is a folder, each was
    written there (with its parameters) and its `path` is that file; when it is None even the
    temp dir refused them, they exist only in memory and the front end must keep them on
    screen. `saved` holds the batch items that did reach the output folder."""

    def __init__(self, message: str, unsaved: list, saved: list, fallback=None) -> None:
        super().__init__(message)
        self.unsaved = unsaved
        self.saved = saved
        self.fallback = fallback


class Cancelled(BrushworkError):
    """The job was cancelled by the user; not a failure."""

    def __init__(self, message: str = "Cancelled.") -> None:
        super().__init__(message)
