"""A completed simulation's results as pandas DataFrames: ``gossipsim.load_results``.

The results layout (``gossipsim.common.contracts.results_layout``, docs/results.md) is read
through the object store interface, so a results directory and an ``s3://`` store are read by
the same code. ``location`` is one of:

- a simulation's folder: ``results/simulations/quickstart-9c61b0f2ec``, or a copy that
  ``gossipsim results`` made;
- a store root: a directory such as ``results`` (what ``gossipsim run --out`` wrote) or
  ``s3://bucket/prefix`` (a deployment's ``GOSSIPSIM_STORE``, with ``GOSSIPSIM_S3_ENDPOINT``
  and the usual AWS credentials from the environment, as ``gossipsim results`` uses them).
  The simulation is the one the ``latest`` pointers name: of ``name`` when it is given, else
  the one that completed last of any name. ``s3://bucket/prefix/simulations/<id>`` names one.

Only completed simulations are read: without its manifest (the collector's last write) a
simulation's tables are not final, and :class:`NotCompleted` says so. CSV cells that the
collector escaped for spreadsheets (a leading ``'`` before ``=``, ``+``, ``-``, ``@``, a tab or
a carriage return) are given back as they were.
"""

from __future__ import annotations

import io
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pandas as pd

from gossipsim.api.blocking import run_blocking
from gossipsim.common.contracts import results_layout as layout
from gossipsim.common.errors import GossipsimError, InvalidInput
from gossipsim.common.runtime.variables import S3_ENDPOINT_VAR
from gossipsim.common.spec.ids import check_simulation_id
from gossipsim.common.storage.local_store import LocalDirectoryStore
from gossipsim.common.storage.store import ObjectNotFound, ObjectStore

__all__ = [
    "NotCompleted",
    "Results",
    "ResultsNotFound",
    "load_results",
    "load_results_async",
]

Location = str | os.PathLike[str]
_ESCAPED = ("'=", "'+", "'-", "'@", "'\t", "'\r")  # results.spreadsheet_safe's escapes
_SIMULATION_MARKERS = (layout.MANIFEST, layout.SUMMARY, layout.SUBMITTED, layout.RUNS)
_STORE_MARKERS = (layout.SIMULATIONS, layout.LATEST)


class ResultsNotFound(GossipsimError):
    """No results where they were looked for (no such folder, no simulation of that name)."""


class NotCompleted(GossipsimError):
    """The simulation has results but no manifest: it has not completed yet."""


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Results:
    """A completed simulation's tables (docs/results.md): ``summary`` (one row per run),
    ``averaged`` (one row per configuration), ``rounds`` (the long table: one row per run and
    round) and its ``manifest``. ``location`` is its folder (a path or an s3:// URL)."""

    simulation_id: str
    location: str
    manifest: dict[str, Any]
    summary: pd.DataFrame = field(repr=False)
    averaged: pd.DataFrame = field(repr=False)
    rounds: pd.DataFrame = field(repr=False)
    warnings: tuple[str, ...] = ()  # the spec check's, when this process ran it (gossipsim.run)

    @property
    def name(self) -> str:
        return str(self.manifest.get("name", ""))

    @property
    def runs_failed(self) -> int:
        return int(self.manifest.get("runs_failed", 0))

    def __repr__(self) -> str:
        return (
            f"Results({self.simulation_id!r}, runs={len(self.summary)},"
            f" failed={self.runs_failed}, configurations={len(self.averaged)},"
            f" rounds={len(self.rounds)} rows, location={self.location!r})"
        )


def load_results(location: Location, name: str | None = None, *, rounds: bool = True) -> Results:
    """The results at ``location`` (see the module docstring); ``rounds=False`` leaves the long
    table empty, for a sweep whose rounds would not fit in memory. Works inside a running
    event loop too (a notebook), where it reads on a worker thread."""
    return run_blocking(lambda: load_results_async(location, name, rounds=rounds))


async def load_results_async(
    location: Location, name: str | None = None, *, rounds: bool = True
) -> Results:
    """:func:`load_results` for code that runs in an event loop and can await."""
    async with _open(location) as (store, prefix, shown):
        if prefix is None:
            prefix = await _latest_prefix(store, name, shown)
        return await _read(store, prefix, name=name, rounds=rounds)


# -- where the results are ------------------------------------------------------------------


@asynccontextmanager
async def _open(location: Location) -> AsyncIterator[tuple[ObjectStore, str | None, str]]:
    """The store, the simulation's key prefix (None: a store root, to resolve by pointer),
    and the location as the user gave it, for messages."""
    text = os.fspath(location)
    if text.startswith("s3://"):
        async with _open_s3(text) as opened:
            yield opened
        return
    path = Path(text).expanduser()
    if not path.is_dir():
        raise ResultsNotFound(f"no results at {text}: not a directory")
    if any((path / marker.rstrip("/")).exists() for marker in _SIMULATION_MARKERS):
        yield LocalDirectoryStore(path), "", text
    elif any((path / folder.rstrip("/")).is_dir() for folder in _STORE_MARKERS):
        yield LocalDirectoryStore(path), None, text
    else:
        raise ResultsNotFound(
            f"{text} is neither a simulation's results folder (with manifest.json) nor a"
            " results store (with simulations/): pass what `gossipsim run --out` wrote to,"
            " or a folder under its simulations/"
        )


@asynccontextmanager
async def _open_s3(url: str) -> AsyncIterator[tuple[ObjectStore, str | None, str]]:
    from gossipsim.common.storage.s3_store import S3ObjectStore, parse_s3_url

    try:
        bucket, prefix = parse_s3_url(url)
        endpoint = S3_ENDPOINT_VAR.read(os.environ)
    except ValueError as error:
        raise InvalidInput(str(error), field="location") from None
    segments = prefix.rstrip("/").split("/") if prefix else []
    simulation: str | None = None
    if len(segments) >= 2 and f"{segments[-2]}/" == layout.SIMULATIONS:
        simulation = check_simulation_id(segments[-1], field="location")
        segments = segments[:-2]
    root = f"s3://{bucket}/{'/'.join(segments)}".rstrip("/")
    async with S3ObjectStore.open(
        root, endpoint_url=endpoint, max_attempts=3, create_bucket=False
    ) as store:
        yield store, layout.simulation_prefix(simulation) if simulation else None, url


async def _latest_prefix(store: ObjectStore, name: str | None, shown: str) -> str:
    """The prefix of the simulation the ``latest`` pointers name (of ``name``, or of any)."""
    if name is not None:
        try:
            pointer = layout.parse_latest_pointer(await store.get(layout.latest_key(name)))
        except ObjectNotFound:
            known = sorted(p["name"] for p in await _pointers(store))
            listed = f" Completed names there: {', '.join(known)}." if known else ""
            raise ResultsNotFound(
                f"no completed simulation named {name!r} in {shown}.{listed}"
            ) from None
        if pointer is None:
            raise ResultsNotFound(f"the latest pointer of {name!r} in {shown} is unreadable")
    else:
        pointers = await _pointers(store)
        if not pointers:
            raise ResultsNotFound(
                f"no completed simulation in {shown}: it has no latest/ pointers (the collector"
                " writes one per name when a simulation completes). Pass a simulation's folder,"
                f" {shown}/simulations/<id>, to read one"
            )
        pointer = max(pointers, key=layout.completion_time)
    return layout.simulation_prefix(pointer["simulation_id"])


async def _pointers(store: ObjectStore) -> list[layout.LatestPointer]:
    """Every readable pointer under latest/ (an unreadable one is skipped, not fatal)."""
    found = []
    for key in await store.list(layout.LATEST):
        try:
            pointer = layout.parse_latest_pointer(await store.get(key))
        except ObjectNotFound:
            continue
        if key.endswith(".json") and pointer is not None:
            found.append(pointer)
    return found


# -- reading them ---------------------------------------------------------------------------


async def _read(store: ObjectStore, prefix: str, *, name: str | None, rounds: bool) -> Results:
    where = _location(store, prefix)
    try:
        manifest = orjson.loads(await store.get(prefix + layout.MANIFEST))
    except ObjectNotFound:
        if await store.list(prefix):
            raise NotCompleted(
                f"the simulation at {where} has not completed: it has no manifest.json yet"
                " (the collector writes it last, once every run is done)"
            ) from None
        raise ResultsNotFound(f"no results at {where}") from None
    if not isinstance(manifest, dict):
        raise ResultsNotFound(f"the manifest at {where} is not a JSON object")
    named = str(manifest.get("name", ""))
    if name is not None and layout.name_slug(named) != layout.name_slug(name):
        raise InvalidInput(
            f"the simulation at {where} is named {named!r}, not {name!r}",
            field="name",
        )
    parts = [f for f in manifest.get("files", []) if layout.is_rounds_part(str(f))]
    frames = [await _table(store, prefix + part) for part in parts] if rounds else []
    return Results(
        simulation_id=str(manifest.get("simulation_id", "")),
        location=where,
        manifest=manifest,
        summary=await _table(store, prefix + layout.SUMMARY),
        averaged=await _table(store, prefix + layout.AVERAGED),
        rounds=pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(),
    )


def _location(store: ObjectStore, prefix: str) -> str:
    if isinstance(store, LocalDirectoryStore) and not prefix:
        return str(store.root)
    return store.location(prefix.rstrip("/"))


async def _table(store: ObjectStore, key: str) -> pd.DataFrame:
    return read_table(await store.get(key))


def read_table(data: bytes) -> pd.DataFrame:
    """One of the collector's CSV tables as a DataFrame, spreadsheet escapes removed."""
    frame = pd.read_csv(io.BytesIO(data))
    frame.columns = pd.Index([_unescaped(column) for column in frame.columns])
    for column in frame.columns:
        series = frame[column]
        if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
            continue
        escaped = series.map(lambda value: isinstance(value, str) and value.startswith(_ESCAPED))
        if escaped.any():
            frame[column] = series.map(_unescaped)
    return frame


def _unescaped(value: Any) -> Any:
    return value[1:] if isinstance(value, str) and value.startswith(_ESCAPED) else value
