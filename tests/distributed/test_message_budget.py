"""Broker messages per run on separate service processes (target: at most 5 for small runs).

Every message published on the deployment's exchanges is counted by a tap, so a new kind of
message (or a per-round one) shows up here whoever sends it.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.distributed.harness import Cluster, Tap

MAX_MESSAGES_PER_RUN = 5
TELEMETRY_BATCH = 100  # rounds per run.round message (RunnerSettings.telemetry_batch)


def _write_spec(directory: Path, spec: dict[str, Any]) -> Path:
    path = directory / f"{spec['name']}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _breakdown(tap: Tap) -> str:
    kinds = Counter(
        f"{m.exchange.rsplit('.', 1)[-1]}/{m.body.get('kind', '?')}" for m in tap.messages
    )
    return ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items()))


async def _run(cluster: Cluster, spec: dict[str, Any]) -> tuple[Tap, dict[str, Any], str]:
    """Submit with the tap listening; return it once results.stored has gone by."""
    for service in ("scheduler", "collector", "runner"):
        cluster.start(service)
    async with Tap(cluster.broker_url, cluster.prefix) as tap:
        simulation_id = cluster.submit(_write_spec(cluster.workdir, spec))
        manifest = await cluster.wait_for_results(simulation_id)
        await tap.wait_until(lambda: bool(tap.of_kind("results.stored")), what="results.stored")
    return tap, manifest, simulation_id


@pytest.mark.timeout(600)
async def test_small_runs_cost_at_most_five_broker_messages_each(cluster: Cluster):
    """30 runs of a few rounds each: round telemetry is batched, not one message per round."""
    spec = {
        "name": "budget",
        "seed": 7,
        "graphs": [
            {
                "name": "ba-20",
                "generator": "barabasi_albert_graph",
                "params": {"n": 20, "m": 2},
                "seed": 1,
            }
        ],
        "algorithms": ["default"],
        "repetitions": 30,
        "max_rounds": 49,  # the budget is for runs under 50 rounds
    }
    tap, manifest, simulation_id = await _run(cluster, spec)
    assert manifest["runs_succeeded"] == 30, manifest
    rows = await cluster.summary(simulation_id)
    assert max(int(row["rounds"]) for row in rows) < 50
    per_run = len(tap.messages) / 30
    assert per_run <= MAX_MESSAGES_PER_RUN, (
        f"{len(tap.messages)} messages for 30 runs ({per_run:.2f} per run): {_breakdown(tap)}"
    )


@pytest.mark.timeout(600)
async def test_long_run_sends_its_round_telemetry_in_batches_of_100_rounds(cluster: Cluster):
    """Averaging on a ring to ε = 1e-6 takes over a thousand rounds (round 0 included)."""
    spec = {
        "name": "long",
        "seed": 7,
        "graphs": [{"name": "ring-20", "generator": "cycle_graph", "params": {"n": 20}}],
        "algorithms": [{"rule": "average", "mode": "synchronous"}],
        "repetitions": 1,
        "max_rounds": 2000,
        "epsilon": 1.0e-6,
    }
    tap, manifest, simulation_id = await _run(cluster, spec)
    assert manifest["runs_succeeded"] == 1, manifest
    [row] = await cluster.summary(simulation_id)
    rounds = int(row["rounds"])
    assert rounds > TELEMETRY_BATCH
    batches = tap.of_kind("run.round")
    assert len(batches) == math.ceil((rounds + 1) / TELEMETRY_BATCH), _breakdown(tap)
    assert sorted(m.body["first_round"] for m in batches) == list(
        range(0, rounds + 1, TELEMETRY_BATCH)
    )
    assert sum(len(m.body["rounds"]) for m in batches) == rounds + 1
