"""Engine benchmark: node-rounds/s and peak RSS, against plain numpy in the same run.

    python bench/engine_bench.py            # all workloads (issue #2 targets)
    python bench/engine_bench.py --quick    # smaller sizes, for a smoke run

Workload: N vertices, each linked to 4 random others (undirected, mean degree ≈ 8), 30 rounds
of averaging. Timings cover Reset + all rounds over gRPC (node start and Configure are
reported apart). Peak RSS is the sum of the high-water marks (VmHWM) of the benchmark process
and every node process, an upper bound of what was resident at once.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from pathlib import Path

import numpy as np

from gossipsim.common.algorithms import resolve_algorithm
from gossipsim.common.graph_generators import random_k_out_graph
from gossipsim.common.graph_sources import find_seed_graphs, load_graph
from gossipsim.common.initial_values import Initialization
from gossipsim.runner.driver import RunSettings, ShardSession
from gossipsim.runner.local_launcher import LocalProcessLauncher

from numpy_reference import sequential_averaging, synchronous_averaging

ROUNDS = 30
FIXTURES = Path(os.environ.get("GOSSIPSIM_FIXTURES", Path(__file__).resolve().parents[2] / "shared" / "fixtures"))


def vm_hwm_mib(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def time_engine(graph, algorithm, shards, launcher, settings, runs=1):
    started = time.perf_counter()
    async with ShardSession(graph=graph, algorithm=algorithm, launcher=launcher, shards=shards,
                            call_timeout=600) as session:
        configured = time.perf_counter()
        result = None
        for k in range(runs):
            result = await session.run(run_id=f"bench-{k}", seed=1, settings=settings)
        finished = time.perf_counter()
        node_rss = sum(vm_hwm_mib(launcher.process(a).pid) for a in session.addresses)
    return result, configured - started, (finished - configured) / runs, node_rss


async def synchronous_workload(n: int, launcher) -> None:
    graph = random_k_out_graph(n, 4, seed=1)
    values = np.random.default_rng(0).random(n)
    started = time.perf_counter()
    synchronous_averaging(graph, values, ROUNDS, seed=1)
    numpy_rate = n * ROUNDS / (time.perf_counter() - started)
    print(f"\nsynchronous averaging, N={n:.0e}, {ROUNDS} rounds, mean degree "
          f"{graph.indices.size / n:.2f}")
    print(f"  numpy reference           {numpy_rate / 1e6:8.2f} M node-rounds/s")
    settings = RunSettings(max_rounds=ROUNDS, until_converged=False,
                           initialization=Initialization.UNIFORM, call_timeout=600)
    algorithm = resolve_algorithm(rule="average", mode="synchronous")
    for shards, target in ((1, 0.5), (4, 0.25)):
        _, setup, elapsed, node_rss = await time_engine(graph, algorithm, shards, launcher, settings)
        rate = n * ROUNDS / elapsed
        total_rss = vm_hwm_mib() + node_rss
        verdict = "ok" if rate >= target * numpy_rate and total_rss <= 1024 else "MISSED"
        print(f"  gossipsim {shards} shard(s)      {rate / 1e6:8.2f} M node-rounds/s = "
              f"{rate / numpy_rate:.2f}x numpy (target >= {target}x)  setup {setup:.1f} s  "
              f"peak RSS {total_rss:.0f} MiB (bench {vm_hwm_mib():.0f} + nodes {node_rss:.0f}; "
              f"target <= 1024)  [{verdict}]")
        await launcher.close()


async def sequential_workload(n: int, launcher) -> None:
    graph = random_k_out_graph(n, 4, seed=1)
    values = np.random.default_rng(0).random(n)
    reference_rounds = 2
    started = time.perf_counter()
    sequential_averaging(graph, values, reference_rounds, seed=1)
    numpy_rate = n * reference_rounds / (time.perf_counter() - started)
    settings = RunSettings(max_rounds=ROUNDS, until_converged=False,
                           initialization=Initialization.UNIFORM, call_timeout=600)
    algorithm = resolve_algorithm(rule="average", mode="sequential", order="shuffled")
    _, setup, elapsed, _ = await time_engine(graph, algorithm, 1, launcher, settings, runs=3)
    rate = n * ROUNDS / elapsed
    print(f"\nsequential (PeerSim) averaging, N={n:.0e}, {ROUNDS} rounds, 1 shard")
    print(f"  numpy/Python loop         {numpy_rate / 1e6:8.2f} M node-rounds/s")
    print(f"  gossipsim 1 shard         {rate / 1e6:8.2f} M node-rounds/s "
          f"(target >= 4.6; PeerSim 1.0.5: 2.3)  [{'ok' if rate >= 4.6e6 else 'MISSED'}]")


async def seed_min_workload(launcher) -> None:
    paths = find_seed_graphs(FIXTURES / "seed-crs" / "graphs" / "series1")[:10]
    if not paths:
        print("\nseed min protocol: fixtures not found, skipped")
        return
    algorithm = resolve_algorithm("default")
    settings = RunSettings(max_rounds=1000)
    per_run = []
    rounds = []
    for path in paths:
        graph = load_graph({"resource": str(path)})
        result, _, elapsed, _ = await time_engine(graph, algorithm, 1, launcher, settings, runs=10)
        per_run.append(elapsed)
        rounds.append(result.rounds)
    print(f"\nseed `default` (min) protocol on {len(paths)} series1 graphs of 1000 vertices")
    print(f"  {np.mean(per_run) * 1e3:.2f} ms per run (mean over 10 runs per graph), "
          f"{np.mean(rounds):.1f} rounds on average")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    async with LocalProcessLauncher() as launcher:
        await seed_min_workload(launcher)
        await sequential_workload(100_000 // scale, launcher)
        await synchronous_workload(1_000_000 // scale, launcher)


if __name__ == "__main__":
    asyncio.run(main())
