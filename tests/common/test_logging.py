"""Log lines carry the ids of the message being handled, bound once as context."""

from __future__ import annotations

import io

import orjson
import structlog

from gossipsim.common.messaging.consuming import message_context
from gossipsim.common.messaging.messages import RunStarted, SimulationSubmit
from gossipsim.common.runtime.logging import configure_logging


def _json_lines(stream: io.TextIOWrapper) -> list[dict]:
    stream.flush()
    raw = stream.buffer.getvalue()  # type: ignore[attr-defined]
    return [orjson.loads(line) for line in raw.splitlines()]


def test_configured_logging_adds_the_bound_message_ids_to_every_line():
    stream = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    saved = structlog.get_config()
    try:
        configure_logging("info", stream=stream)
        log = structlog.get_logger("a-test-logger")  # a fresh one: not cached elsewhere
        message = RunStarted(simulation_id="sim-1", run_id="sim-1.r0", runner="runner")
        with message_context(message):
            log.info("inside", detail=1)
        log.info("outside")
    finally:
        structlog.configure(**saved)
    inside, outside = _json_lines(stream)
    assert inside["event"] == "inside"
    assert (inside["simulation_id"], inside["run_id"], inside["detail"]) == ("sim-1", "sim-1.r0", 1)
    assert "simulation_id" not in outside and "run_id" not in outside


def test_message_context_binds_only_the_ids_a_message_has():
    submit = SimulationSubmit(spec={})  # no simulation id yet: derived from the spec later
    with message_context(submit):
        assert structlog.contextvars.get_contextvars() == {}
    started = RunStarted(simulation_id="s", run_id="s.r1", runner="r")
    with message_context(started):
        assert structlog.contextvars.get_contextvars() == {"simulation_id": "s", "run_id": "s.r1"}
    assert structlog.contextvars.get_contextvars() == {}
