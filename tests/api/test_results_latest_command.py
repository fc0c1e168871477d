"""``gossipsim results --latest NAME``: the simulation of a name that completed last, copied
out of a directory store like one given by id."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

import gossipsim
from gossipsim.cli.main import main

SPEC = {
    "graphs": [{"name": "ring", "generator": "cycle_graph", "params": {"n": 10}}],
    "algorithms": ["default"],
    "max_rounds": 20,
}


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "store"
    monkeypatch.setenv("GOSSIPSIM_STORE", str(root))
    return root


def test_latest_copies_the_simulation_of_that_name_completed_last(store, tmp_path, capsys):
    gossipsim.run({**SPEC, "name": "study"}, out=store)
    latest = gossipsim.run({**SPEC, "name": "study", "repetitions": 2}, out=store)
    gossipsim.run({**SPEC, "name": "other"}, out=store)
    assert main(["results", "--latest", "study", "--out", str(tmp_path / "copy")]) == 0
    copied = Path(capsys.readouterr().out.strip())
    assert copied == tmp_path / "copy" / latest.simulation_id
    assert (copied / "rounds" / "part-00000.csv").is_file()
    assert_frame_equal(pd.read_csv(copied / "summary.csv"), latest.summary)
    assert gossipsim.load_results(copied).simulation_id == latest.simulation_id
    # an id still works as before
    assert main(["results", latest.simulation_id, "--out", str(tmp_path / "by-id")]) == 0
    assert (tmp_path / "by-id" / latest.simulation_id / "manifest.json").is_file()


def test_an_unknown_name_or_both_an_id_and_a_name_is_refused(store, tmp_path, capsys):
    gossipsim.run({**SPEC, "name": "study"}, out=store)
    assert main(["results", "--latest", "nobody", "--out", str(tmp_path)]) == 1
    assert "no completed simulation named 'nobody'" in capsys.readouterr().err
    assert main(["results", "some-id", "--latest", "study", "--out", str(tmp_path)]) == 2
    assert main(["results", "--out", str(tmp_path)]) == 2
    assert "--latest NAME" in capsys.readouterr().err
