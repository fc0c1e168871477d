"""Round telemetry is split by encoded size, so no run.round message goes over the message cap
and a run that samples much history keeps all of it.

A consumer dead-letters a message over the cap unread: before this split, ``history: {every: 1,
vertices: 100000}`` put telemetry over 8 MiB and the run's results were lost.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pytest

from gossipsim.common.graphs.sources import load_graph
from gossipsim.common.messaging.messages import MAX_MESSAGE_BYTES, RunRound, decode, encode
from gossipsim.common.model.algorithms import resolve_algorithm
from gossipsim.embedded import run_embedded
from gossipsim.runner import service as runner_service
from gossipsim.runner.driver import RunSettings
from gossipsim.runner.simulate import simulate
from gossipsim.runner.telemetry import TelemetryTooLarge, part_budget, telemetry_parts

VERTICES = 600
ROUNDS = 40
SMALL_CAP = 64 * 1024  # the cap the runner is given in the end-to-end test
GRAPH = {"name": "ring", "generator": "cycle_graph", "params": {"n": VERTICES}}
SPEC = {
    "name": "telemetry-split",
    "seed": 5,
    "graphs": [GRAPH],
    "algorithms": [{"rule": "average", "mode": "synchronous"}],
    "max_rounds": ROUNDS,
    "stop": "max_rounds",
    "history": {"every": 1, "vertices": VERTICES},
}


def overhead(rounds: int) -> int:
    """The encoded size of a run.round message without rounds, as the runner measures it."""
    empty = RunRound(simulation_id="s-0123456789", run_id="g.a.r0", first_round=rounds, rounds=[])
    return len(encode(empty))


def test_parts_fit_the_real_cap_and_keep_every_round_in_order() -> None:
    """100 rounds of 40,000 sampled values (about 32 MB encoded) in one batch would be four
    times the cap; split, each part is a message consumers accept, and nothing is lost."""
    values = np.random.default_rng(1).random(40_000).tolist()
    rounds = [{"mean": 0.5, "history": values} for _ in range(100)]
    budget = part_budget(MAX_MESSAGE_BYTES)
    parts = telemetry_parts(rounds, max_rounds=100, max_bytes=budget, overhead=overhead(100))
    assert len(parts) > 3
    next_round = 0
    for part in parts:
        message = RunRound(
            simulation_id="s-0123456789",
            run_id="g.a.r0",
            first_round=part.first_round,
            rounds=part.rounds,
        )
        body = encode(message)
        assert len(body) <= budget < MAX_MESSAGE_BYTES
        assert isinstance(decode(body), RunRound)  # what every consumer does first
        assert part.first_round == next_round
        next_round += len(part.rounds)
    assert [r for part in parts for r in part.rounds] == rounds


def test_small_rounds_are_batched_by_count() -> None:
    rounds = [{"mean": float(r)} for r in range(250)]
    parts = telemetry_parts(rounds, max_rounds=100, max_bytes=10**6, overhead=overhead(250))
    assert [(p.first_round, len(p.rounds)) for p in parts] == [(0, 100), (100, 100), (200, 50)]


def test_a_round_that_cannot_fit_alone_fails_naming_the_sampled_vertices() -> None:
    rounds = [{"mean": 0.5}, {"mean": 0.5, "history": [0.123456789] * 10_000}]
    with pytest.raises(TelemetryTooLarge) as caught:
        telemetry_parts(rounds, max_rounds=100, max_bytes=50_000, overhead=overhead(2))
    assert caught.value.field == "plan.settings.history_vertices"
    assert "round 1" in str(caught.value)


async def test_a_run_whose_telemetry_is_over_the_cap_keeps_all_rounds_and_history(
    tmp_path, monkeypatch
) -> None:
    """With the runner's cap lowered to 64 KiB, the run's 41 rounds of 600 sampled values
    (about 560 KB) are one 100-round batch by count; they go out as several messages under the
    cap, and the collector assembles all of them: every round, every sampled value, the same
    values as the run itself produced."""
    monkeypatch.setattr(runner_service, "MAX_MESSAGE_BYTES", SMALL_CAP)
    sizes: list[int] = []
    publish = runner_service.publish_message

    async def measured(bus, topology, message):
        if isinstance(message, RunRound):
            sizes.append(len(encode(message)))
        await publish(bus, topology, message)

    monkeypatch.setattr(runner_service, "publish_message", measured)
    outcome = await run_embedded(SPEC, out_dir=tmp_path)
    assert outcome.state is not None and outcome.location
    assert len(sizes) > 1 and max(sizes) <= SMALL_CAP
    assert sum(sizes) > SMALL_CAP  # one message would not have fitted

    (run_dir,) = (Path(outcome.location) / "runs").iterdir()
    result = orjson.loads((run_dir / "result.json").read_bytes())
    assert result["status"] == "completed" and result["rounds"] == ROUNDS
    lines = [orjson.loads(line) for line in (run_dir / "rounds.jsonl").read_text().splitlines()]
    assert [line["round"] for line in lines] == list(range(ROUNDS + 1))

    algorithm = resolve_algorithm(None, rule="average", mode="synchronous")
    (expected,) = await simulate(
        load_graph(GRAPH),
        algorithm,
        settings=RunSettings(max_rounds=ROUNDS, until_converged=False, history_every=1),
        seed=5,
        run_ids=[run_dir.name],
    )
    assert [r for r, _ in expected.history] == list(range(ROUNDS + 1))
    history = pd.read_parquet(run_dir / "history.parquet")
    assert len(history) == (ROUNDS + 1) * VERTICES
    for r, sample in expected.history:
        assert history[history["round"] == r]["value"].tolist() == sample.tolist()


async def test_a_round_too_large_for_any_message_fails_the_run_without_telemetry(
    tmp_path, monkeypatch
) -> None:
    """Should a single round not fit (the spec check's history cap is there to prevent it), the
    run fails with run.failed naming the sampled vertices: not retried, no telemetry sent, and
    not dead-lettered, where nothing would say what became of it."""
    monkeypatch.setattr(runner_service, "MAX_MESSAGE_BYTES", 4096)
    published: list[str] = []
    publish = runner_service.publish_message

    async def recorded(bus, topology, message):
        published.append(message.kind)
        await publish(bus, topology, message)

    monkeypatch.setattr(runner_service, "publish_message", recorded)
    spec = {**SPEC, "name": "telemetry-too-large", "history": {"every": 1, "vertices": 400}}
    outcome = await run_embedded(spec, out_dir=tmp_path)
    assert outcome.state is not None and outcome.location
    (run_dir,) = (Path(outcome.location) / "runs").iterdir()
    result = orjson.loads((run_dir / "result.json").read_bytes())
    assert result["status"] == "failed"
    assert result["error"].startswith("plan.settings.history_vertices: round ")
    assert published == ["run.started", "run.failed"]
