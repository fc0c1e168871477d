"""Engine benchmark: node-rounds/s and peak RSS, against plain numpy in the same run.

    python bench/engine_bench.py            # all workloads (with their targets)
    python bench/engine_bench.py --quick    # smaller sizes, for a smoke run

Workload: N vertices, each linked to 4 random others (undirected, mean degree ≈ 8), 30 rounds
of averaging. Timings cover Reset + all rounds over gRPC, after a one-round warm-up run
(node start and Configure are reported apart as setup). Peak RSS is the largest sum, sampled
every 20 ms, of the resident memory of the runner (this process) and every node process, or
the runner's own peak while it built the graph if that was higher.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import threading
import time
from pathlib import Path

import numpy as np

from gossipsim.common.model.algorithms import resolve_algorithm
from gossipsim.common.graphs.csr_generators import random_k_out_graph
from gossipsim.common.graphs.sources import find_seed_graphs, load_graph
from gossipsim.common.model.initial_values import Initialization
from gossipsim.common.runtime.memory import release_free_memory
from gossipsim.runner.driver import RunSettings, ShardSession
from gossipsim.runner.local_launcher import LocalProcessLauncher

from numpy_reference import sequential_averaging, synchronous_averaging

ROUNDS = 30
FULL_SIZE = True  # the targets hold for the full sizes; --quick only smoke-tests


def judge(met: bool) -> str:
    if not FULL_SIZE:
        return "[targets apply to the full sizes]"
    return "[ok]" if met else "[MISSED]"


# The earlier simulator's resources: the subset in the repository, or the full set at
# GOSSIPSIM_FIXTURES. Both hold the ten series1 graphs the seed workload times.
FIXTURES = Path(
    os.environ.get("GOSSIPSIM_FIXTURES") or Path(__file__).resolve().parents[1] / "examples"
)


def vm_hwm_mib(pid: int | str = "self") -> float:
    """High-water mark of one process's resident memory, MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def vm_rss_mib(pid: int | str = "self") -> float:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class TotalRssSampler:
    """Samples the summed resident memory of this process and the node processes every 20 ms.

    The peak of the sum is what the machine had to hold at once; the sum of per-process
    high-water marks would add peaks that never coincided (the runner's graph generation
    happens before any node exists).
    """

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.peak = 0.0
        self.parts: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            parts = [vm_rss_mib()] + [vm_rss_mib(pid) for pid in self.pids]
            if sum(parts) > self.peak:
                self.peak, self.parts = sum(parts), parts
            self._stop.wait(0.02)

    def __enter__(self) -> TotalRssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


async def time_engine(graph, algorithm, shards, launcher, settings, runs=1):
    """Setup time, mean time per run (Reset + rounds), and the peak total RSS meanwhile."""
    addresses = await launcher.acquire(shards, run_id="bench")
    await launcher.release(addresses, healthy=True)  # pooled: the session gets these
    pids = [launcher.process(a).pid for a in addresses]
    with TotalRssSampler(pids) as sampler:
        started = time.perf_counter()
        async with ShardSession(
            graph=graph, algorithm=algorithm, launcher=launcher, shards=shards, call_timeout=600
        ) as session:
            configured = time.perf_counter()
            warm_up = RunSettings(
                max_rounds=1,
                until_converged=False,
                call_timeout=600,
                initialization=settings.initialization,
            )
            await session.run(run_id="warm-up", seed=1, settings=warm_up)  # numba cache loads
            run_started = time.perf_counter()
            result = None
            for k in range(runs):
                result = await session.run(run_id=f"bench-{k}", seed=1, settings=settings)
            finished = time.perf_counter()
    return result, configured - started, (finished - run_started) / runs, sampler.peak


async def synchronous_workload(n: int, launcher) -> None:
    started = time.perf_counter()
    graph = random_k_out_graph(n, 4, seed=1)
    print(f"\nrandom_k_out_graph(n={n:.0e}, k=4) built in {time.perf_counter() - started:.2f} s")
    release_free_memory()  # the generator's temporaries
    settings = RunSettings(
        max_rounds=ROUNDS,
        until_converged=False,
        initialization=Initialization.UNIFORM,
        call_timeout=600,
    )
    algorithm = resolve_algorithm(rule="average", mode="synchronous")
    generation_peak = vm_hwm_mib()  # before any node exists: building the graph
    measured = []
    for shards in (1, 4):
        _, setup, elapsed, peak = await time_engine(graph, algorithm, shards, launcher, settings)
        measured.append((shards, setup, n * ROUNDS / elapsed, max(peak, generation_peak)))
        await launcher.close()
    # The reference runs last so that its memory does not count in the runner's peak.
    values = np.random.default_rng(0).random(n)
    started = time.perf_counter()
    synchronous_averaging(graph, values, ROUNDS, seed=1)
    numpy_rate = n * ROUNDS / (time.perf_counter() - started)
    print(
        f"\nsynchronous averaging, N={n:.0e}, {ROUNDS} rounds, mean degree "
        f"{graph.indices.size / n:.2f}"
    )
    print(f"  numpy reference           {numpy_rate / 1e6:8.2f} M node-rounds/s")
    for (shards, setup, rate, peak), target in zip(measured, (0.5, 0.25), strict=True):
        verdict = judge(rate >= target * numpy_rate and peak <= 1024)
        print(
            f"  gossipsim {shards} shard(s)      {rate / 1e6:8.2f} M node-rounds/s = "
            f"{rate / numpy_rate:.2f}x numpy (target >= {target}x)  setup {setup:.1f} s  "
            f"peak total RSS {peak:.0f} MiB (target <= 1024)  {verdict}"
        )
    print(f"  (runner alone while building the graph: {generation_peak:.0f} MiB)")


async def sequential_workload(n: int, launcher) -> None:
    graph = random_k_out_graph(n, 4, seed=1)
    release_free_memory()  # the generator's temporaries
    values = np.random.default_rng(0).random(n)
    reference_rounds = 2
    started = time.perf_counter()
    sequential_averaging(graph, values, reference_rounds, seed=1)
    numpy_rate = n * reference_rounds / (time.perf_counter() - started)
    settings = RunSettings(
        max_rounds=ROUNDS,
        until_converged=False,
        initialization=Initialization.UNIFORM,
        call_timeout=600,
    )
    algorithm = resolve_algorithm(rule="average", mode="sequential", order="shuffled")
    _, _, elapsed, _ = await time_engine(graph, algorithm, 1, launcher, settings, runs=3)
    rate = n * ROUNDS / elapsed
    print(f"\nsequential (PeerSim) averaging, N={n:.0e}, {ROUNDS} rounds, 1 shard")
    print(f"  numpy/Python loop         {numpy_rate / 1e6:8.2f} M node-rounds/s")
    print(
        f"  gossipsim 1 shard         {rate / 1e6:8.2f} M node-rounds/s "
        f"(target >= 4.6; PeerSim 1.0.5: 2.3)  {judge(rate >= 4.6e6)}"
    )


async def sequential_sharded_workload(n: int, launcher) -> None:
    """Several shards in sequential mode: exact, and bounded by one round trip per turn."""
    graph = random_k_out_graph(n, 4, seed=1)
    rounds = 5
    settings = RunSettings(
        max_rounds=rounds,
        until_converged=False,
        initialization=Initialization.UNIFORM,
        call_timeout=600,
    )
    print(f"\nsequential averaging on several shards, N={n:.0e}, {rounds} rounds")
    for order in ("fixed", "shuffled"):
        algorithm = resolve_algorithm(rule="average", mode="sequential", order=order)
        for shards in (2, 4):
            _, _, elapsed, _ = await time_engine(graph, algorithm, shards, launcher, settings)
            plan = f"{shards} turns" if order == "fixed" else "dependency waves"
            print(
                f"  order {order:8s} {shards} shards  {n * rounds / elapsed / 1e6:8.3f} M "
                f"node-rounds/s  ({plan} per round)"
            )
        await launcher.close()


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
    print(
        f"\nseed `default` (min) protocol on {len(paths)} series1 graphs of 1000 vertices "
        f"({paths[0].name} … {paths[-1].name}, from {FIXTURES})"
    )
    print(
        f"  {np.mean(per_run) * 1e3:.2f} ms per run (mean over 10 runs per graph), "
        f"{np.mean(rounds):.1f} rounds on average"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    global FULL_SIZE
    FULL_SIZE = not args.quick
    scale = 10 if args.quick else 1
    async with LocalProcessLauncher() as launcher:
        await seed_min_workload(launcher)
        await sequential_workload(100_000 // scale, launcher)
        await sequential_sharded_workload(10_000 // scale, launcher)
        await synchronous_workload(1_000_000 // scale, launcher)


if __name__ == "__main__":
    asyncio.run(main())
