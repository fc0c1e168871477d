"""Copying a simulation's results out of the object store: ``gossipsim results SIM --out DIR``,
or ``gossipsim results --latest NAME`` for the simulation of that name that completed last.

The layout is the collector's contract (``gossipsim.common.contracts.results_layout``).
Everything under ``simulations/<sim>/`` is copied to ``DIR/<sim>/`` with the same relative
paths (summary.csv, averaged.csv, the long table's rounds/part-*.csv, manifest.json,
submitted.json, runs/<run>/result.json and rounds.jsonl, and whatever the collector adds
later, such as plots), except the raw telemetry under ``runs/<run>/parts/``: rounds.jsonl is
assembled from it, so it only doubles the size.

The manifest is the collector's last write, so a simulation without one has not completed
and nothing is copied: a half-written set of tables is worse than none.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from gossipsim.common.contracts import results_layout as layout
from gossipsim.common.contracts.status_document import check_simulation_id
from gossipsim.common.errors import GossipsimError
from gossipsim.common.storage.store import ObjectNotFound, ObjectStore, check_key

CONCURRENT_GETS = 8  # below the S3 client's connection pool of 10


class NotCompleted(GossipsimError):
    """The simulation has no manifest yet; ``known`` says whether any of its results exist."""

    def __init__(self, simulation_id: str, *, known: bool) -> None:
        self.simulation_id = simulation_id
        self.known = known
        super().__init__(
            f"simulation {simulation_id!r} has not completed: its results have no manifest yet"
            if known
            else f"no results of a simulation {simulation_id!r} in the store"
        )


class DestinationError(GossipsimError):
    """A local file could not be written."""


class NoLatest(GossipsimError):
    """No simulation of the name has completed (the store has no ``latest`` pointer of it)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Fetched:
    directory: Path
    files: int
    skipped: list[str]  # keys that are no safe relative path (not written anywhere)


def simulation_prefix(simulation_id: str) -> str:
    """The simulation's key prefix; ValueError for an id that cannot be one key segment."""
    check_simulation_id(simulation_id)
    prefix = layout.simulation_prefix(simulation_id)
    check_key(prefix.rstrip("/"))
    return prefix


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.partial")
    temporary.write_bytes(data)
    temporary.replace(path)  # a reader never sees half a file, even over an older copy


async def latest_simulation(store: ObjectStore, name: str) -> str:
    """The id of the simulation named ``name`` that completed last (its ``latest`` pointer,
    which the collector writes after the manifest); NoLatest when there is none."""
    try:
        pointer = layout.parse_latest_pointer(await store.get(layout.latest_key(name)))
    except ObjectNotFound:
        pointer = None
    if pointer is None:
        raise NoLatest(
            f"no completed simulation named {name!r}: the store has no readable"
            f" {layout.latest_key(name)}"
        )
    return pointer["simulation_id"]


async def fetch_results(store: ObjectStore, simulation_id: str, out_dir: Path) -> Fetched:
    """Copy the results to ``out_dir/<simulation_id>/``; NotCompleted without a manifest."""
    prefix = simulation_prefix(simulation_id)
    keys = await store.list(prefix)
    manifest_key = layout.simulation_key(simulation_id, layout.MANIFEST)
    if manifest_key not in keys:
        raise NotCompleted(simulation_id, known=bool(keys))
    directory = out_dir / simulation_id
    copies: list[tuple[str, Path]] = []
    skipped = []
    for key in keys:
        relative = key.removeprefix(prefix)
        try:
            check_key(relative)  # the bucket may hold keys written by others than gossipsim
        except ValueError:
            skipped.append(key)
            continue
        if not layout.is_telemetry_part(relative):
            copies.append((key, directory.joinpath(*relative.split("/"))))
    limit = asyncio.Semaphore(CONCURRENT_GETS)

    async def copy(key: str, path: Path) -> None:
        async with limit:
            data = await store.get(key)
        try:
            await asyncio.to_thread(_write, path, data)
        except OSError as error:
            raise DestinationError(f"cannot write {path}: {error}") from error

    # The manifest last: a copy that has it is complete, as in the store.
    manifest = [c for c in copies if c[0] == manifest_key]
    await asyncio.gather(*(copy(key, path) for key, path in copies if (key, path) not in manifest))
    for key, path in manifest:
        await copy(key, path)
    return Fetched(directory=directory, files=len(copies), skipped=skipped)
