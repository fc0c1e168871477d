"""The README quickstart works on a fresh clone in a fresh virtual environment."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.conftest import REPO


@pytest.mark.timeout(1500)
def test_make_demo_in_a_fresh_clone_produces_the_results_layout(tmp_path):
    clone = tmp_path / "gossipsim"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
    # the working tree as it is now, so uncommitted edits are what gets tested
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    for name in tracked:
        source = REPO / name
        if source.is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, clone / name)
    completed = subprocess.run(
        ["make", "demo"], cwd=clone, capture_output=True, text=True, timeout=1400, check=False
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    (simulation,) = (clone / "results" / "simulations").iterdir()
    for name in ("manifest.json", "summary.csv", "averaged.csv"):
        assert (simulation / name).is_file()
    assert any(simulation.glob("runs/*/rounds.jsonl"))
    assert "Results:" in completed.stdout
