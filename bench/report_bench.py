"""What the per-simulation plots and report cost the quickstart (target: at most 10% of its
wall time), and what `visualize` adds.

    python bench/report_bench.py [--repeat 5]

Runs examples/quickstart.yaml as `gossipsim run` does, each time in a fresh Python process
(imports included, matplotlib's too), three ways, alternating, ``--repeat`` times each:

- shipped: tables, Parquet, plots and report.html;
- no plots: the collector's render step (report.render_files) replaced by one that draws
  nothing, so the difference is what drawing costs;
- visualize: ``visualize: true`` added, so every run also gets its GEXF, frames, GIF and
  history.parquet.

Wall times on a shared 2-core machine scatter by a second or two, more than the plots cost,
so each process also measures the time spent inside render_files (the plots and the page,
which the simulation's completion waits for) and the bench reports its share of the wall time
beside the difference of medians. Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

QUICKSTART = Path(__file__).resolve().parents[1] / "examples" / "quickstart.yaml"
VARIANTS = ("shipped", "no plots", "visualize")


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


async def one(variant: str) -> dict[str, Any]:
    """One quickstart in this (fresh) process: wall time from before the imports, time in
    render_files, results folder size."""
    started = time.perf_counter()
    import yaml

    from gossipsim.collector import report
    from gossipsim.embedded import run_embedded

    spec = yaml.safe_load(QUICKSTART.read_text())
    rendering = [0.0]
    real = report.render_files

    def timed(*args: Any, **kwargs: Any) -> dict[str, bytes]:
        begun = time.perf_counter()
        try:
            return {} if variant == "no plots" else real(*args, **kwargs)
        finally:
            rendering[0] += time.perf_counter() - begun

    report.render_files = timed  # type: ignore[assignment]
    if variant == "visualize":
        spec["visualize"] = True
    with tempfile.TemporaryDirectory() as out:
        outcome = await run_embedded(spec, out_dir=Path(out), base_dir=QUICKSTART.parent)
        wall = time.perf_counter() - started
        assert outcome.state is not None and outcome.state.count_failed() == 0
        size = folder_bytes(Path(out))
    return {"wall": wall, "render": rendering[0], "bytes": size}


def measure(variant: str) -> dict[str, Any]:
    child = subprocess.run(
        [sys.executable, __file__, "--one", variant],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(child.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skip-visualize", action="store_true")
    parser.add_argument("--one", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(asyncio.run(one(args.one))))
        return
    variants = [v for v in VARIANTS if not (args.skip_visualize and v == "visualize")]
    measure("shipped")  # warm: numba's kernel cache, the page cache
    results: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    for _ in range(args.repeat):
        for variant in variants:
            results[variant].append(measure(variant))
    for variant, runs in results.items():
        walls = [r["wall"] for r in runs]
        print(
            f"{variant:10s} median {statistics.median(walls):6.2f} s"
            f"  (runs: {', '.join(f'{w:.2f}' for w in walls)})"
            f"  results folder {runs[-1]['bytes'] / 1e6:.1f} MB"
        )
    shipped = statistics.median(r["wall"] for r in results["shipped"])
    bare = statistics.median(r["wall"] for r in results["no plots"])
    render = statistics.median(r["render"] for r in results["shipped"])
    print(
        f"plots and report: {render:.2f} s inside render_files = {render / shipped:.1%} of"
        f" {shipped:.2f} s; difference of medians {shipped - bare:+.2f} s ="
        f" {(shipped - bare) / shipped:+.1%} (bar: 10%)"
    )


if __name__ == "__main__":
    main()
