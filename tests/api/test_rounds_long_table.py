"""The long table of a real simulation: every row says which run it belongs to, and the
convergence measure agrees with summary.csv's rounds and converged."""

from __future__ import annotations

from typing import Any

import pytest

import gossipsim

SPEC: dict[str, Any] = {
    "name": "long-table",
    "seed": 3,
    "graphs": [
        {"name": "ring-20", "generator": "cycle_graph", "params": {"n": 20}},
        {"name": "ba-40", "generator": "barabasi_albert_graph", "params": {"n": 40, "m": 2}},
    ],
    "algorithms": [
        "default",  # min
        {"rule": "average", "mode": "synchronous"},
        {"rule": "rumor_push_pull", "mode": "synchronous"},
        {"name": "weighted_factor", "mode": "synchronous"},
    ],
    "parameters": {"factor": [1.5, 3.0]},
    "repetitions": 2,
    "max_rounds": 40,  # the ring's averaging does not converge in 40 rounds
    "epsilon": 1e-3,
}
IDENTITY = ["simulation_id", "graph", "algorithm", "repetition", "graph_seed"]


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> gossipsim.Results:
    return gossipsim.run(SPEC, out=tmp_path_factory.mktemp("results"))


def test_rows_carry_their_runs_identity_as_summary_has_it(results):
    rounds, summary = results.rounds, results.summary.set_index("run_id")
    params = [c for c in summary.columns if c.startswith("param_")]
    assert params == ["param_factor"]
    assert list(rounds.columns) == [
        "simulation_id", "run_id", "graph", "algorithm", "param_factor", "repetition",
        "graph_seed", "round", "count", "mean", "variance", "min", "max", "sum", "mass",
        "weight", "spread", "converged",
    ]  # fmt: skip
    assert set(rounds["run_id"]) == set(summary.index)
    firsts = rounds.groupby("run_id").first()
    for column in [*IDENTITY, *params]:
        assert firsts[column].equals(summary.loc[firsts.index, column]), column
    assert list(rounds["run_id"]) == sorted(rounds["run_id"])  # run-id order, then round
    per_run = rounds.groupby("run_id")["round"]
    assert (per_run.min() == 0).all()
    assert (per_run.max() == summary.loc[per_run.max().index, "rounds"]).all()
    assert (per_run.count() == summary.loc[per_run.count().index, "rounds"] + 1).all()
    assert (rounds["count"] == rounds["graph"].map({"ring-20": 20, "ba-40": 40})).all()


def test_converged_agrees_with_summary_and_the_spread_with_epsilon(results):
    rounds, summary = results.rounds, results.summary.set_index("run_id")
    assert set(summary["converged"]) == {True, False}  # both kinds occur in this spec
    last = rounds.groupby("run_id").last()
    assert last["converged"].equals(summary.loc[last.index, "converged"])
    for run_id, run in rounds.groupby("run_id"):
        algorithm = run["algorithm"].iloc[0]
        if summary.loc[run_id, "converged"]:
            # the runner stops at the first round that converged: none before it did
            assert not run["converged"].iloc[:-1].any(), run_id
        if algorithm.startswith("average"):
            assert (run["converged"] == (run["spread"] <= SPEC["epsilon"])).all(), run_id
        elif algorithm.startswith("rumor"):
            assert (run["converged"] == (run["min"] == 1.0)).all(), run_id
            assert (run["mean"].diff().dropna() >= 0).all()  # the informed share only grows
        else:  # min rules: converged exactly when every value is equal
            assert (run["converged"] == (run["spread"] == 0.0)).all(), run_id
            assert (run["converged"] == (run["min"] == run["max"])).all(), run_id
