"""A run's sampled vertex values (its history) as arrays, and as runs/<run>/history.parquet.

The runner samples the values of chosen vertices every ``history_every`` rounds and sends them
in the round telemetry: a sampled round's line in rounds.jsonl carries ``history``, the values
of the sampled vertices in ascending vertex order (the runner samples ``np.unique`` of the
plan's ``history_vertices``, or every vertex). :func:`history_from_lines` gathers those lines
into one :class:`RunHistory`, which the per-run files are drawn from: history.parquet here, and
graph.gexf, the frames and the animation (gexf.py, frames.py).

history.parquet is a long table, one row per sampled round × vertex (round-major): the same
shape for every run, so a reader can concatenate the runs' tables or filter a vertex without
knowing how many vertices were sampled.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from gossipsim.common.errors import InvalidInput

__all__ = ["RunHistory", "check_vertices", "history_from_lines", "history_parquet"]

_COMPRESSION = "zstd"  # as the simulation's tables (parquet.py)


@dataclass(frozen=True, slots=True, eq=False)  # eq: arrays have no single truth value
class RunHistory:
    """The sampled values of one run: ``values[i, j]`` is vertex ``vertices[j]``'s value after
    round ``rounds[i]`` (nan where the run reported none)."""

    run_id: str
    rounds: npt.NDArray[np.int64]  # ascending sampled rounds
    vertices: npt.NDArray[np.int64]  # ascending sampled vertex ids
    values: npt.NDArray[np.float64]  # shape (len(rounds), len(vertices))

    def __post_init__(self) -> None:
        for name, kind in (("rounds", np.int64), ("vertices", np.int64), ("values", np.float64)):
            array = getattr(self, name)
            if not isinstance(array, np.ndarray) or array.dtype != kind:
                raise InvalidInput(f"must be a numpy array of {np.dtype(kind)}", field=name)
        if self.rounds.ndim != 1 or self.vertices.ndim != 1:
            raise InvalidInput("rounds and vertices must be one-dimensional", field="history")
        expected = (len(self.rounds), len(self.vertices))
        if self.values.shape != expected:
            raise InvalidInput(
                f"must have shape {expected} (rounds × vertices), got {self.values.shape}",
                field="values",
            )
        for name in ("rounds", "vertices"):
            if np.any(np.diff(getattr(self, name)) <= 0):
                raise InvalidInput("must be strictly ascending", field=name)


def history_from_lines(
    run_id: str,
    lines: Iterable[Mapping[str, Any]],
    vertices: Sequence[int] | npt.NDArray[np.int64] | None,
) -> RunHistory | None:
    """The history in a run's telemetry lines (rounds.jsonl's: ``round`` and, on sampled
    rounds, ``history``), or None when no line has one.

    ``vertices`` are the sampled ids as the plan names them (``history_vertices``): taken
    sorted and without repeats, as the runner samples them; None means every vertex, as many
    as a history holds values. A value the telemetry sent as null (JSON has no nan) is nan. A
    round present twice (a batch delivered again) counts once, its last line.
    """
    by_round: dict[int, list[Any]] = {}
    for line in lines:
        sample = line.get("history")
        if sample is not None:
            by_round[int(line["round"])] = list(sample)
    if not by_round:
        return None
    rounds = sorted(by_round)
    width = len(by_round[rounds[0]])
    ids = (
        np.arange(width, dtype=np.int64)
        if vertices is None
        else np.unique(np.asarray(vertices, dtype=np.int64))
    )
    for r in rounds:
        if len(by_round[r]) != len(ids):
            raise InvalidInput(
                f"round {r} of run {run_id} holds {len(by_round[r])} values, expected one per"
                f" sampled vertex ({len(ids)}); the telemetry and the plan's history_vertices"
                " disagree",
                field="history",
            )
    values = np.array([by_round[r] for r in rounds], dtype=np.float64).reshape(
        len(rounds), len(ids)
    )
    return RunHistory(
        run_id=run_id,
        rounds=np.asarray(rounds, dtype=np.int64),
        vertices=ids,
        values=values,
    )


def history_parquet(history: RunHistory) -> bytes:
    """history.parquet: columns run (string), round (int64), vertex (int64), value (float64),
    one row per sampled round × vertex, round-major (a round's rows together, by vertex)."""
    rows = history.values.size
    table = pa.table(
        {
            "run": pa.repeat(pa.scalar(history.run_id, type=pa.string()), rows),
            "round": pa.array(np.repeat(history.rounds, len(history.vertices)), type=pa.int64()),
            "vertex": pa.array(np.tile(history.vertices, len(history.rounds)), type=pa.int64()),
            "value": pa.array(history.values.reshape(-1), type=pa.float64()),
        }
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression=_COMPRESSION)
    return buffer.getvalue()


def check_vertices(history: RunHistory, n: int) -> None:
    """Raise InvalidInput unless every vertex ``history`` sampled is one of the drawing's
    ``n``: the history and the drawing arrive in separate messages."""
    if len(history.vertices) and not (history.vertices[0] >= 0 and history.vertices[-1] < n):
        raise InvalidInput(
            f"run {history.run_id} sampled vertices {int(history.vertices[0])}.."
            f"{int(history.vertices[-1])}, but its graph's drawing has vertices 0..{n - 1}",
            field="history.vertices",
        )
