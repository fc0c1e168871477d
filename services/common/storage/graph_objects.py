"""Graph objects: the ``{object: graphs/…}`` sources of a spec, fetched from the object store.

A deployment's services read no local files by default (``GOSSIPSIM_GRAPH_ROOTS`` is empty):
graphs that are not generated or inline come from the object store the services already use,
under ``graphs/``. Graph sources are built by synchronous code (and the spec check may run in
another process), so the objects a spec names are fetched first, each into a file under a
temporary directory, and the builder finds them in
:attr:`~gossipsim.common.graphs.inputs.GraphInputs.objects` by key.

:func:`fetched_graph_inputs` is what the scheduler and the runner call around building: it
fetches what a spec (or a run plan's one source) names, yields the caller's inputs with those
objects added, and removes the files afterwards. Keys are checked before the store is asked
(:func:`~gossipsim.common.graphs.inputs.check_object_key`): a spec can reach neither results,
status documents nor anything outside ``graphs/``. An object over the byte cap is refused:
the store interface has no size query, so the object is read whole and then measured.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from gossipsim.common.errors import GraphError
from gossipsim.common.graphs.inputs import GraphInputs, check_object_key
from gossipsim.common.storage.store import ObjectNotFound, ObjectStore

__all__ = ["fetch_graph_objects", "fetched_graph_inputs", "graph_object_keys"]


def graph_object_keys(spec_or_source: object, field: str = "graph") -> dict[str, str]:
    """The object keys a spec's ``graphs`` (or one source mapping) name, each checked, with
    the field it came from. A seed ``Simulation`` or a spec without objects names none."""
    found: dict[str, str] = {}
    for item, where in _graph_items(spec_or_source, field):
        if isinstance(item, Mapping) and "object" in item:
            key = check_object_key(item["object"], field=f"{where}.object")
            found.setdefault(key, f"{where}.object")
    return found


async def fetch_graph_objects(
    spec_or_sources: object,
    store: ObjectStore,
    dest: Path,
    *,
    max_bytes: int,
    field: str = "graph",
) -> dict[str, Path]:
    """Fetch every graph object the spec names into ``dest``; key -> local file.

    :class:`GraphError` naming the field (``graphs[i].object``, or ``field.object`` for a single
    source) for an invalid key, a missing object or one larger than ``max_bytes``.
    """
    fetched: dict[str, Path] = {}
    for key, where in graph_object_keys(spec_or_sources, field).items():
        fetched[key] = await _fetch(store, key, dest, max_bytes=max_bytes, field=where)
    return fetched


@asynccontextmanager
async def fetched_graph_inputs(
    spec_or_source: object,
    inputs: GraphInputs,
    store: ObjectStore | None,
    *,
    field: str = "graph",
) -> AsyncIterator[GraphInputs]:
    """``inputs`` with the graph objects the spec names fetched, for as long as it is held;
    ``field`` names a single source (a run plan's) in errors.

    Nothing is fetched (and no directory made) for a spec without object sources; one with
    them and no store is refused.
    """
    keys = graph_object_keys(spec_or_source, field)
    if not keys:
        yield inputs
        return
    if store is None:
        raise GraphError(
            "object sources need an object store, and this process has none",
            field=next(iter(keys.values())),
        )
    directory = Path(tempfile.mkdtemp(prefix="gossipsim-graphs-"))
    try:
        objects = await fetch_graph_objects(
            spec_or_source, store, directory, max_bytes=inputs.max_file_bytes, field=field
        )
        yield inputs.with_objects(objects)
    finally:
        await asyncio.to_thread(shutil.rmtree, directory, True)


async def _fetch(store: ObjectStore, key: str, dest: Path, *, max_bytes: int, field: str) -> Path:
    try:
        data = await store.get(key)
    except ObjectNotFound:
        raise GraphError(
            f"no object {key} in the store; upload the graph file there under that key"
            " (for S3: aws s3 cp FILE s3://BUCKET/PREFIX/graphs/…) and submit again",
            field=field,
        ) from None
    if len(data) > max_bytes:
        raise GraphError(
            f"object {key} is larger than {max_bytes:,} bytes; raise GOSSIPSIM_MAX_FILE_BYTES"
            " if the machine has the memory",
            field=field,
        )
    target = dest.joinpath(*key.split("/"))  # a checked key: relative, no '..'
    await asyncio.to_thread(_write, target, data)
    return target


def _write(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)


def _graph_items(spec_or_source: object, field: str) -> Iterator[tuple[Any, str]]:
    """The graph sources of a native spec (``graphs[i]``), or the one source given."""
    if isinstance(spec_or_source, Mapping) and isinstance(spec_or_source.get("graphs"), list):
        for index, item in enumerate(spec_or_source["graphs"]):
            yield item, f"graphs[{index}]"
    elif isinstance(spec_or_source, Mapping):
        yield spec_or_source, field
    elif isinstance(spec_or_source, list):
        for index, item in enumerate(spec_or_source):
            yield item, f"graphs[{index}]"
