"""A run's round telemetry cut into run.round messages that each fit the message cap.

A consumer dead-letters a message over the cap
(:data:`~gossipsim.common.messaging.messages.MAX_MESSAGE_BYTES`) unread, so telemetry over the
cap is lost, and with it the run's results. Rounds are therefore
packed by their encoded size as well as by count: a part holds at most ``max_rounds`` rounds and
at most ``max_bytes`` bytes once encoded, message fields included. Sizes are measured with the
bus's own codec (orjson, as :func:`~gossipsim.common.messaging.messages.encode` uses), so they
are the sizes that travel. The parts keep the rounds in order and are named by their first round,
which is how the collector puts them together again, whatever their lengths.

A single round that does not fit alone cannot be sent; the spec check caps the history a round
samples so that this does not happen, and a runner that meets one anyway fails the run with
:class:`TelemetryTooLarge` rather than publish what would be dead-lettered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import orjson

from gossipsim.common.errors import InvalidInput
from gossipsim.common.messaging.messages import RoundTelemetry

__all__ = ["TelemetryPart", "TelemetryTooLarge", "part_budget", "telemetry_parts"]


class TelemetryTooLarge(InvalidInput):
    """One round's telemetry is larger than a message may carry: the run cannot report it."""


@dataclass(frozen=True, slots=True)
class TelemetryPart:
    """Consecutive rounds for one run.round message: ``rounds[k]`` is round first_round + k."""

    first_round: int
    rounds: list[RoundTelemetry]


def part_budget(max_message_bytes: int) -> int:
    """The bytes a run.round message may take: the cap less a sixteenth, so what varies from
    message to message (the time stamp, the first round's digits) never tips one over."""
    return max_message_bytes - max_message_bytes // 16


def telemetry_parts(
    rounds: Sequence[RoundTelemetry], *, max_rounds: int, max_bytes: int, overhead: int
) -> list[TelemetryPart]:
    """``rounds`` in parts of at most ``max_rounds`` rounds and ``max_bytes`` encoded bytes,
    where ``overhead`` is the encoded size of the message with no rounds (its ids, kind and
    time stamp). :class:`TelemetryTooLarge` if a round alone does not fit."""
    if max_rounds < 1:
        raise ValueError(f"a part holds at least one round, got max_rounds={max_rounds}")
    parts: list[TelemetryPart] = []
    first, size = 0, overhead
    batch: list[RoundTelemetry] = []
    for number, telemetry in enumerate(rounds):
        encoded = len(orjson.dumps(telemetry)) + (1 if batch else 0)  # "," between rounds
        if batch and (len(batch) == max_rounds or size + encoded > max_bytes):
            parts.append(TelemetryPart(first_round=first, rounds=batch))
            first, size, batch = number, overhead, []
            encoded -= 1  # first of its part: no comma before it
        if size + encoded > max_bytes:
            raise TelemetryTooLarge(
                f"round {number}'s telemetry takes {overhead + encoded:,} bytes as a message,"
                f" over the {max_bytes:,} a run.round message may take; sample fewer vertices",
                field="plan.settings.history_vertices",
            )
        batch.append(telemetry)
        size += encoded
    if batch:
        parts.append(TelemetryPart(first_round=first, rounds=batch))
    return parts
