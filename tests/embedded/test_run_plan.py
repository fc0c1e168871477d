"""The runner runs what the plan says: the spec's execution settings, not defaults of its own."""

from __future__ import annotations

import csv
from pathlib import Path

import orjson
import pandas as pd

from gossipsim.embedded import run_embedded

SPEC = {
    "name": "plan-honoured",
    "seed": 3,
    "graphs": [{"name": "ring", "generator": "cycle_graph", "params": {"n": 40}}],
    "algorithms": ["default", {"rule": "average", "mode": "synchronous"}],
    "repetitions": 2,
    "max_rounds": 7,
    "stop": "max_rounds",
    "history": {"every": 3, "vertices": [0, 5, 39]},
}


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


async def test_every_run_honours_the_settings_of_the_spec(tmp_path):
    outcome = await run_embedded(SPEC, out_dir=tmp_path)
    results = Path(outcome.location)
    summary = read_csv(results / "summary.csv")
    assert len(summary) == 4
    assert {row["rounds"] for row in summary} == {"7"}  # max_rounds, not the default 1000
    assert {row["algorithm"] for row in summary} == {"default", "average/uniform"}
    for row in summary:
        run = results / "runs" / row["run_id"]
        history = pd.read_parquet(run / "history.parquet")
        assert sorted(set(history["round"])) == [0, 3, 6]
        assert history.groupby("round").size().tolist() == [3, 3, 3]
        rounds = [orjson.loads(line) for line in (run / "rounds.jsonl").read_text().splitlines()]
        assert len(rounds) == 8 and not any("history" in r for r in rounds)
        plan = orjson.loads((run / "result.json").read_bytes())["plan"]
        assert plan["settings"]["max_rounds"] == 7 and plan["settings"]["shards"] == 1
        assert plan["graph"] == "ring" and plan["algorithm_label"] == row["algorithm"]
