"""A run's execution settings checked against its graph and the deployment's limits.

One check, two callers: the scheduler applies it to every graph of a submitted spec, and the
runner applies it again to every run.start it takes, because a run.start can be published to
the runs queue by anyone who can reach the broker: a plan that never went through the
scheduler must not get past the runner either (the runner also rebuilds the graph with the same
``load_graph`` limits and applies :func:`~gossipsim.common.graphs.runnable.check_runnable`).

The history caps (:data:`MAX_HISTORY_VERTICES` sampled per round, so a
sampled round fits one telemetry message, and :data:`MAX_HISTORY_SAMPLES` per
run) are the spec's, counted on the plan's settings the way the spec counts them. They apply
to the history ``visualize`` asks for too (every vertex every ``visualize.every`` rounds), and
then name ``visualize.every``: that is what the user wrote, not ``history``.

Errors name the culprit where its author wrote it: at the spec's keys (``history.vertices[3]``)
for the scheduler, at the plan's fields (``plan.settings.history_vertices[3]``) for the runner,
by the :class:`SettingsFields` each passes. They never quote a vertex label (labels may come
from a file); vertices are named by their number.
"""

from __future__ import annotations

from dataclasses import dataclass

from gossipsim.common.errors import InvalidInput
from gossipsim.common.model.initial_values import Initialization
from gossipsim.common.spec.run_plan import DEFAULT_MAX_SHARDS, ExecutionSettings

__all__ = [
    "MAX_HISTORY_SAMPLES",
    "MAX_HISTORY_VERTICES",
    "PLAN_FIELDS",
    "SPEC_FIELDS",
    "SettingsFields",
    "check_settings_for_graph",
]

MAX_HISTORY_SAMPLES = 10_000_000
"""Most vertex values one run may sample (sampled vertices x sampled rounds): the collector
keeps each run's history whole, at 8 bytes a value and more in its tables."""
MAX_HISTORY_VERTICES = 200_000
"""Most vertices sampled in one round: a sampled round travels in one telemetry message, each
value as a JSON float of up to ~24 characters and a separator, and 200,000 of them (~5 MB)
fit the 8 MiB message cap (MAX_MESSAGE_BYTES of gossipsim.common.messaging.messages) with
room for the round's aggregates."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SettingsFields:
    """Where each execution setting is named in an error."""

    shards: str
    initialization: str
    source_vertex: str
    history: str  # how much is sampled
    history_vertices: str  # which vertices are
    visualize_every: str  # how often visualize samples (its history is every vertex)


SPEC_FIELDS = SettingsFields(
    shards="shards",
    initialization="initialization",
    source_vertex="initialization.single_source.vertex",
    history="history",
    history_vertices="history.vertices",
    visualize_every="visualize.every",
)
"""The keys of a simulation spec (the scheduler's check)."""

PLAN_FIELDS = SettingsFields(
    shards="plan.settings.shards",
    initialization="plan.settings.initialization",
    source_vertex="plan.settings.source_vertex",
    history="plan.settings.history_vertices",
    history_vertices="plan.settings.history_vertices",
    visualize_every="plan.settings.visualize.every",
)
"""The fields of a run.start's plan (the runner's check)."""


def check_settings_for_graph(
    settings: ExecutionSettings,
    *,
    graph_name: str,
    vertices: int,
    has_values: bool,
    max_shards: int = DEFAULT_MAX_SHARDS,
    fields: SettingsFields = SPEC_FIELDS,
) -> None:
    """:class:`InvalidInput` unless ``settings`` can run on a graph of ``vertices`` vertices
    (with initial values of its own if ``has_values``) within ``max_shards`` shards.

    The graph itself (connected enough for gossip) is ``check_runnable``'s to check."""
    if settings.shards > max_shards:
        raise InvalidInput(
            f"{settings.shards} shards asked for, over the limit of {max_shards}; use fewer",
            field=fields.shards,
        )
    if settings.shards > vertices:
        raise InvalidInput(
            f"graph {graph_name!r} has {vertices} vertices, fewer than the {settings.shards}"
            " shards asked for; use at most one shard per vertex",
            field=fields.shards,
        )
    if settings.initialization is Initialization.GRAPH and not has_values:
        raise InvalidInput(
            f"graph {graph_name!r} has no initial values (valueList); draw them instead"
            " (initialization: auto or random_int; randomInitialization: true)",
            field=fields.initialization,
        )
    source = settings.source_vertex
    if source is not None and source >= vertices:
        raise InvalidInput(
            f"vertex {source} is not in graph {graph_name!r}, which has ids 0..{vertices - 1}",
            field=fields.source_vertex,
        )
    if source is not None and settings.initialization is not Initialization.SINGLE_SOURCE:
        raise InvalidInput(
            "a source vertex is given, so the initialization must be single_source",
            field=fields.source_vertex,
        )
    _check_sampled_vertices(settings.history_vertices, graph_name, vertices, fields)
    _check_history_size(settings, graph_name, vertices, fields)


def _check_sampled_vertices(
    sampled: tuple[int, ...] | None, graph_name: str, vertices: int, fields: SettingsFields
) -> None:
    """Every sampled id is a vertex of the graph, and none is sampled twice."""
    seen: set[int] = set()
    for index, vertex in enumerate(sampled or ()):
        where = f"{fields.history_vertices}[{index}]"
        if not 0 <= vertex < vertices:
            raise InvalidInput(
                f"vertex {vertex} is not in graph {graph_name!r}, which has ids 0..{vertices - 1}",
                field=where,
            )
        if vertex in seen:
            raise InvalidInput(f"vertex {vertex} is sampled twice", field=where)
        seen.add(vertex)


def _check_history_size(
    settings: ExecutionSettings, graph_name: str, vertices: int, fields: SettingsFields
) -> None:
    """One sampled round fits one telemetry message, and a run samples at most
    :data:`MAX_HISTORY_SAMPLES` values: history that cannot be delivered is refused before the
    run, not lost after it."""
    if settings.history_every == 0:
        return
    sampled = vertices if settings.history_vertices is None else len(settings.history_vertices)
    if settings.visualize is not None:
        _check_visualized_history(settings, graph_name, sampled, fields)
        return
    rounds = settings.max_rounds // settings.history_every + 1  # round 0 is sampled too
    if sampled > MAX_HISTORY_VERTICES:
        raise InvalidInput(
            f"{sampled:,} vertices of graph {graph_name!r} would be sampled per round, over the"
            f" limit of {MAX_HISTORY_VERTICES:,}; sample fewer",
            field=fields.history,
        )
    if sampled * rounds > MAX_HISTORY_SAMPLES:
        raise InvalidInput(
            f"{sampled:,} vertices of graph {graph_name!r} sampled in up to {rounds:,} rounds"
            f" are {sampled * rounds:,} values per run, over the limit of"
            f" {MAX_HISTORY_SAMPLES:,}; sample fewer vertices or less often, or run fewer rounds",
            field=fields.history,
        )


def _check_visualized_history(
    settings: ExecutionSettings, graph_name: str, sampled: int, fields: SettingsFields
) -> None:
    """The caps on the history ``visualize`` samples, named at ``visualize.every``, with the
    least ``every`` that fits. A run's last round is counted even off the ``every`` grid (a
    drawing may show it): an upper bound whether or not the runner samples it."""
    every = settings.history_every
    if sampled > MAX_HISTORY_VERTICES:  # only a plan whose graph is far over max_vertices
        raise InvalidInput(
            f"visualize samples all {sampled:,} vertices of graph {graph_name!r} per round,"
            f" over the limit of {MAX_HISTORY_VERTICES:,}; lower max_vertices below"
            f" {sampled:,} so that this graph is not drawn",
            field=fields.visualize_every,
        )
    rounds = _visualized_rounds(settings.max_rounds, every)
    if sampled * rounds <= MAX_HISTORY_SAMPLES:
        return
    steps = MAX_HISTORY_SAMPLES // sampled - 1  # sampled rounds after round 0 that fit
    least = f" (to at least {-(-settings.max_rounds // steps):,} here)" if steps >= 1 else ""
    raise InvalidInput(
        f"visualize samples all {sampled:,} vertices of graph {graph_name!r} every {every:,}"
        f" round(s), in up to {rounds:,} rounds: {sampled * rounds:,} values per run, over the"
        f" limit of {MAX_HISTORY_SAMPLES:,}; raise every{least}, or lower max_rounds, or lower"
        f" max_vertices below {sampled:,} so that this graph is not drawn",
        field=fields.visualize_every,
    )


def _visualized_rounds(max_rounds: int, every: int) -> int:
    """Rounds a visualized run samples at most: round 0, every ``every``-th, and the last."""
    return -(-max_rounds // every) + 1
