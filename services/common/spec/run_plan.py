"""The run plan: what one run is, built by the spec's expansion and carried by the messages.

The scheduler expands a spec into plans (:func:`~.simulation_spec.expand_runs`); run.start
carries a plan to a runner, which runs exactly what it says, and run.completed and run.failed
echo it to the collector, whose tables group runs by it. Design decisions:

- Every execution setting is explicit, with no defaults here: the spec's parser is the one
  place that fills in what a user left out, so a runner can never disagree with it.
- The graph stays a ``load_graph`` source mapping beside its name: sources are a tagged union
  of forms that :mod:`gossipsim.common.graphs.sources` checks completely only by building the
  graph, which the runner does anyway (an impossible source is dead-lettered with the reason).
- The algorithm is resolved: rule, selection, memory, mode and order are explicit, the seed name
  (if any) is kept because it is the label results are grouped by. Its parameters stand apart,
  listing only those the algorithm uses, since results have a column per parameter.
- Ids are not part of the plan: a run id is derived from the plan, and the messages carry both
  ids beside it, where every message has them.
- A plan checks itself on construction (:class:`InvalidInput` naming the field, relative to
  the plan), so an expansion cannot build a plan a runner would refuse, and a decoded message
  reports ``plan.settings.max_rounds`` rather than failing inside a run.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from gossipsim.common.errors import AlgorithmError, InvalidInput
from gossipsim.common.graphs.drawing import (
    DEFAULT_DRAWN_VERTICES,
    LAYOUTS,
    MAX_DRAWN_EDGES,
    MAX_DRAWN_VERTICES,
)
from gossipsim.common.model.algorithms import (
    MAX_ROUNDS_LIMIT,
    Algorithm,
    Memory,
    Mode,
    Order,
    Rule,
    Selection,
    resolve_algorithm,
)
from gossipsim.common.model.initial_values import Initialization
from gossipsim.common.spec.algorithm_grid import PARAMETER_KEYS

__all__ = [
    "DEFAULT_MAX_SHARDS",
    "MAX_SEED",
    "MAX_SHARDS",
    "AlgorithmPlan",
    "ExecutionSettings",
    "GraphPlan",
    "RunPlan",
    "Visualization",
]

MAX_SHARDS = 1024
"""Most shards a plan can carry at all, whatever the settings (a ceiling for the setting)."""
DEFAULT_MAX_SHARDS = 16
"""Default of ``GOSSIPSIM_MAX_SHARDS``, the most shards a spec may ask for: every shard is a
node process (~165 MiB) or pod (``GOSSIPSIM_NODE_MEMORY``) of its own, so 16 shards of one run
take ~2.6 GiB locally or 16 pods of the cluster."""
MAX_SEED = 2**63 - 1


@dataclass(frozen=True, slots=True, kw_only=True)
class GraphPlan:
    """The graph of a run: its name (for results) and a source that builds it anywhere."""

    name: str
    source: dict[str, Any]  # a load_graph source; file paths are absolute

    @property
    def key(self) -> str:
        """A digest of the source (32 hex digits): the same for the same graph everywhere, so
        a runner caches the built graph by it and the collector finds its drawing by it."""
        source = orjson.dumps(self.source, option=orjson.OPT_SORT_KEYS)
        return hashlib.blake2b(source, digest_size=16).hexdigest()

    def __post_init__(self) -> None:
        if not self.name:
            raise InvalidInput("must be a non-empty string", field="name")
        if not self.source:
            raise InvalidInput("must be a graph source (generator, file, …)", field="source")


@dataclass(frozen=True, slots=True, kw_only=True)
class AlgorithmPlan:
    """A resolved algorithm without its parameters."""

    name: str = ""  # the seed name it was given by (its label), or "" for a combination
    rule: Rule
    selection: Selection
    memory: Memory
    mode: Mode
    order: Order

    @classmethod
    def of(cls, algorithm: Algorithm) -> AlgorithmPlan:
        return cls(
            name=algorithm.name,
            rule=algorithm.rule,
            selection=algorithm.selection,
            memory=algorithm.memory,
            mode=algorithm.mode,
            order=algorithm.order,
        )

    def resolve(self, parameters: Mapping[str, float]) -> Algorithm:
        """The :class:`Algorithm` with ``parameters``; :class:`AlgorithmError` if one is bad."""
        return resolve_algorithm(
            self.name or None,
            rule=self.rule,
            selection=self.selection,
            memory=self.memory,
            mode=self.mode,
            order=self.order,
            **parameters,
        )

    @property
    def label(self) -> str:
        """The name results are grouped by (see :attr:`Algorithm.label`)."""
        return self.resolve({}).label


@dataclass(frozen=True, slots=True, kw_only=True)
class Visualization:
    """``visualize``: per run a Gephi file, frames and an animation of the values spreading,
    for graphs small enough to draw. Every vertex is sampled every ``every`` rounds."""

    every: int = 1  # sample (and draw) the rounds divisible by k, round 0 included
    max_vertices: int = DEFAULT_DRAWN_VERTICES  # larger graphs get no drawing
    layout: str = "spring"

    def __post_init__(self) -> None:
        if not 1 <= self.every <= MAX_ROUNDS_LIMIT:
            raise InvalidInput(
                f"must lie in 1..{MAX_ROUNDS_LIMIT:,}, got {self.every}", field="every"
            )
        if not 1 <= self.max_vertices <= MAX_DRAWN_VERTICES:
            raise InvalidInput(
                f"must lie in 1..{MAX_DRAWN_VERTICES:,}, got {self.max_vertices}",
                field="max_vertices",
            )
        if self.layout not in LAYOUTS:
            raise InvalidInput(
                f"unknown layout {self.layout!r}; expected one of: {', '.join(LAYOUTS)}",
                field="layout",
            )

    def not_drawn(self, vertices: int, edges: int | None = None) -> str | None:
        """Why a graph of this size gets no drawing, or None when it gets one."""
        if vertices > self.max_vertices:
            return (
                f"not drawn: the graph has {vertices:,} vertices, over visualize.max_vertices"
                f" ({self.max_vertices:,}); raise it (at most {MAX_DRAWN_VERTICES:,}) to draw"
                " larger graphs"
            )
        if edges is not None and edges > MAX_DRAWN_EDGES:
            return (
                f"not drawn: the graph has {edges:,} edges, over the {MAX_DRAWN_EDGES:,} a"
                " drawing holds"
            )
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionSettings:
    """How a run proceeds and when it stops (the spec's top-level settings, per graph)."""

    max_rounds: int
    until_converged: bool  # False: always run max_rounds rounds
    epsilon: float  # relative spread at which averaging counts as converged
    initialization: Initialization
    history_every: int  # 0: no history; k: sample vertex values every k rounds
    history_vertices: tuple[int, ...] | None  # the vertex ids sampled; None: all
    shards: int  # node shards the graph is split over
    source_vertex: int | None = None  # single_source: this vertex is informed; None: a random one
    visualize: Visualization | None = None  # None: no drawings; history as the spec says

    def __post_init__(self) -> None:
        if self.source_vertex is not None and self.source_vertex < 0:
            raise InvalidInput(
                f"must be a vertex id >= 0, got {self.source_vertex}", field="source_vertex"
            )
        if not 1 <= self.max_rounds <= MAX_ROUNDS_LIMIT:
            raise InvalidInput(
                f"must lie in 1..{MAX_ROUNDS_LIMIT:,}, got {self.max_rounds}", field="max_rounds"
            )
        if not (math.isfinite(self.epsilon) and 0.0 <= self.epsilon < 1.0):
            raise InvalidInput(f"must lie in [0, 1), got {self.epsilon}", field="epsilon")
        if not 0 <= self.history_every <= MAX_ROUNDS_LIMIT:
            raise InvalidInput(
                f"must lie in 0..{MAX_ROUNDS_LIMIT:,}, got {self.history_every}",
                field="history_every",
            )
        for index, vertex in enumerate(self.history_vertices or ()):
            if vertex < 0:
                raise InvalidInput(
                    f"must be a vertex id >= 0, got {vertex}", field=f"history_vertices[{index}]"
                )
        if not 1 <= self.shards <= MAX_SHARDS:
            raise InvalidInput(f"must lie in 1..{MAX_SHARDS}, got {self.shards}", field="shards")


@dataclass(frozen=True, slots=True, kw_only=True)
class RunPlan:
    """One run: a graph, an algorithm with its parameters, a repetition and its settings."""

    graph: GraphPlan
    algorithm: AlgorithmPlan
    parameters: dict[str, float]  # only those the algorithm uses
    repetition: int
    seed: int  # the simulation's seed; a run's randomness is derived from it and the run id
    settings: ExecutionSettings
    sweep: dict[str, float] = field(default_factory=dict)
    """The values of the spec's other swept fields that made this run's configuration, by
    column name (``p`` of a graph generator, ``max_rounds``, ``epsilon``, ``source``): recorded
    for the results tables, which group by them; the graph source and settings already hold
    their effect."""

    def __post_init__(self) -> None:
        if self.repetition < 0:
            raise InvalidInput(f"must be >= 0, got {self.repetition}", field="repetition")
        if not 0 <= self.seed <= MAX_SEED:
            raise InvalidInput(f"must lie in 0..{MAX_SEED}, got {self.seed}", field="seed")
        for key in self.parameters:
            if key not in PARAMETER_KEYS:
                raise InvalidInput(
                    f"unknown parameter; expected one of: {', '.join(PARAMETER_KEYS)}",
                    field=f"parameters.{key}",
                )
        self.resolve_algorithm()

    def resolve_algorithm(self) -> Algorithm:
        """The algorithm with this run's parameters, :class:`InvalidInput` naming a bad one."""
        try:
            return self.algorithm.resolve(self.parameters)
        except AlgorithmError as error:
            raise InvalidInput(
                _without_field(error),
                field=f"parameters.{error.field}" if error.field in PARAMETER_KEYS else "algorithm",
            ) from error


def _without_field(error: InvalidInput) -> str:
    """The message of ``error`` without the ``field: `` prefix InvalidInput gave it."""
    message = str(error)
    prefix = f"{error.field}: " if error.field else ""
    return message[len(prefix) :] if prefix and message.startswith(prefix) else message
