"""The README's first simulation works on a fresh clone, and the docs stand alone."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def readme_block(after: str, language: str = "") -> str:
    """The first fenced block of the README after the line ``after``."""
    text = (REPO / "README.md").read_text()
    rest = text.split(after, 1)[1]
    match = re.search(rf"```{language}\n(.*?)```", rest, re.S)
    assert match, f"no ```{language} block after {after!r}"
    return match.group(1)


def table_rows(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines() if line.strip()]


def test_the_readme_shows_the_quickstart_spec_as_it_is() -> None:
    shown = readme_block("## A first simulation", "yaml")
    spec = (REPO / "examples" / "quickstart.yaml").read_text()
    body = "".join(line for line in spec.splitlines(True) if not line.startswith("#"))
    assert shown == body


@pytest.mark.timeout(1500)
def test_make_demo_in_a_fresh_clone_produces_the_results_layout(tmp_path):
    clone = tmp_path / "gossipsim"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
    # the working tree as it is now (new files included, ignored ones not), so uncommitted
    # edits are what gets tested
    tracked = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
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
    for name in ("manifest.json", "summary.csv", "averaged.csv", "summary.parquet"):
        assert (simulation / name).is_file()
    for name in ("rounds.parquet", "plots/convergence.png", "plots/rounds.png", "report.html"):
        assert (simulation / name).is_file()
    assert any(simulation.glob("runs/*/rounds.jsonl"))
    assert "Results:" in completed.stdout
    # the table the README shows is the one the demo prints (results are deterministic)
    shown = readme_block("and prints, per graph and algorithm")
    table = shown.split("\n\n")[0]
    printed = completed.stdout.split("graph ", 1)[1].split("\n\n")[0]
    assert table_rows("graph " + printed) == table_rows(table)
    assert simulation.name in shown
    check_the_readme_loads_the_results_with_pandas(clone, simulation)


# What the test adds after the README's lines: their DataFrames, as the lines left them
PANDAS_CHECK = """
import json
print(json.dumps({
    "simulation_id": results.simulation_id,
    "averaged": results.averaged[["graph", "algorithm", "runs"]].values.tolist(),
    "summary": len(results.summary),
    "rounds": len(results.rounds),
    "runs_total": results.manifest["runs_total"],
}))
"""


def check_the_readme_loads_the_results_with_pandas(clone: Path, simulation: Path) -> None:
    """The README's three Python lines, run as shown in the demo's own environment (no
    development tools) on the demo's results, give the simulation's tables."""
    lines = readme_block("## A first simulation", "python")
    assert len(lines.splitlines()) == 3
    completed = subprocess.run(
        [str(clone / ".venv" / "bin" / "python"), "-c", lines + PANDAS_CHECK],
        cwd=clone,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    loaded = json.loads(completed.stdout)
    assert loaded["simulation_id"] == simulation.name
    with (simulation / "averaged.csv").open(newline="") as averaged:
        rows = [[r["graph"], r["algorithm"], int(r["runs"])] for r in csv.DictReader(averaged)]
    assert loaded["averaged"] == rows
    with (simulation / "summary.csv").open(newline="") as summary:
        assert loaded["summary"] == loaded["runs_total"] == len(list(csv.DictReader(summary)))
    parts = sorted((simulation / "rounds").glob("part-*.csv"))
    assert parts
    assert loaded["rounds"] == sum(len(part.read_text().splitlines()) - 1 for part in parts)


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.relative_to(REPO).as_posix())
def test_the_docs_refer_to_nothing_outside_the_repository(path: Path) -> None:
    """A clone has nothing beside it: no ../shared, and every local link resolves."""
    text = path.read_text()
    assert "../shared" not in text
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if "://" in target:
            continue
        assert (path.parent / target).exists(), f"{path.name}: broken link {target}"
