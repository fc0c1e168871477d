"""A runner sends the drawing of a visualized run's graph (run.graph) once per simulation and
graph, before that run's telemetry, so the collector has it when the run completes; a graph
too large to draw gets none. On the in-memory bus and on the real RabbitMQ."""

from __future__ import annotations

import asyncio

import networkx as nx

from gossipsim.common.graphs.drawing import graph_drawing
from gossipsim.common.graphs.graph import Graph
from gossipsim.common.messaging.messages import RunGraph, decode
from gossipsim.common.spec.run_plan import Visualization
from tests.runner.test_run_start_validation import WAIT, Runner, forged, runner

__all__ = ["runner"]  # the fixture, shared with the run.start validation tests


async def drawings_and_events(runner: Runner, runs: int) -> list[tuple[str, str, object]]:
    """(run id, kind, message) of every run event until ``runs`` runs have completed."""
    seen: list[tuple[str, str, object]] = []
    while sum(kind == "run.completed" for _, kind, _ in seen) < runs:
        delivery = await asyncio.wait_for(runner.events.get(), WAIT)
        message = decode(delivery.envelope.body)
        seen.append((str(getattr(message, "run_id", "")), message.kind, message))
    return seen


async def test_the_drawing_goes_once_per_graph_before_the_first_runs_telemetry(runner: Runner):
    plan = forged(visualize=Visualization(every=1))
    await runner.publish(plan, "ring.r0")
    await runner.publish(plan, "ring.r1")
    seen = await drawings_and_events(runner, 2)
    drawings = [(run, message) for run, kind, message in seen if kind == "run.graph"]
    assert len(drawings) == 1
    run, message = drawings[0]
    assert run == "ring.r0" and isinstance(message, RunGraph)
    kinds = [kind for r, kind, _ in seen if r == "ring.r0"]
    assert kinds.index("run.graph") < kinds.index("run.round")
    assert message.graph_key == plan.graph.key
    ring = Graph.from_networkx(nx.cycle_graph(50), name="ring")
    assert message.drawing == graph_drawing(ring, "spring")  # what the collector will draw


async def test_a_graph_above_max_vertices_gets_no_drawing(runner: Runner):
    await runner.publish(forged(visualize=Visualization(max_vertices=20)), "ring.r0")
    seen = await drawings_and_events(runner, 1)
    assert "run.graph" not in [kind for _, kind, _ in seen]
