"""Run simulations of one graph and algorithm from Python, on node shards over gRPC.

The entry point the later services build on, and what tests and benchmarks call:
``await simulate(graph, algorithm, settings=RunSettings(...), shards=4, run_ids=[...])``.
``graph`` is a :class:`Graph` or a networkx graph (converted by ``load_graph``, labels and a
numeric ``value`` on every vertex kept). Called from Python, it logs as the Python API does:
``GOSSIPSIM_LOG_LEVEL``, quiet (warning) by default.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import networkx as nx
import numpy as np

from gossipsim.common.errors import AlgorithmError
from gossipsim.common.graphs.graph import Graph
from gossipsim.common.graphs.sources import load_graph
from gossipsim.common.model.algorithms import Algorithm
from gossipsim.common.model.peer_weights import edge_weights
from gossipsim.common.runtime.logging import configure_library_logging
from gossipsim.runner.driver import RunResult, RunSettings, ShardSession
from gossipsim.runner.launcher import NodeLauncher
from gossipsim.runner.local_launcher import LocalProcessLauncher


def selection_weights(graph: Graph, algorithm: Algorithm, *, seed: int = 0) -> np.ndarray | None:
    """Base selection weights for the algorithm's strategy (communities by Louvain)."""
    if not algorithm.selection.needs_communities:
        return None
    from gossipsim.common.graphs.metrics import LOUVAIN_LIMIT, louvain_communities

    if graph.n > LOUVAIN_LIMIT:
        raise AlgorithmError(
            f"strategy {algorithm.selection.name.lower()} needs Louvain communities, which "
            f"gossipsim computes for graphs of up to {LOUVAIN_LIMIT} vertices; graph "
            f"{graph.name!r} has {graph.n}. Use uniform selection for graphs this large.",
            field="algorithm",
        )
    return edge_weights(graph, algorithm, louvain_communities(graph, seed=seed), seed=seed)


async def simulate(
    graph: Graph | nx.Graph,
    algorithm: Algorithm,
    *,
    settings: RunSettings,
    shards: int = 1,
    seed: int = 0,
    run_ids: Sequence[str] = ("run-0",),
    launcher: NodeLauncher | None = None,
) -> list[RunResult]:
    """Each run id is one run (a repetition gets its own id, hence its own random streams)."""
    configure_library_logging(os.environ)
    if isinstance(graph, nx.Graph):
        graph = load_graph(graph)
    weights = selection_weights(graph, algorithm, seed=seed)
    own_launcher: LocalProcessLauncher | None = None
    if launcher is None:
        launcher = own_launcher = LocalProcessLauncher()
    try:
        async with ShardSession(
            graph=graph,
            algorithm=algorithm,
            launcher=launcher,
            shards=shards,
            edge_weights=weights,
            call_timeout=settings.call_timeout,
        ) as session:
            return [
                await session.run(run_id=run_id, seed=seed, settings=settings) for run_id in run_ids
            ]
    finally:
        if own_launcher is not None:
            await own_launcher.close()
