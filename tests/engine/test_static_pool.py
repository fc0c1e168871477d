"""Runs on node services that were started beforehand (a static pool)."""

from __future__ import annotations

import pytest

from gossipsim.common.errors import ShardFailed
from gossipsim.common.model.algorithms import resolve_algorithm
from gossipsim.common.model.initial_values import Initialization
from gossipsim.common.rpc.auth import new_token
from gossipsim.common.runtime.settings import NodeTrafficSettings
from gossipsim.runner.driver import RunSettings
from gossipsim.runner.local_launcher import LocalProcessLauncher
from gossipsim.runner.simulate import simulate
from gossipsim.runner.static_launcher import StaticNodeLauncher

from .helpers import random_graph


async def test_a_run_uses_already_running_nodes_and_leaves_them_running():
    secret = new_token()  # what an operator gives the pool's nodes and its runner
    async with LocalProcessLauncher(secret=secret) as launcher:
        await _run_twice_on_a_static_pool(launcher, secret)


async def _run_twice_on_a_static_pool(launcher: LocalProcessLauncher, secret: str) -> None:
    addresses = await launcher.acquire(2, run_id="static-pool")
    try:
        pool = StaticNodeLauncher(addresses, traffic=NodeTrafficSettings(secret=secret))
        graph = random_graph(50, 100, seed=3)
        settings = RunSettings(max_rounds=50, initialization=Initialization.UNIFORM)
        algorithm = resolve_algorithm(rule="max", mode="synchronous")
        (first,) = await simulate(graph, algorithm, settings=settings, shards=2, launcher=pool)
        (again,) = await simulate(graph, algorithm, settings=settings, shards=2, launcher=pool)
        assert first.converged and first.aggregates == again.aggregates
        with pytest.raises(ShardFailed, match="needs 3 node services"):
            await pool.acquire(3, run_id="too-many")
    finally:
        await launcher.release(addresses, healthy=True)
