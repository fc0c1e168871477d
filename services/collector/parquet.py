"""summary.parquet and rounds.parquet: the CSV tables again, with types.

A CSV cell is text, and a reader has to guess what it was: ``"1"`` an int, ``"True"`` a bool,
an empty cell a missing value. Parquet keeps the types the collector had, so
``pandas.read_parquet`` gives ints, floats and bools without guessing, and reads a large long
table column by column, far faster than the CSV parts.

Each column's type is decided from the Python values the tables are built from
(:func:`column_type`); an empty cell (``""`` or None, what the CSV writes as an empty cell) is
a null. The long table's types are decided before its first row is written (a Parquet file has
one schema): its run columns (graph, algorithm, ``param_<name>``, repetition, graph_seed) carry
the same values as summary.csv's, so they are typed from the summary's rows; the round columns
are fixed. Cells that results.spreadsheet_safe escaped for spreadsheets are unescaped, as
``gossipsim.load_results`` unescapes them: Parquet is not opened by a spreadsheet.

rounds.parquet is written part by part with one row group per part of the CSV long table,
holding one part's rows at a time; the file itself is assembled in memory (the object store
takes whole objects), so a long table above :data:`ROUNDS_PARQUET_MAX_ROWS` rows gets no
rounds.parquet (the CSV parts are always written).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

ROUNDS_PARQUET_MAX_ROWS = 10_000_000
"""The most rows rounds.parquet holds: about 50 parts of the CSV long table and some 300 MB of
compressed Parquet held in the collector's memory before it is stored. A larger sweep is read
from the CSV parts, part by part."""

_STRING_COLUMNS = frozenset({"simulation_id", "run_id", "graph", "algorithm", "status", "error"})
_ROUND_TYPES = {
    "round": pa.int64(),
    "count": pa.int64(),
    "mean": pa.float64(),
    "variance": pa.float64(),
    "min": pa.float64(),
    "max": pa.float64(),
    "sum": pa.float64(),
    "mass": pa.float64(),
    "weight": pa.float64(),
    "spread": pa.float64(),
    "converged": pa.bool_(),
}
_ESCAPED = ("'=", "'+", "'-", "'@", "'\t", "'\r")  # results.spreadsheet_safe's escapes
_COMPRESSION = "zstd"


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value == "")


def column_type(values: Iterable[Any]) -> pa.DataType:
    """The narrowest of bool, int64, float64 and string that holds every non-missing value
    (judged by Python type: the text ``"1"`` stays a string). A column of missing values only
    is a string column of nulls."""
    kinds = {type(value) for value in values if not _missing(value)}
    if kinds == {bool}:
        return pa.bool_()
    if kinds == {int}:
        return pa.int64()
    if kinds and kinds <= {int, float}:
        return pa.float64()
    return pa.string()


def _unescaped(value: Any) -> Any:
    return value[1:] if isinstance(value, str) and value.startswith(_ESCAPED) else value


def _array(values: Sequence[Any], kind: pa.DataType) -> pa.Array:
    if pa.types.is_string(kind):
        cells = [None if _missing(v) else str(_unescaped(v)) for v in values]
    else:
        cells = [None if _missing(v) else v for v in values]
    return pa.array(cells, type=kind)


def _parquet(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression=_COMPRESSION)
    return buffer.getvalue()


def table_parquet(columns: list[str], rows: list[dict[str, Any]]) -> bytes:
    """A table of dict rows (summary.csv's) as Parquet, each column typed by its values."""
    arrays = []
    for column in columns:
        values = [row.get(column) for row in rows]
        arrays.append(_array(values, column_type(values)))
    return _parquet(pa.Table.from_arrays(arrays, names=columns))


def rounds_schema(columns: list[str], summary_rows: list[dict[str, Any]]) -> pa.Schema:
    """The long table's schema: round columns fixed, run columns typed as summary.csv's."""
    fields = []
    for column in columns:
        if column in _ROUND_TYPES:
            kind = _ROUND_TYPES[column]
        elif column in _STRING_COLUMNS:
            kind = pa.string()
        else:
            kind = column_type(row.get(column) for row in summary_rows)
        fields.append(pa.field(column, kind))
    return pa.schema(fields)


class RoundsParquet:
    """rounds.parquet, built part by part: :meth:`recording` passes a part's rows on (to the
    CSV writer) while keeping their cells by column, :meth:`end_part` writes them as one row
    group and lets them go, :meth:`finish` gives the file's bytes."""

    def __init__(self, schema: pa.Schema) -> None:
        self._schema = schema
        self._buffer = io.BytesIO()
        self._writer = pq.ParquetWriter(self._buffer, schema, compression=_COMPRESSION)
        self._columns: list[list[Any]] = [[] for _ in schema.names]

    def recording(self, rows: Iterable[list[Any]]) -> Iterator[list[Any]]:
        for row in rows:
            for cells, value in zip(self._columns, row, strict=True):
                cells.append(value)
            yield row

    def end_part(self) -> None:
        arrays = [
            _array(cells, field.type)
            for cells, field in zip(self._columns, self._schema, strict=True)
        ]
        table = pa.Table.from_arrays(arrays, schema=self._schema)
        self._writer.write_table(table, row_group_size=max(1, table.num_rows))
        self._columns = [[] for _ in self._schema.names]

    def finish(self) -> bytes:
        self._writer.close()
        return self._buffer.getvalue()
