"""Sweeps at engine speed (issue #13): per-graph setup against the gossip itself, runners that
add up, embedded against distributed, in one invocation.

    GOSSIPSIM_FIXTURES=../shared/fixtures .venv/bin/python bench/sweep_bench.py \
        [--runners 1 2] [--modes embedded distributed] [--repeat 1]

Two sweeps of the same number of runs (the earlier simulator's own resources, from
``$GOSSIPSIM_FIXTURES/seed-crs``):

- (a) ``series1-default``: its Simulation resource over the 100 series1 graphs, 10
  repetitions each (1000 runs; every graph is new to the runner: setup-bound);
- (b) the same 1000 runs on one series1 graph (the first): the engine-bound reference.

Each is run with every ``--runners`` count, embedded (``run_embedded``: what ``gossipsim run
--runners K`` does) and distributed (``gossipsim serve`` scheduler, collector and K runner
processes over RabbitMQ at ``GOSSIPSIM_BROKER_URL`` or the machine's broker, a local directory
store; bench/distributed_bench.py's machinery). Every distributed mode uses a fresh prefix
whose queues and exchanges are deleted afterwards.

It prints the wall times, then the issue's targets with PASS/FAIL:

- (a)/(b) with 2 runners at most 1.5 (per-graph setup at most half the gossip);
- (a) with 2 runners in at most 10 s;
- 2 runners at least 1.6x faster than 1 on (b), embedded and distributed;
- distributed with 2 runners at most 1.3x embedded with 2 runners on (a).

The exit status is 0 unless a mode failed a run (targets missed are reported, not fatal).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from distributed_bench import (  # this script's folder is on sys.path
    DEFAULT_BROKER,
    Services,
    _wait_for_manifest,
    delete_prefixed,
    start_services,
)

from gossipsim.common.messaging.messages import SimulationSubmit
from gossipsim.common.messaging.publishing import publish_message
from gossipsim.common.runtime.connections import open_bus, open_store
from gossipsim.common.runtime.settings import ServiceSettings
from gossipsim.common.spec.simulation_spec import simulation_id_for
from gossipsim.embedded import run_embedded

RATIO_SETUP = 1.5  # (a)/(b) with 2 runners, at most
SECONDS_A = 10.0  # (a) with 2 runners, at most
SPEEDUP = 1.6  # 1 runner / 2 runners on (b), at least
DISTRIBUTED_RATIO = 1.3  # distributed / embedded with 2 runners on (a), at most


@dataclass(frozen=True, slots=True)
class Sweep:
    name: str
    spec: dict[str, Any]
    graphs_dir: Path


@dataclass(frozen=True, slots=True)
class Timing:
    sweep: str
    mode: str
    runners: int
    seconds: float
    runs: int
    failed: int


def sweeps(fixtures: Path, workdir: Path) -> list[Sweep]:
    """(a) series1-default over its 100 graphs; (b) as many runs on its first graph alone."""
    seed = fixtures / "seed-crs"
    resource = yaml.safe_load((seed / "simulations/series1/series1-default.yaml").read_text())
    graphs = seed / "graphs" / "series1"
    count = len(list(graphs.glob("*.yaml")))
    runs = count * int(resource["spec"]["repetitions"])
    single = workdir / "single-graph"
    single.mkdir()
    first = sorted(graphs.glob("*.yaml"))[0]
    shutil.copy(first, single / first.name)
    one = {**resource, "metadata": {"name": "series1-one-graph"}}
    one["spec"] = {**resource["spec"], "repetitions": runs}
    return [Sweep("a", resource, graphs), Sweep("b", one, single)]


async def embedded(sweep: Sweep, runners: int, workdir: Path) -> Timing:
    out = workdir / f"embedded-{sweep.name}-{runners}-{uuid.uuid4().hex[:6]}"
    started = time.perf_counter()
    outcome = await run_embedded(
        sweep.spec, out_dir=out, graphs_dir=sweep.graphs_dir, runners=runners
    )
    seconds = time.perf_counter() - started
    assert outcome.state is not None, outcome.rejection
    total = len(outcome.state.plans)
    return Timing(sweep.name, "embedded", runners, seconds, total, outcome.state.count_failed())


async def distributed(sweep: Sweep, runners: int, workdir: Path, broker: str) -> Timing:
    prefix = f"gsbench-{uuid.uuid4().hex[:8]}"
    mode_dir = workdir / prefix
    mode_dir.mkdir()
    env = {
        **os.environ,
        "GOSSIPSIM_BROKER_URL": broker,
        "GOSSIPSIM_PREFIX": prefix,
        "GOSSIPSIM_STORE": str(mode_dir / "store"),
        "GOSSIPSIM_GRAPH_ROOTS": str(sweep.graphs_dir),
        "GOSSIPSIM_LOG_LEVEL": "warning",
    }
    settings = ServiceSettings.from_env(env)
    services = Services(workdir=mode_dir, env=env)
    simulation_id = simulation_id_for(sweep.spec)
    try:
        async with open_store(settings) as store:
            await start_services(services, runners, broker, prefix)
            async with open_bus(settings) as (bus, topology):
                started = time.perf_counter()
                submit = SimulationSubmit(
                    spec=sweep.spec, simulation_id=simulation_id, graphs_dir=str(sweep.graphs_dir)
                )
                await publish_message(bus, topology, submit)
            manifest = await _wait_for_manifest(
                store, f"simulations/{simulation_id}/manifest.json", services, 1800
            )
            seconds = time.perf_counter() - started
        total = int(manifest["runs_total"])
        failed = int(manifest["runs_failed"])
        return Timing(sweep.name, "distributed", runners, seconds, total, failed)
    finally:
        services.stop()
        await delete_prefixed(broker, prefix)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def report(timings: list[Timing]) -> None:
    def seconds(sweep: str, mode: str, runners: int) -> float | None:
        found = [
            t.seconds for t in timings if (t.sweep, t.mode, t.runners) == (sweep, mode, runners)
        ]
        return statistics.median(found) if found else None

    print(f"\n{'sweep':6s}{'mode':13s}{'runners':>8s}{'runs':>7s}{'failed':>8s}{'seconds':>10s}")
    for t in timings:
        print(f"{t.sweep:6s}{t.mode:13s}{t.runners:8d}{t.runs:7d}{t.failed:8d}{t.seconds:10.2f}")
    print("\ntargets:")
    for mode in ("embedded", "distributed"):
        a2, b2, b1 = seconds("a", mode, 2), seconds("b", mode, 2), seconds("b", mode, 1)
        if a2 is not None and b2 is not None:
            ratio = a2 / b2
            print(f"  {mode}: (a)/(b) with 2 runners {ratio:.2f} <= {RATIO_SETUP}: "
                  f"{verdict(ratio <= RATIO_SETUP)}")  # fmt: skip
        if a2 is not None:
            print(f"  {mode}: (a) with 2 runners {a2:.1f} s <= {SECONDS_A:.0f} s: "
                  f"{verdict(a2 <= SECONDS_A)}")  # fmt: skip
        if b1 is not None and b2 is not None:
            speedup = b1 / b2
            print(f"  {mode}: speed-up of 2 runners on (b) {speedup:.2f} >= {SPEEDUP}: "
                  f"{verdict(speedup >= SPEEDUP)}")  # fmt: skip
    em, di = seconds("a", "embedded", 2), seconds("a", "distributed", 2)
    if em is not None and di is not None:
        print(f"  distributed/embedded with 2 runners on (a) {di / em:.2f} <= "
              f"{DISTRIBUTED_RATIO}: {verdict(di / em <= DISTRIBUTED_RATIO)}")  # fmt: skip


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runners", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--modes", nargs="+", default=["embedded", "distributed"])
    parser.add_argument("--sweeps", nargs="+", default=["a", "b"])
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    fixtures = os.environ.get("GOSSIPSIM_FIXTURES")
    if not fixtures:
        print("set GOSSIPSIM_FIXTURES to the earlier simulator's fixtures", file=sys.stderr)
        return 2
    broker = os.environ.get("GOSSIPSIM_BROKER_URL", DEFAULT_BROKER)
    timings: list[Timing] = []
    with tempfile.TemporaryDirectory(prefix="sweep-bench-") as tmp:
        workdir = Path(tmp)
        chosen = [s for s in sweeps(Path(fixtures), workdir) if s.name in args.sweeps]
        print(f"load average at start: {os.getloadavg()}")
        for _ in range(args.repeat):
            for sweep in chosen:
                for mode in args.modes:
                    for runners in args.runners:
                        if mode == "embedded":
                            timing = await embedded(sweep, runners, workdir)
                        else:
                            timing = await distributed(sweep, runners, workdir, broker)
                        print(f"  ({timing.sweep}) {mode} x{runners}: {timing.seconds:.2f} s",
                              flush=True)  # fmt: skip
                        timings.append(timing)
        print(f"load average at end: {os.getloadavg()}")
    report(timings)
    return 1 if any(t.failed for t in timings) else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
