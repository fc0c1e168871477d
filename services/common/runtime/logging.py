"""structlog, configured in one place (structlog's own performance recipe).

JSON lines (orjson) when the output is not a terminal, readable console lines when it is.
Module code only does ``log = structlog.get_logger(__name__)``. Request context is not passed by
hand: consumers bind a message's ``simulation_id`` and ``run_id`` as structlog contextvars
(:func:`gossipsim.common.messaging.consuming.message_context`) and ``merge_contextvars``, first
in the chain, adds them to every line logged while that message is handled.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import TextIO

import orjson
import structlog

from gossipsim.common.runtime.variables import CLI_LOG_LEVEL, LOG_LEVEL_VAR


class _CurrentStderr:
    """Whatever ``sys.stderr`` is at each write. Loggers are cached on first use, so a stream
    captured at configuration time would outlive a swapped one (test runners, embedding)."""

    def __init__(self, *, binary: bool) -> None:
        self._binary = binary

    def write(self, data: str | bytes) -> None:
        target = sys.stderr.buffer if self._binary else sys.stderr
        # str goes to sys.stderr, bytes to its buffer: the pairing the binary flag guarantees
        target.write(data)  # type: ignore[arg-type]

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(level: str = "info", *, stream: TextIO | None = None) -> None:
    """Configure once per process; ``stream`` None means the current ``sys.stderr``."""
    live = stream is None
    stream = stream or sys.stderr
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}")
    processors: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if stream.isatty():
        processors.append(structlog.dev.ConsoleRenderer())
        factory: structlog.typing.WrappedLogger = structlog.PrintLoggerFactory(
            # the factory only calls write() and flush(), which _CurrentStderr has
            _CurrentStderr(binary=False) if live else stream  # type: ignore[arg-type]
        )
    else:
        processors += [
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(serializer=orjson.dumps),
        ]
        factory = structlog.BytesLoggerFactory(
            # the factory only calls write() and flush(), which _CurrentStderr has
            _CurrentStderr(binary=True) if live else stream.buffer  # type: ignore[arg-type]
        )
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=factory,
        cache_logger_on_first_use=True,
    )


def configure_library_logging(env: Mapping[str, str]) -> None:
    """Logging for the Python entry points (``gossipsim.run``, ``simulate``): quiet by default.

    Unconfigured, structlog prints every level, debug included, so a notebook would show the
    services' chatter. The level is ``GOSSIPSIM_LOG_LEVEL``, ``warning`` when it is unset, as on
    the command line. An application that configured structlog itself keeps its configuration
    unless ``GOSSIPSIM_LOG_LEVEL`` is set; the node processes follow the same variable
    (:class:`~gossipsim.runner.local_launcher.LocalProcessLauncher`).
    """
    level = LOG_LEVEL_VAR.read_or(env, CLI_LOG_LEVEL)
    if structlog.is_configured() and not env.get(LOG_LEVEL_VAR.name, "").strip():
        return
    configure_logging(level)
