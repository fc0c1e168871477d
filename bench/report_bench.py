"""What the per-simulation plots and report cost the quickstart (target: at most 10% of its
wall time), and what `visualize` adds.

    python bench/report_bench.py [--repeat 3]

Runs examples/quickstart.yaml through `run_embedded` (what `gossipsim run` does) three ways,
each ``--repeat`` times, alternating, on fresh output folders, and prints the median wall times:

- as shipped: tables, Parquet, plots and report.html;
- without plots and report: the collector's render step (report.render_files) replaced by one
  that draws nothing, so the difference is exactly what drawing costs;
- with ``visualize: true``: every run's GEXF, frames, GIF and history.parquet.

It also prints the size of the results folder of each. Run it on a quiet machine: it measures
wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from gossipsim.collector import report
from gossipsim.embedded import run_embedded

QUICKSTART = Path(__file__).resolve().parents[1] / "examples" / "quickstart.yaml"


@contextmanager
def without_pages() -> Iterator[None]:
    real = report.render_files
    report.render_files = lambda *args, **kwargs: {}  # type: ignore[assignment]
    try:
        yield
    finally:
        report.render_files = real  # type: ignore[assignment]


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


async def timed(spec: dict[str, Any]) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        outcome = await run_embedded(spec, out_dir=Path(out), base_dir=QUICKSTART.parent)
        took = time.perf_counter() - started
        assert outcome.state is not None and outcome.state.count_failed() == 0
        return took, folder_bytes(Path(out))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    spec = yaml.safe_load(QUICKSTART.read_text())
    times: dict[str, list[float]] = {"shipped": [], "no plots": [], "visualize": []}
    sizes: dict[str, int] = {}
    await timed(spec)  # warm: imports, numba caches
    for _ in range(args.repeat):
        for name in times:
            if name == "no plots":
                with without_pages():
                    took, size = await timed(spec)
            elif name == "visualize":
                took, size = await timed({**spec, "visualize": True})
            else:
                took, size = await timed(spec)
            times[name].append(took)
            sizes[name] = size
    shipped, bare = statistics.median(times["shipped"]), statistics.median(times["no plots"])
    for name, values in times.items():
        print(
            f"{name:10s} median {statistics.median(values):6.2f} s"
            f"  (runs: {', '.join(f'{v:.2f}' for v in values)})"
            f"  results folder {sizes[name] / 1e6:.1f} MB"
        )
    share = (shipped - bare) / shipped
    print(f"plots and report: {shipped - bare:.2f} s of {shipped:.2f} s = {share:.1%} (bar: 10%)")


if __name__ == "__main__":
    asyncio.run(main())
