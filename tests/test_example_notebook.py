"""The worked example notebook runs as written, in a real Jupyter kernel, and draws its figures.

examples/notebook.ipynb is what a researcher copies first; a notebook that no longer runs (an
API renamed, a column gone) would be found out only by them. The test executes a copy in a
temporary directory (the notebook writes ``results/``, its figures included, into its working
directory, which must not be the repository) on the kernel of this virtual environment.
"""

from __future__ import annotations

import shutil
import sys

import nbformat
import pytest
from nbclient import NotebookClient

import gossipsim
from tests.conftest import REPO

NOTEBOOK = REPO / "examples" / "notebook.ipynb"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# the sweep in the notebook: p in [0.1, 0.2, 0.5, 1.0] × 2 algorithms × 5 repetitions
SWEPT_P = {0.1, 0.2, 0.5, 1.0}
ALGORITHMS = {"average/uniform", "rumor_push_pull/uniform"}
REPETITIONS = 5


def test_the_notebook_is_stored_without_outputs() -> None:
    """Outputs in the repository would go stale and make every diff noisy."""
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code
    for cell in code:
        assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]


@pytest.mark.timeout(240)
def test_the_example_notebook_runs_and_draws_the_figure(tmp_path, monkeypatch) -> None:
    work = tmp_path / "notebook"
    work.mkdir()
    shutil.copy(NOTEBOOK, work / NOTEBOOK.name)
    notebook = nbformat.read(work / NOTEBOOK.name, as_version=4)
    # which Python the kernel runs: the kernelspec "python3" must start this interpreter (the
    # venv with gossipsim installed), not some other python on the PATH
    notebook.cells.append(nbformat.v4.new_code_cell("import sys\nprint(sys.prefix)"))
    monkeypatch.setenv("MPLBACKEND", "Agg")  # no display; the kernel inherits the environment
    monkeypatch.chdir(work)

    client = NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=180,
        resources={"metadata": {"path": str(work)}},
    )
    client.execute()  # raises CellExecutionError, naming the cell, when a cell fails

    errors = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "error"
    ]
    assert errors == []
    kernel_prefix = notebook.cells[-1].outputs[0].text.strip()
    assert kernel_prefix == sys.prefix, "the python3 kernelspec starts another Python"

    for figure in ("figure.png", "convergence.png"):
        data = (work / "results" / figure).read_bytes()
        assert data.startswith(PNG_SIGNATURE), figure
        assert len(data) > 10_000, figure  # a drawn figure, not an empty canvas

    # the table the notebook shows: one row per p and algorithm, every run counted
    (shown,) = [cell for cell in notebook.cells if cell.source == "results.averaged"]
    assert "mean_rounds" in shown.outputs[0].data["text/html"]
    results = gossipsim.load_results(work / "results", "ws-rewiring")
    averaged = results.averaged
    assert len(averaged) == len(SWEPT_P) * len(ALGORITHMS)
    assert set(averaged["param_p"]) == SWEPT_P
    assert set(averaged["algorithm"]) == ALGORITHMS
    assert (averaged["runs"] == REPETITIONS).all()
    # per_repetition: a fresh graph for every repetition of a p
    summary = results.summary
    assert summary.groupby("graph")["graph_seed"].nunique().eq(REPETITIONS).all()
