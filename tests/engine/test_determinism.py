"""Results are bit-identical across shard counts and repeated runs.

docs/design.md, Execution semantics: determinism.
"""

from __future__ import annotations

import numpy as np
import pytest

from gossipsim.common.model.algorithms import resolve_algorithm
from gossipsim.common.model.initial_values import Initialization
from gossipsim.runner.driver import RunResult, RunSettings
from gossipsim.runner.simulate import simulate

from .helpers import random_graph

SHARD_COUNTS = (1, 2, 4, 7)


def assert_identical(a: RunResult, b: RunResult) -> None:
    assert a.rounds == b.rounds
    assert a.converged == b.converged
    assert a.aggregates == b.aggregates  # exact integer sums, so equality is bitwise
    assert len(a.history) == len(b.history)
    for (round_a, values_a), (round_b, values_b) in zip(a.history, b.history, strict=True):
        assert round_a == round_b
        assert values_a.tobytes() == values_b.tobytes()


@pytest.mark.parametrize(
    "options",
    [
        {"rule": "min", "mode": "synchronous"},
        {"rule": "average", "mode": "synchronous"},
        {"rule": "push_sum", "mode": "synchronous"},
        {"rule": "rumor_push_pull", "mode": "synchronous"},
        {
            "rule": "average",
            "mode": "synchronous",
            "selection": "weighted_factor",
            "memory": "complex",
            "factor": 3.0,
        },
        {"rule": "average", "mode": "sequential", "order": "shuffled"},
        {"rule": "rumor_push_pull", "mode": "sequential", "order": "shuffled"},
        {"rule": "max", "mode": "sequential", "order": "fixed"},
        {"rule": "push_sum", "mode": "sequential", "order": "fixed"},
        {
            "rule": "min",
            "mode": "sequential",
            "order": "fixed",
            "selection": "community_probabilities",
            "memory": "complex",
        },
        {"rule": "rumor_pull", "mode": "sequential", "order": "shuffled", "memory": "memory"},
    ],
    ids=lambda options: "-".join(str(v) for v in options.values()),
)
async def test_results_are_bit_identical_for_1_2_4_and_7_shards(launcher, options):
    graph = random_graph(70, 140, seed=11)
    algorithm = resolve_algorithm(**options)
    settings = RunSettings(
        max_rounds=8,
        until_converged=False,
        initialization=Initialization.AUTO
        if "rumor" in options["rule"]
        else Initialization.UNIFORM,
        history_every=2,
    )
    results = [
        (await simulate(graph, algorithm, settings=settings, shards=s, seed=9, launcher=launcher))[
            0
        ]
        for s in SHARD_COUNTS
    ]
    for other in results[1:]:
        assert_identical(results[0], other)
    assert results[0].history[-1][1].shape == (graph.n,)


async def test_repeated_runs_are_identical_and_repetitions_independent(launcher):
    graph = random_graph(120, 240, seed=2)
    algorithm = resolve_algorithm(rule="average", mode="sequential")
    settings = RunSettings(
        max_rounds=5, until_converged=False, history_every=5, initialization=Initialization.UNIFORM
    )
    first = await simulate(
        graph, algorithm, settings=settings, seed=4, run_ids=["r0", "r1"], launcher=launcher
    )
    again = await simulate(
        graph, algorithm, settings=settings, seed=4, run_ids=["r0", "r1"], launcher=launcher
    )
    for a, b in zip(first, again, strict=True):
        assert_identical(a, b)
    assert not np.array_equal(first[0].history[-1][1], first[1].history[-1][1])
    other_seed = await simulate(
        graph, algorithm, settings=settings, seed=5, run_ids=["r0"], launcher=launcher
    )
    assert not np.array_equal(first[0].history[-1][1], other_seed[0].history[-1][1])
