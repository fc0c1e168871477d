"""Failures end a run with a clear error, within a deadline, never a hang."""

from __future__ import annotations

import asyncio
import time

import pytest

from gossipsim.common.errors import InvalidInput, ShardFailed
from gossipsim.common.graphs.graph import Graph
from gossipsim.common.model.algorithms import resolve_algorithm
from gossipsim.common.model.initial_values import Initialization
from gossipsim.runner.driver import RunSettings, ShardSession
from gossipsim.runner.local_launcher import LocalProcessLauncher

from .helpers import random_graph


@pytest.mark.parametrize("mode", ["synchronous", "sequential"])
async def test_a_node_shard_killed_mid_run_fails_the_run_with_a_clear_error(mode):
    graph = random_graph(4000, 8000, seed=1)
    settings = RunSettings(
        max_rounds=100_000,
        until_converged=False,
        initialization=Initialization.UNIFORM,
        call_timeout=20.0,
    )
    async with LocalProcessLauncher() as launcher:
        session = ShardSession(
            graph=graph,
            algorithm=resolve_algorithm(rule="average", mode=mode, order="fixed"),
            launcher=launcher,
            shards=3,
            call_timeout=settings.call_timeout,
        )
        async with session:
            victim = session.addresses[1]
            warm_up = RunSettings(max_rounds=2, until_converged=False, call_timeout=20.0)
            await session.run(run_id="warm-up", seed=1, settings=warm_up)
            run = asyncio.create_task(session.run(run_id="doomed", seed=1, settings=settings))
            await asyncio.sleep(1.5)
            assert not run.done(), "the run should still be going"
            launcher.process(victim).kill()
            started = time.monotonic()
            with pytest.raises(ShardFailed) as failure:
                await asyncio.wait_for(run, timeout=60)
            assert time.monotonic() - started < 30
    message = str(failure.value)
    assert "shard" in message and "round" in message
    assert victim in message or "could not deliver" in message


async def test_isolated_vertex_is_rejected_before_any_node_starts(launcher):
    graph = Graph.from_edges(4, [0, 1], [1, 2], name="with-isolated")
    with pytest.raises(InvalidInput, match=r"has an isolated vertex \(number 3\)"):
        ShardSession(graph=graph, algorithm=resolve_algorithm("default"), launcher=launcher)


async def test_more_shards_than_vertices_is_rejected(launcher):
    graph = random_graph(5, 5, seed=1)
    with pytest.raises(InvalidInput, match="shards"):
        ShardSession(
            graph=graph, algorithm=resolve_algorithm("default"), launcher=launcher, shards=6
        )
