"""The error tree, and how a consumer settles a message that raised Retry."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from gossipsim.common import errors
from gossipsim.common.errors import (
    GossipsimError,
    InvalidInput,
    ProtocolMisuse,
    Retry,
    RunAborted,
    ShardFailed,
    TemporaryFailure,
)
from gossipsim.common.messaging import consuming, messages
from gossipsim.common.messaging.bus import REASON_HEADER, Delivery, Envelope, QueueSpec
from gossipsim.common.messaging.memory_bus import InMemoryBus
from gossipsim.node.shard_state import PhaseError
from tests.support.captured_logs import captured_logs


def test_the_tree_keeps_bad_input_apart_from_retries_and_protocol_misuse():
    assert issubclass(messages.MessageError, InvalidInput)
    assert issubclass(ShardFailed, RunAborted) and issubclass(RunAborted, TemporaryFailure)
    assert issubclass(Retry, TemporaryFailure)
    assert issubclass(PhaseError, ProtocolMisuse)
    for kind in (TemporaryFailure, ProtocolMisuse):
        assert issubclass(kind, GossipsimError) and not issubclass(kind, InvalidInput)


def test_the_run_error_no_longer_shares_its_name_with_the_message():
    """errors.RunFailed clashed with messages.RunFailed; only the message keeps the name."""
    assert not hasattr(errors, "RunFailed")
    assert messages.RunFailed.kind == "run.failed"


def test_a_bug_is_not_in_the_tree():
    for bug in (ValueError, TypeError, KeyError):
        assert not issubclass(bug, GossipsimError)


def test_retry_carries_its_delay():
    assert Retry("not yet", defer=2.5).defer == 2.5
    assert Retry("not yet").defer == errors.DEFAULT_DEFER
    with pytest.raises(ValueError, match="defer"):
        Retry("not yet", defer=-1)


async def _retried_on_memory_bus(
    monkeypatch: pytest.MonkeyPatch, limit: int, defer: float
) -> tuple[list[float], list[Delivery], list[dict]]:
    """Raise Retry on every delivery of one message; return the delivery times and what
    reached the dead-letter queue."""
    async with InMemoryBus() as bus:
        await bus.declare_exchange("x")
        await bus.declare_exchange("dlx")
        await bus.declare_queue(
            QueueSpec(name="q", delivery_limit=limit, dead_letter_exchange="dlx")
        )
        await bus.declare_queue(QueueSpec(name="dead"))
        await bus.bind("q", "x", "#")
        await bus.bind("dead", "dlx", "#")
        seen: list[float] = []
        dead: list[Delivery] = []
        dead_lettered = asyncio.Event()

        async def handler(delivery: Delivery) -> None:
            seen.append(time.monotonic())
            await consuming.retry_later(delivery, Retry("not yet", defer=defer), limit=limit)

        async def collect(delivery: Delivery) -> None:
            dead.append(delivery)
            await delivery.ack()
            dead_lettered.set()

        with captured_logs(monkeypatch, consuming) as logs:
            await bus.consume("q", handler)
            await bus.consume("dead", collect)
            await bus.publish("x", Envelope(body=b"{}", routing_key="k"))
            await asyncio.wait_for(dead_lettered.wait(), 10)
        return seen, dead, logs


async def test_retry_requeues_after_its_delay_and_dead_letters_at_the_limit(monkeypatch):
    seen, dead, logs = await _retried_on_memory_bus(monkeypatch, limit=3, defer=0.2)
    assert len(seen) == 3
    assert all(later - earlier >= 0.19 for earlier, later in itertools.pairwise(seen))
    (letter,) = dead
    assert letter.envelope.headers[REASON_HEADER] == "gave up after 3 deliveries: not yet"
    assert [entry["event"] for entry in logs] == [
        "requeueing a message",
        "requeueing a message",
        "giving up on a message",
    ]
    assert not any("exc_info" in entry for entry in logs)  # expected: no traceback


async def test_retry_delay_is_bounded(monkeypatch):
    monkeypatch.setattr(consuming, "MAX_DEFER", 0.05)
    started = time.monotonic()
    seen, dead, _ = await _retried_on_memory_bus(monkeypatch, limit=2, defer=3600)
    assert len(seen) == 2 and len(dead) == 1
    assert time.monotonic() - started < 5
