"""Errors of the remote backend; each message names the server and says what to do."""

from __future__ import annotations

from ..errors import BrushworkError


class RemoteError(BrushworkError):
    """The server refused or failed the job (bad graph, missing model or node, runtime error)."""


class ServerDown(RemoteError):
    """The server could not be reached or dropped the connection: another server may take the
    job (the job itself was fine)."""
