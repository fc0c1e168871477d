"""Results do not depend on how many runners share the work.

docs/design.md, Execution semantics: determinism.
"""

from __future__ import annotations

from pathlib import Path

from gossipsim.embedded import run_embedded

SPEC = {
    "name": "runners",
    "seed": 7,
    "graphs": [{"name": "ba", "generator": "barabasi_albert_graph", "params": {"n": 60, "m": 2}}],
    "algorithms": ["default", {"rule": "push_sum", "mode": "synchronous"}],
    "repetitions": 4,
    "max_rounds": 60,
    "stop": "max_rounds",
}


def telemetry(location: str) -> dict[str, bytes]:
    runs = Path(location) / "runs"
    return {path.parent.name: path.read_bytes() for path in runs.glob("*/rounds.jsonl")}


async def test_one_and_three_runners_write_identical_telemetry(tmp_path):
    one = await run_embedded(SPEC, out_dir=tmp_path / "one", runners=1)
    three = await run_embedded(SPEC, out_dir=tmp_path / "three", runners=3)
    first, second = telemetry(one.location), telemetry(three.location)
    assert len(first) == 8
    assert first == second
