"""Keeping the libraries' own messages out of the command line's output.

diffusers, transformers and the other libraries log warnings that say nothing about the user's
request (e.g. transformers' "`CLIPImageProcessor` requires torchvision (not installed)", three
lines on every run). The CLI sends them, and Python warnings, to a log file instead
(`<user log dir>/Brushwork/cli.log`); `--verbose` leaves them on stderr.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import warnings
from collections.abc import Iterator
from logging.handlers import RotatingFileHandler
from pathlib import Path

from .outputs import APP_NAME

# The libraries' root loggers; "py.warnings" carries Python warnings (logging.captureWarnings).
LIBRARY_LOGGERS = (
    "diffusers",
    "transformers",
    "huggingface_hub",
    "accelerate",
    "torch",
    "PIL",
    "py.warnings",
)
# These install their own stderr handler when first imported: import them first, so that the
# handler exists now and is swapped out, rather than added later, in the middle of the run.
_SELF_CONFIGURING = ("diffusers.utils.logging", "transformers.utils.logging")
LOG_BYTES = 1_000_000  # one old file is kept beside the current one


def log_file() -> Path:
    """`<user log dir>/Brushwork/cli.log` (on Linux ~/.local/state/Brushwork/log/cli.log)."""
    import platformdirs

    return platformdirs.user_log_path(APP_NAME, appauthor=False) / "cli.log"


class _LogFile(RotatingFileHandler):
    def handleError(self, record: logging.LogRecord) -> None:
        """A log that cannot be written must not disturb the run (logging would print a
        traceback on stderr)."""


def _handler(path: Path) -> logging.Handler:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = _LogFile(
            path, maxBytes=LOG_BYTES, backupCount=1, encoding="utf-8", delay=True
        )
    except OSError:
        return logging.NullHandler()  # no writable log folder: drop them rather than fail
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    return handler


@contextlib.contextmanager
def library_messages_to_log(path: Path | None = None) -> Iterator[None]:
    """Within the block, the libraries' log records and Python warnings go to `path` (default
    `log_file()`, written only if something is logged), not to stderr. Restored afterwards."""
    for module in _SELF_CONFIGURING:
        with contextlib.suppress(ImportError):
            importlib.import_module(module)
    handler = _handler(path or log_file())
    saved = []
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, logger.handlers[:], logger.propagate))
        logger.handlers = [handler]
        logger.propagate = False
    showwarning = warnings.showwarning
    logging.captureWarnings(True)
    try:
        yield
    finally:
        logging.captureWarnings(False)
        warnings.showwarning = showwarning
        for logger, handlers, propagate in saved:
            logger.handlers = handlers
            logger.propagate = propagate
        handler.close()
