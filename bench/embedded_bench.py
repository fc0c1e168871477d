"""Platform overhead per run in embedded mode (target: at most 10 ms per run).

    python bench/embedded_bench.py [--runs 1000]

Runs a sweep of small runs (the seed's 20-vertex barab-n20-e2.0 graph, `default` algorithm)
through `run_embedded`, and subtracts the time spent inside the engine (ShardSession.run: Reset
plus RunRounds over gRPC) from the wall time after the first run started. What remains is the
platform: scheduling, messages, telemetry, results files, tables.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

from gossipsim.embedded import run_embedded
from gossipsim.runner.driver import ShardSession

# The earlier simulator's resources: the subset in the repository, or the full set at
# GOSSIPSIM_FIXTURES (the graph is in both).
FIXTURES = Path(
    os.environ.get("GOSSIPSIM_FIXTURES") or Path(__file__).resolve().parents[1] / "examples"
)
GRAPH = FIXTURES / "seed-crs/graphs/examples-test-series/barab-n20-e2.0.yaml"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=1000)
    args = parser.parse_args()
    engine = {"seconds": 0.0, "first_start": None}
    real_run = ShardSession.run

    async def timed_run(self, **kwargs):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        if engine["first_start"] is None:
            engine["first_start"] = started
        try:
            return await real_run(self, **kwargs)
        finally:
            engine["seconds"] += time.perf_counter() - started

    ShardSession.run = timed_run  # type: ignore[method-assign]
    spec = {
        "name": "overhead",
        "graphs": [{"resource": str(GRAPH)}],
        "algorithms": ["default"],
        "repetitions": args.runs,
    }
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        outcome = await run_embedded(spec, out_dir=Path(out))
        finished = time.perf_counter()
    assert outcome.state is not None and outcome.state.count_failed() == 0
    steady = finished - engine["first_start"]
    overhead = (steady - engine["seconds"]) / args.runs
    total = finished - started
    print(
        f"{args.runs} runs in {total:.2f} s ({args.runs / total:.0f} runs/s, "
        f"start-up {engine['first_start'] - started:.2f} s)"
    )
    per_run = engine["seconds"] / args.runs * 1e3
    print(f"engine (Reset + RunRounds over gRPC): {per_run:.2f} ms per run")
    print(
        f"platform overhead beyond the engine: {overhead * 1e3:.2f} ms per run (target <= 10 ms)  "
        f"[{'ok' if overhead <= 0.010 else 'MISSED'}]"
    )


if __name__ == "__main__":
    asyncio.run(main())
