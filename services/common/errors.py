"""Errors gossipsim raises on purpose, as one tree.

    GossipsimError                 anything gossipsim reports to a user
    ├── InvalidInput               an input from outside is wrong; nothing ran
    │   ├── GraphError             a graph cannot be built (bad file, unknown generator, too big)
    │   └── AlgorithmError         an unknown algorithm or a bad parameter
    └── RunFailed                  a run started and could not finish
        └── ShardFailed            a node shard stopped answering or answered with an error

Every message says what failed and, where there is one, what the user can do about it.
Bugs are not in this tree: they surface as ordinary exceptions.
"""

from __future__ import annotations


class GossipsimError(Exception):
    """Base of every error gossipsim reports to a user."""


class InvalidInput(GossipsimError):
    """An input from outside is invalid; ``field`` names where, when known."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)


class GraphError(InvalidInput):
    """A graph cannot be built from what was given."""


class AlgorithmError(InvalidInput):
    """An algorithm name, strategy or parameter is unknown or out of range."""


class RunFailed(GossipsimError):
    """A run started but could not finish."""


class ShardFailed(RunFailed):
    """A node shard stopped answering, timed out or reported an error."""
