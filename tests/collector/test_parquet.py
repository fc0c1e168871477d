"""summary.parquet and rounds.parquet: the rows of summary.csv and of the long table's CSV
parts, with their types (ints, floats, bools), rounds.parquet one row group per part."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import gossipsim
from gossipsim.collector import parquet, results

SPEC: dict[str, Any] = {
    "name": "parquet-ring",
    "seed": 3,
    "graphs": [{"name": "ring-24", "generator": "cycle_graph", "params": {"n": 24}}],
    "algorithms": ["default", {"rule": "rumor_push_pull", "mode": "synchronous"}],
    "repetitions": 3,
    "max_rounds": 40,
}


def cells(frame: pd.DataFrame) -> list[list[Any]]:
    """A frame's rows as plain values, with the dtype differences of a CSV read and a Parquet
    read taken out: a missing cell (nan, None) is None, a number is a float, a bool a bool."""

    def plain(value: Any) -> Any:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        if isinstance(value, bool) or (hasattr(value, "dtype") and value.dtype == bool):
            return bool(value)
        if isinstance(value, int | float) or hasattr(value, "dtype"):
            return float(value)
        return value

    return [[plain(v) for v in row] for row in frame.astype(object).itertuples(index=False)]


def folder_of(run: gossipsim.Results) -> Path:
    return Path(run.location)


def csv_rounds(folder: Path) -> pd.DataFrame:
    parts = sorted((folder / "rounds").glob("part-*.csv"))
    return pd.concat([pd.read_csv(part) for part in parts], ignore_index=True)


def test_the_parquet_tables_hold_the_csv_rows_with_their_types(tmp_path):
    run = gossipsim.run(SPEC, out=tmp_path)
    folder = folder_of(run)

    summary = pd.read_parquet(folder / "summary.parquet")
    rounds = pd.read_parquet(folder / "rounds.parquet")

    assert list(summary.columns) == list(pd.read_csv(folder / "summary.csv").columns)
    assert cells(summary) == cells(pd.read_csv(folder / "summary.csv"))
    assert cells(rounds) == cells(csv_rounds(folder))
    assert len(rounds) == int((summary["rounds"] + 1).sum())
    for column in ("rounds", "repetition", "seed", "graph_seed", "attempts", "graph_nodes"):
        assert summary[column].dtype == "int64", column
    assert summary["converged"].dtype == bool and summary["duration_s"].dtype == "float64"
    for column in ("round", "count", "repetition"):
        assert rounds[column].dtype == "int64", column
    for column in ("mean", "variance", "min", "max", "spread"):
        assert rounds[column].dtype == "float64", column
    assert rounds["converged"].dtype == bool
    assert run.manifest["files"][3:5] == ["summary.parquet", "rounds.parquet"]


def test_rounds_parquet_has_one_row_group_per_part_of_the_long_table(tmp_path, monkeypatch):
    monkeypatch.setattr(results, "RUNS_PER_ROUNDS_PART", 2)
    folder = folder_of(gossipsim.run(SPEC, out=tmp_path))

    parts = sorted((folder / "rounds").glob("part-*.csv"))
    stored = pq.ParquetFile(folder / "rounds.parquet")

    assert len(parts) == 3  # six runs, two per part
    assert stored.metadata.num_row_groups == 3
    assert [stored.metadata.row_group(i).num_rows for i in range(3)] == [
        len(pd.read_csv(part)) for part in parts
    ]
    assert cells(stored.read().to_pandas()) == cells(csv_rounds(folder))


def test_a_long_table_above_the_cap_gets_no_rounds_parquet(tmp_path, monkeypatch):
    monkeypatch.setattr(parquet, "ROUNDS_PARQUET_MAX_ROWS", 10)
    run = gossipsim.run(SPEC, out=tmp_path)
    folder = folder_of(run)

    assert not (folder / "rounds.parquet").exists()
    assert (folder / "summary.parquet").is_file()
    assert "rounds.parquet" not in run.manifest["files"]
    assert "summary.parquet" in run.manifest["files"]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([True, False, ""], pa.bool_()),
        ([1, 2, None], pa.int64()),
        ([1, 2.5, ""], pa.float64()),
        ([1, "a"], pa.string()),
        (["1", "2"], pa.string()),  # text stays text: types come from the values, not guesses
        (["", None], pa.string()),
    ],
)
def test_a_column_takes_the_narrowest_type_of_its_values(values, expected):
    assert parquet.column_type(values) == expected


def test_cells_escaped_for_spreadsheets_are_stored_as_they_were():
    columns = ["run_id", "graph", "round", "converged"]
    schema = parquet.rounds_schema(columns, [])
    table = parquet.RoundsParquet(schema)
    rows = [["r0", results.spreadsheet_safe("=evil()"), 0, ""], ["r0", "-0.5", 1, True]]

    passed = list(table.recording(rows))
    table.end_part()
    stored = pq.read_table(pa.BufferReader(table.finish())).to_pylist()

    assert passed == rows  # handed on as they came (the CSV keeps its escapes)
    assert stored == [
        {"run_id": "r0", "graph": "=evil()", "round": 0, "converged": None},
        {"run_id": "r0", "graph": "-0.5", "round": 1, "converged": True},
    ]
