"""The ``graphs`` of a spec: every graph source checked by building it, then dropped.

Building is the only complete check of a source (a file may be corrupt on line 90,000), and a
simulation builds its graphs anyway; each graph is released before the next one is built, so
checking a series of large graphs needs the memory of one. What the spec keeps is a
:class:`GraphEntry`: the name, a JSON-able source that builds the graph again anywhere (paths
made absolute), and the two facts the other checks need.

Besides the forms of :func:`~gossipsim.common.graphs.sources.load_graph`, an item may be
``{resources: DIR_OR_GLOB, selector: {label: value}}``: every seed ``kind: Graph`` file there
whose labels match, one graph each, named by its ``metadata.name``.

Every file is read as the caller's :class:`~gossipsim.common.graphs.inputs.GraphInputs`
allows (in a service: only inside the operator's roots; ``object`` sources from what was
fetched from the store), and the same policy applies again where a runner builds the graph.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gossipsim.common.errors import GraphError, InvalidInput
from gossipsim.common.graphs.graph import Graph
from gossipsim.common.graphs.inputs import LOCAL_INPUTS, GraphInputs
from gossipsim.common.graphs.limits import GraphLimits
from gossipsim.common.graphs.runnable import check_runnable, connectivity_warning
from gossipsim.common.graphs.source_generator import takes_seed
from gossipsim.common.graphs.sources import find_seed_graphs, load_graph
from gossipsim.common.spec.checks import Problems, check_keys, check_list, get, refield, safe_id
from gossipsim.common.spec.sweeps import MAX_GRAPH_CONFIGURATIONS, expand_graph_item

__all__ = ["GraphEntry", "GraphList", "parse_graphs"]


@dataclass(frozen=True, slots=True, kw_only=True)
class GraphEntry:
    """One graph: its name, a ``load_graph`` source that builds it again, and what checks need."""

    name: str
    source: dict[str, Any]
    vertices: int
    has_values: bool  # whether it brings initial values (the seed's valueList)
    sweep: dict[str, Any] = field(default_factory=dict)  # the swept values that made it
    random: bool = False  # drawn by a generator from its seed: another seed, another graph


@dataclass(frozen=True, slots=True, kw_only=True)
class GraphList:
    """The checked graphs, and what a user should know about them before the runs start."""

    entries: tuple[GraphEntry, ...]
    warnings: tuple[str, ...]


def parse_graphs(
    raw: object,
    *,
    base_dir: Path | None,
    limits: GraphLimits,
    shards: int = 1,
    inputs: GraphInputs = LOCAL_INPUTS,
) -> GraphList:
    """Check every item of ``graphs``: it builds, gossip can run on it (split into ``shards``),
    and names stay distinct as parts of run ids. A generator item with lists among its numbers
    is a sweep (:mod:`.sweeps`): one graph per combination. ``inputs`` says which files may
    be read. Every item is checked, and the problems of all are reported together."""
    items = check_list(raw, "graphs", "graph sources")
    entries: dict[str, GraphEntry] = {}
    warnings: list[str] = []
    problems = Problems()
    for index, item in enumerate(items):
        path = f"graphs[{index}]"
        try:
            for source, sweep, field_, load_dir in _sources(item, base_dir, path, inputs):
                graph = load_graph(
                    source, limits=limits, base_dir=load_dir, field=field_, inputs=inputs
                )
                check_runnable(graph, field=field_, shards=shards)
                warning = connectivity_warning(graph, field=field_)
                if warning:
                    warnings.append(warning)
                _add(entries, graph, source, sweep, base_dir, path)
                if len(entries) > MAX_GRAPH_CONFIGURATIONS:
                    raise InvalidInput(
                        f"the graphs expand to more than {MAX_GRAPH_CONFIGURATIONS:,} graphs"
                        " (each is built when the spec is checked); sweep fewer values",
                        field=path,
                    )
        except InvalidInput as error:
            problems.add(error)
    problems.raise_any()
    return GraphList(entries=tuple(entries.values()), warnings=tuple(warnings))


def _sources(
    item: object, base_dir: Path | None, path: str, inputs: GraphInputs
) -> Iterable[tuple[Any, dict[str, Any], str, Path | None]]:
    """Each graph source of one item (with the swept values that made it, the field its
    errors are reported at and the folder its relative paths start from)."""
    if isinstance(item, Mapping) and "resources" in item:
        for resource in _resource_sources(item, base_dir, path, inputs):
            yield resource, {}, f"{path}.resources", None
        return
    for one, sweep in expand_graph_item(item, path):
        yield one, sweep, path, base_dir


def _add(
    entries: dict[str, GraphEntry],
    graph: Graph,
    source: Any,
    sweep: dict[str, Any],
    base_dir: Path | None,
    path: str,
) -> None:
    key = safe_id(graph.name)
    if key in entries:
        raise InvalidInput(
            f"graph name {graph.name!r} is taken by another graph (names must differ"
            " after characters outside A-Za-z0-9._=- become '-'); give one a name",
            field=path,
        )
    generator = source.get("generator") if isinstance(source, Mapping) else None
    entries[key] = GraphEntry(
        name=graph.name,
        source=_portable(source, base_dir, path),
        vertices=graph.n,
        has_values=graph.initial_values is not None,
        sweep=sweep,
        random=isinstance(generator, str) and takes_seed(generator),
    )


def _resource_sources(
    item: Mapping[str, Any], base_dir: Path | None, path: str, inputs: GraphInputs
) -> Iterable[dict[str, Any]]:
    """A ``resource`` source per matching seed Graph file under a directory or glob."""
    check_keys(item, ("resources", "selector"), path)
    target, selector = item["resources"], get(item, "selector", {})
    if not isinstance(target, str) or not target:
        raise InvalidInput(
            "must be a directory or glob of seed Graph resources, got"
            f" {'an empty string' if target == '' else f'a {type(target).__name__}'}",
            field=f"{path}.resources",
        )
    if not isinstance(selector, Mapping):
        raise InvalidInput(
            f"must map label names to values, got a {type(selector).__name__}",
            field=f"{path}.selector",
        )
    labels = {str(key): str(value) for key, value in selector.items()}
    where = _joined(target, base_dir)
    try:
        files = find_seed_graphs(where, labels, inputs=inputs, field=f"{path}.resources")
    except GraphError as exc:
        raise refield(exc, f"{path}.resources") from exc
    if not files:
        wanted = f" with labels {labels}" if labels else ""
        raise InvalidInput(
            f"selects no Graph resource: none under {where}{wanted}",
            field=f"{path}.selector" if labels else f"{path}.resources",
        )
    return ({"resource": str(Path(file).resolve())} for file in files)


def _joined(raw: str, base_dir: Path | None) -> str:
    """A path as ``load_graph`` takes it: relative ones from ``base_dir``, when there is one."""
    path = Path(raw).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    return str(path)


def _absolute(raw: str, base_dir: Path | None) -> str:
    """A path as ``load_graph`` resolves it (from ``base_dir``), made absolute; globs kept."""
    path = Path(_joined(raw, base_dir))
    return str(path.absolute()) if any(c in raw for c in "*?[") else str(path.resolve())


def _portable(item: Mapping[str, Any], base_dir: Path | None, path: str) -> dict[str, Any]:
    """The source with its file path made absolute, so any process can load it again."""
    source = dict(item)
    for key in ("file", "resource"):
        if isinstance(source.get(key), str):
            source[key] = _absolute(source[key], base_dir)
    try:
        json.dumps(source)
    except (TypeError, ValueError):
        raise InvalidInput(
            "must hold only JSON values (strings, numbers, lists, mappings)", field=path
        ) from None
    return source
