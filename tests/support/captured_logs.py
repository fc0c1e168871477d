"""Capture what services log, with the bound message context, however logging was set up.

``structlog.testing.capture_logs`` alone misses lines in two cases that a test session meets:
module loggers cached by an earlier ``configure_logging`` (``cache_logger_on_first_use``) keep
their old processors, and a level filter set there (the CLI's ``warning``) drops info lines.
So the given modules get fresh, uncached loggers for the test, every level passes, and
``merge_contextvars`` runs first, as in production, so bound ids show up in the entries.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

import pytest
import structlog
from structlog.typing import EventDict


@contextmanager
def captured_logs(
    monkeypatch: pytest.MonkeyPatch, *modules: ModuleType
) -> Iterator[list[EventDict]]:
    """Entries logged through the ``log`` of ``modules`` while the block runs."""
    for module in modules:
        monkeypatch.setattr(module, "log", structlog.get_logger(module.__name__))
    saved = structlog.get_config()
    try:
        with structlog.testing.capture_logs(
            processors=[structlog.contextvars.merge_contextvars]
        ) as entries:
            structlog.configure(
                wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
                cache_logger_on_first_use=False,
            )
            yield entries
    finally:
        structlog.configure(**saved)
