"""For tests that run `bot.cli.main` in-process: it configures logging for the stderr of
the moment (pytest's capture), which later tests must not inherit."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import structlog


@contextmanager
def logging_put_back() -> Iterator[None]:
    """Put structlog's and the root logger's configuration back after `main`."""
    saved_structlog = structlog.get_config()
    root = logging.getLogger()
    saved_root = (list(root.handlers), root.level)
    try:
        yield
    finally:
        structlog.configure(**saved_structlog)
        root.handlers[:] = saved_root[0]
        root.setLevel(saved_root[1])
