"""The runner's cache keeps graphs and sessions within a byte budget, least recently used out
first, and never keeps an entry larger than the whole budget: the cache alone, then a runner
that runs run.start after run.start on it."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import numpy as np
import pytest

from gossipsim.common.graphs.graph import Graph
from gossipsim.common.graphs.metrics import compute_metrics
from gossipsim.common.graphs.sources import load_graph
from gossipsim.common.messaging.bus import Delivery, Envelope, QueueSpec
from gossipsim.common.messaging.memory_bus import InMemoryBus
from gossipsim.common.messaging.messages import RunCompleted, RunFailed, RunStart, decode, encode
from gossipsim.common.messaging.topology import Topology
from gossipsim.common.spec.run_plan import RunPlan
from gossipsim.common.spec.simulation_spec import expand_runs, parse_spec
from gossipsim.runner import service as runner_service
from gossipsim.runner.driver import ShardSession
from gossipsim.runner.graph_cache import (
    NODE_BYTES_PER_NEIGHBOUR,
    NODE_BYTES_PER_VERTEX,
    BudgetCache,
    LoadedGraph,
    graph_footprint,
    session_footprint,
)
from gossipsim.runner.local_launcher import LocalProcessLauncher
from gossipsim.runner.service import RunnerService, RunnerSettings


def ring(n: int, *, labels: bool = False, values: bool = False) -> Graph:
    src = np.arange(n)
    return Graph.from_edges(
        n,
        src,
        (src + 1) % n,
        name=f"ring{n}",
        labels=tuple(f"v{i}" for i in range(n)) if labels else None,
        initial_values=np.zeros(n) if values else None,
    )


def test_least_recently_used_entries_go_first() -> None:
    cache: BudgetCache[str] = BudgetCache(300)
    for key in ("a", "b", "c"):
        assert cache.put(key, key.upper(), 100).kept
    assert cache.get("a") == "A"  # a is now the most recently used: b is the oldest
    stored = cache.put("d", "D", 100)
    assert stored.kept and stored.evicted == ["B"]
    stored = cache.put("e", "E", 150)  # needs two entries' room: c, then a
    assert stored.evicted == ["C", "A"]
    assert list(cache) == ["d", "e"]
    assert cache.used == 250


def test_the_budget_is_never_exceeded() -> None:
    cache: BudgetCache[int] = BudgetCache(1000)
    sizes = np.random.default_rng(7).integers(1, 600, size=200)
    for number, size in enumerate(sizes):
        cache.put(f"k{number % 13}", number, int(size))  # some keys come back, replaced
        assert cache.used <= 1000
        assert cache.used == sum(
            int(sizes[value]) for key in cache if (value := cache.get(key)) is not None
        )


def test_an_entry_over_the_budget_is_not_kept_and_evicts_nothing() -> None:
    cache: BudgetCache[str] = BudgetCache(100)
    cache.put("small", "s", 60)
    stored = cache.put("huge", "h", 101)
    assert not stored.kept and stored.evicted == []
    assert "huge" not in cache and cache.get("huge") is None
    assert list(cache) == ["small"] and cache.used == 60


def test_reserve_makes_room_before_a_value_exists() -> None:
    cache: BudgetCache[str] = BudgetCache(100)
    cache.put("a", "A", 40)
    cache.put("b", "B", 40)
    assert cache.reserve(30) == ["A"]  # 40 + 30 fit, 80 + 30 do not
    assert cache.reserve(500) == ["B"]  # over the budget: everything goes
    assert len(cache) == 0 and cache.used == 0


def test_replacing_a_key_hands_back_the_old_value_and_counts_the_new_size() -> None:
    cache: BudgetCache[str] = BudgetCache(100)
    cache.put("a", "old", 30)
    stored = cache.put("a", "new", 50)
    assert stored.kept and stored.evicted == ["old"]
    assert cache.used == 50 and cache.get("a") == "new"


def test_pop_and_clear_release_their_bytes() -> None:
    cache: BudgetCache[str] = BudgetCache(100)
    cache.put("a", "A", 30)
    cache.put("b", "B", 30)
    assert cache.pop("a") == "A" and cache.pop("a") is None
    assert cache.used == 30
    assert cache.clear() == ["B"] and cache.used == 0


def test_sizes_and_budgets_are_checked() -> None:
    with pytest.raises(ValueError, match="budget"):
        BudgetCache(-1)
    with pytest.raises(ValueError, match="size"):
        BudgetCache(10).put("a", "A", -5)


def test_a_graph_counts_its_arrays_labels_and_values() -> None:
    bare = ring(1000)
    assert bare.nbytes == bare.indptr.nbytes + bare.indices.nbytes
    full = ring(1000, labels=True, values=True)
    labels = full.labels or ()
    expected = bare.nbytes + 1000 * 8 + sys.getsizeof(labels) + sum(map(sys.getsizeof, labels))
    assert full.nbytes == expected
    loaded = LoadedGraph(graph=full, metrics={"mean_degree": 2.0})
    assert full.nbytes < graph_footprint(loaded) < full.nbytes + 1024


def test_a_session_counts_its_graph_and_the_shards_state() -> None:
    graph = ring(1000)
    in_nodes = (
        graph.indptr.nbytes
        + graph.indices.nbytes
        + 1000 * NODE_BYTES_PER_VERTEX
        + len(graph.indices) * NODE_BYTES_PER_NEIGHBOUR
    )
    assert session_footprint(graph) == graph.nbytes + in_nodes


# --- the runner keeps to its budget -------------------------------------------------------


def ring_plan(n: int) -> RunPlan:
    spec = {
        "name": "cached",
        "graphs": [{"name": f"ring{n}", "generator": "cycle_graph", "params": {"n": n}}],
        "algorithms": ["default"],
        "max_rounds": 3,
    }
    (plan,) = expand_runs(parse_spec(spec)).values()
    return plan


def footprints(n: int) -> int:
    """What a run on ring ``n`` keeps: its graph with metrics and its session."""
    graph = load_graph({"generator": "cycle_graph", "params": {"n": n}})
    loaded = LoadedGraph(graph=graph, metrics=compute_metrics(graph).to_dict())
    return graph_footprint(loaded) + session_footprint(graph)


async def builds(monkeypatch, cache_bytes: int, rings: list[int]) -> tuple[int, int, int]:
    """Run one run on each ring in turn on a runner with ``cache_bytes``; return how many graphs
    it built, how many sessions it configured, and how many it closed before shutting down."""
    counts = {"graphs": 0, "opened": 0, "closed": 0}
    real_load, real_enter, real_exit = (
        runner_service.load_graph,
        ShardSession.__aenter__,
        ShardSession.__aexit__,
    )

    def load(*args: Any, **kwargs: Any) -> Graph:
        counts["graphs"] += 1
        return real_load(*args, **kwargs)

    async def enter(self: ShardSession) -> ShardSession:
        counts["opened"] += 1
        return await real_enter(self)

    async def exit_(self: ShardSession, *exc: object) -> None:
        counts["closed"] += 1
        await real_exit(self, *exc)

    monkeypatch.setattr(runner_service, "load_graph", load)
    monkeypatch.setattr(ShardSession, "__aenter__", enter)
    monkeypatch.setattr(ShardSession, "__aexit__", exit_)
    topology = Topology(prefix="cache")
    bus = InMemoryBus()
    await topology.declare(bus)
    completed: asyncio.Queue[str] = asyncio.Queue()

    async def tap(delivery: Delivery) -> None:
        await delivery.ack()
        message = decode(delivery.envelope.body)
        if isinstance(message, RunCompleted | RunFailed):
            await completed.put(message.kind)

    await bus.declare_queue(QueueSpec(name="cache.tap", transient=True))
    await bus.bind("cache.tap", topology.events, "run.*")
    await bus.consume("cache.tap", tap)
    async with LocalProcessLauncher() as launcher:
        service = RunnerService(
            bus=bus,
            topology=topology,
            launcher=launcher,
            settings=RunnerSettings(cache_bytes=cache_bytes),
        )
        await service.start()
        for number, n in enumerate(rings):
            command = RunStart(
                simulation_id="cache-0123456789", run_id=f"r{number}", plan=ring_plan(n)
            )
            await bus.publish(
                topology.commands, Envelope(body=encode(command), routing_key=command.kind)
            )
            assert await asyncio.wait_for(completed.get(), 60) == "run.completed"
        closed_before_shutdown = counts["closed"]
        await service.close()
    await bus.close()
    return counts["graphs"], counts["opened"], closed_before_shutdown


async def test_a_runner_reuses_what_fits_its_budget(monkeypatch) -> None:
    graphs, sessions, closed = await builds(monkeypatch, 10**9, [50, 52, 50, 52])
    assert (graphs, sessions, closed) == (2, 2, 0)


async def test_a_runner_lets_the_least_recently_used_go_for_room(monkeypatch) -> None:
    """Room for one graph and its session (not two): each switch builds again."""
    budget = footprints(52) * 3 // 2
    graphs, sessions, closed = await builds(monkeypatch, budget, [50, 52, 50, 50])
    assert (graphs, sessions, closed) == (3, 3, 2)


async def test_what_is_larger_than_the_budget_is_used_and_not_kept(monkeypatch) -> None:
    """Every run builds its graph and configures its nodes again, and closes them after it."""
    graphs, sessions, closed = await builds(monkeypatch, 1, [50, 50])
    assert (graphs, sessions, closed) == (2, 2, 2)
