"""The engine agrees with known theory (real node services over gRPC)."""

from __future__ import annotations

import math

import numpy as np

from gossipsim.common.model.algorithms import resolve_algorithm
from gossipsim.common.model.initial_values import Initialization
from gossipsim.runner.driver import RunSettings
from gossipsim.runner.simulate import simulate

from .helpers import complete_graph, random_graph


async def test_push_rumor_on_complete_graph_takes_log2n_plus_ln_n_rounds(launcher):
    """Doerr–Künnemann: push on K_n takes about log2 n + ln n rounds; bounds [14.8, 19.7]."""
    graph = complete_graph(1000)
    algorithm = resolve_algorithm(rule="rumor_push", mode="synchronous")
    results = await simulate(
        graph,
        algorithm,
        settings=RunSettings(max_rounds=200),
        run_ids=[f"rep-{k}" for k in range(60)],
        seed=2026,
        launcher=launcher,
    )
    assert all(r.converged for r in results)
    mean_rounds = float(np.mean([r.rounds for r in results]))
    assert 14.8 <= mean_rounds <= 19.7, mean_rounds
    assert len({r.rounds for r in results}) > 1, "repetitions must use independent streams"


async def test_peersim_sequential_averaging_shrinks_variance_by_one_over_two_root_e(launcher):
    """Sequential push-pull averaging on K_n: variance factor per round ≈ 1/(2√e) ≈ 0.303."""
    graph = complete_graph(1000)
    algorithm = resolve_algorithm(rule="average", mode="sequential", order="shuffled")
    results = await simulate(
        graph,
        algorithm,
        settings=RunSettings(
            max_rounds=12, until_converged=False, initialization=Initialization.UNIFORM
        ),
        run_ids=[f"rep-{k}" for k in range(8)],
        seed=7,
        launcher=launcher,
    )
    log_factors = [
        math.log(result.aggregates[r].variance / result.aggregates[r - 1].variance)
        for result in results
        for r in range(1, result.rounds + 1)
    ]
    factor = math.exp(float(np.mean(log_factors)))
    assert abs(factor - 1 / (2 * math.sqrt(math.e))) <= 0.02, factor


async def test_average_and_push_sum_conserve_the_sum_every_round(launcher):
    graph = random_graph(300, 900, seed=3)
    for rule in ("average", "push_sum"):
        for mode in ("synchronous", "sequential"):
            algorithm = resolve_algorithm(rule=rule, mode=mode)
            (result,) = await simulate(
                graph,
                algorithm,
                settings=RunSettings(
                    max_rounds=25, until_converged=False, initialization=Initialization.UNIFORM
                ),
                shards=2,
                launcher=launcher,
            )
            initial = result.aggregates[0].mass
            for r, round_aggregates in enumerate(result.aggregates):
                assert math.isclose(round_aggregates.mass, initial, rel_tol=1e-12), (rule, mode, r)
            if rule == "push_sum":
                weights = [a.weight for a in result.aggregates]
                assert np.allclose(weights, graph.n, rtol=1e-12)
            assert result.aggregates[-1].variance < 0.05 * result.aggregates[0].variance


async def test_min_and_max_converge_to_the_extreme_value(launcher):
    graph = random_graph(200, 400, seed=5)
    for rule, pick in (("min", min), ("max", max)):
        for mode in ("synchronous", "sequential"):
            (result,) = await simulate(
                graph,
                resolve_algorithm(rule=rule, mode=mode),
                settings=RunSettings(max_rounds=500, initialization=Initialization.UNIFORM),
                launcher=launcher,
            )
            assert result.converged
            first = result.aggregates[0]
            extreme = pick(first.minimum, first.maximum)
            assert result.aggregates[-1].minimum == result.aggregates[-1].maximum == extreme


async def test_a_run_that_hits_max_rounds_is_not_converged_and_not_an_error(launcher):
    graph = random_graph(500, 500, seed=1)
    (result,) = await simulate(
        graph,
        resolve_algorithm(rule="average", mode="synchronous"),
        settings=RunSettings(max_rounds=3, initialization=Initialization.UNIFORM, epsilon=1e-12),
        launcher=launcher,
    )
    assert result.rounds == 3
    assert not result.converged
