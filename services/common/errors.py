"""Errors gossipsim raises on purpose, as one tree, and what becomes of a message that meets one.

    GossipsimError                 anything gossipsim raises on purpose
    ├── InvalidInput               an input from outside is wrong: the same on every try
    │   ├── SpecProblems           several problems of one spec, reported together
    │   ├── GraphError             a graph cannot be built (bad file, unknown generator, too big)
    │   ├── AlgorithmError         an unknown algorithm or a bad parameter
    │   └── MessageError           a message cannot be decoded (messaging.messages)
    ├── TemporaryFailure           something outside is not ready or failed: trying again may work
    │   ├── Retry                  try this message again after ``defer`` seconds
    │   └── RunAborted             a run started and its node services failed
    │       └── ShardFailed        a node shard stopped answering or answered with an error
    └── ProtocolMisuse             a peer called a service out of order: the peer's bug
        └── PhaseError             a shard phase out of order (node)

What a message handler does with each branch:

* :class:`InvalidInput` — refuse at once: a command is dead-lettered with the error as reason
  (a submitted simulation is answered with simulation.rejected); retrying cannot help.
* :class:`Retry` — requeue the message after ``defer`` seconds
  (:func:`gossipsim.common.messaging.consuming.retry_later`), and dead-letter it with the error
  once the queue's delivery limit is reached. Logged without a traceback: it was expected.
* :class:`RunAborted` — the runner reports run.failed as retryable; the scheduler starts the run
  again on fresh nodes, up to its attempt limit.
* :class:`ProtocolMisuse` — answered to the peer that misbehaved (the node turns it into a gRPC
  status); it is a bug on the caller's side, not bad input from a user.
* Anything else (``ValueError``, ``TypeError``, ``KeyError`` …) is a bug, never bad input: the
  message is requeued, its traceback logged, and it is dead-lettered with the last error at
  the queue's delivery limit. Code that parses untyped input raises :class:`InvalidInput`
  itself, so that a bug deep inside cannot pass for a user's mistake.

Operator commands add their own leaves directly under :class:`GossipsimError` (a missing queue,
results not ready yet): the command prints them and exits; no message is involved.
Every message says what failed and, where there is one, what the user can do about it.
"""

from __future__ import annotations

import math

DEFAULT_DEFER = 1.0  # seconds before a message that raised Retry is delivered again


class GossipsimError(Exception):
    """Base of every error gossipsim raises on purpose."""


class InvalidInput(GossipsimError):
    """An input from outside is invalid; ``field`` names where, when known."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)


class SpecProblems(InvalidInput):
    """Several problems of one input at once (a spec with a bad ``epsilon`` and a bad
    ``max_rounds``): fixing them one rejection at a time wastes a user's round trips.
    ``field`` is the first problem's; the message lists every one on a line of its own."""

    def __init__(self, problems: list[InvalidInput]) -> None:
        self.problems = tuple(problems)
        lines = "".join(f"\n  {problem}" for problem in problems)
        GossipsimError.__init__(self, f"{len(problems)} problems:{lines}")
        self.field = problems[0].field if problems else None


class GraphError(InvalidInput):
    """A graph cannot be built from what was given."""


class AlgorithmError(InvalidInput):
    """An algorithm name, strategy or parameter is unknown or out of range."""


class TemporaryFailure(GossipsimError):
    """Something outside the handler failed or is not ready yet; trying again may work."""


class Retry(TemporaryFailure):
    """Deliver this message again after ``defer`` seconds (arq's ``Retry(defer=…)``).

    Raised where a handler expects a requeue, e.g. a run's result that arrives before all of
    its telemetry; the handler catches it and calls
    :func:`~gossipsim.common.messaging.consuming.retry_later`.
    """

    def __init__(self, message: str, *, defer: float = DEFAULT_DEFER) -> None:
        if not (math.isfinite(defer) and defer >= 0):
            raise ValueError(f"defer must be a finite number of seconds >= 0, got {defer!r}")
        self.defer = defer
        super().__init__(message)


class RunAborted(TemporaryFailure):
    """A run started but could not finish because its node services failed."""


class ShardFailed(RunAborted):
    """A node shard stopped answering, timed out or reported an error."""


class ProtocolMisuse(GossipsimError):
    """A peer called a service out of order or with what does not fit its state.

    Not :class:`InvalidInput`: the peer is gossipsim's own code (the runner driving node
    shards), so this is a bug on the calling side, reported to it rather than to a user.
    """
