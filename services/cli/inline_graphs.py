"""A spec with its local graph files inline: what ``gossipsim submit`` publishes.

A spec's ``file``, ``resource`` and ``resources`` sources name files on the user's machine,
relative to the spec's folder, and ``gossipsim run`` reads them there. A deployment's services
read no local files (``GOSSIPSIM_GRAPH_ROOTS`` is empty by default), and their file system is
not the user's anyway, so the same spec submitted as written would mean something else or
nothing. Here every such source is read where the paths mean what the user meant, built, and
replaced by the graph as built in the ``edges`` form
(:mod:`gossipsim.common.graphs.source_edges`): the services rebuild the very same graph from
the message alone. Generator, inline and ``{object: graphs/…}`` sources stay as they are (the
deployment fetches objects from its own store).

A seed ``Simulation`` selects its Graph files from a folder (``--graphs``); it becomes the
native spec ``gossipsim run`` translates it into (:mod:`gossipsim.common.spec.seed_simulation`)
with those graphs inline. Its parameters that the algorithm does not use are dropped there,
as the seed ignored them and the seed resource is checked that way, where a native spec
refuses them.

Files are read under the caller's :class:`GraphInputs` (any local file, at most
``GOSSIPSIM_MAX_FILE_BYTES`` each) and built within :class:`GraphLimits`. The spec is meant to
have been checked whole already: a problem found here is the same one the check reports.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gossipsim.common.graphs.inputs import GraphInputs
from gossipsim.common.graphs.limits import GraphLimits
from gossipsim.common.graphs.sources import edges_source, find_seed_graphs, load_graph
from gossipsim.common.spec.algorithm_grid import parse_algorithms
from gossipsim.common.spec.seed_simulation import is_seed_resource, translate_seed_simulation

__all__ = ["MIN_EDGE_BYTES", "InlinedSpec", "TooLargeToInline", "inline_local_graphs"]

LOCAL_FORMS = ("file", "resource")
"""Graph source forms that name a local file; ``resources`` (a folder or glob) names many."""

MIN_EDGE_BYTES = 5
"""The fewest bytes an edge takes inline (``0 1`` and a newline, escaped in JSON as two): a
graph with more edges than the byte budget allows this many for cannot fit, and is refused
before its edges are written out."""


class TooLargeToInline(Exception):
    """A local graph whose edges alone cannot fit in a message: ``name`` and ``edges``."""

    def __init__(self, name: str, edges: int, max_bytes: int) -> None:
        self.name, self.edges, self.max_bytes = name, edges, max_bytes
        super().__init__(
            f"graph {name!r} has {edges:,} edges: inline they take at least"
            f" {edges * MIN_EDGE_BYTES:,} bytes, over the {max_bytes:,} bytes a message may have"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class InlinedSpec:
    """The spec to submit and the names of the graphs read from local files into it."""

    spec: dict[str, Any]
    inlined: tuple[str, ...]


def inline_local_graphs(
    spec: Mapping[str, Any],
    *,
    base_dir: Path | None,
    graphs_dir: Path | None,
    inputs: GraphInputs,
    limits: GraphLimits,
    max_bytes: int,
) -> InlinedSpec:
    """``spec`` with every local graph file inline; ``spec`` itself (a copy) where it names
    none. ``base_dir`` is where a native spec's relative paths start (the spec file's folder),
    ``graphs_dir`` where a seed Simulation's Graph files are; ``max_bytes`` the message cap
    (:class:`TooLargeToInline` for a graph that cannot fit it)."""
    if is_seed_resource(spec):
        native, base_dir = _translated_seed(spec, graphs_dir, inputs), None
    else:
        native = dict(spec)
    items = native.get("graphs")
    if not isinstance(items, list):
        return InlinedSpec(spec=native, inlined=())
    graphs: list[Any] = []
    inlined: list[str] = []
    for index, item in enumerate(items):
        sources = _local_sources(item, base_dir, f"graphs[{index}]", inputs)
        if sources is None:
            graphs.append(item)
            continue
        for source, field in sources:
            built = _inline(source, base_dir, field, inputs, limits, max_bytes)
            graphs.append(built)
            inlined.append(built["name"])
    return InlinedSpec(spec={**native, "graphs": graphs}, inlined=tuple(inlined))


def _translated_seed(
    spec: Mapping[str, Any], graphs_dir: Path | None, inputs: GraphInputs
) -> dict[str, Any]:
    """The native spec of a seed Simulation, without parameters its algorithm ignores."""
    native = translate_seed_simulation(spec, graphs_dir, inputs=inputs)
    parameters = native.pop("parameters", None)
    if isinstance(parameters, Mapping):
        entries = parse_algorithms(native["algorithms"], None)
        used = {k: v for k, v in parameters.items() if any(e.uses(k) for e in entries)}
        if used:
            native["parameters"] = used
    return native


def _local_sources(
    item: object, base_dir: Path | None, field: str, inputs: GraphInputs
) -> list[tuple[dict[str, Any], str]] | None:
    """The sources of ``item`` that read local files, each with its field; None for an item
    that reads none. A ``resources`` item yields one ``resource`` per selected file, as the
    spec's check selects them (:mod:`gossipsim.common.spec.graph_list`)."""
    if not isinstance(item, Mapping):
        return None
    if "resources" in item:
        selector = item.get("selector") or {}
        labels = {str(key): str(value) for key, value in selector.items()}
        where = _joined(str(item["resources"]), base_dir)
        files = find_seed_graphs(where, labels, inputs=inputs, field=f"{field}.resources")
        return [({"resource": str(file.resolve())}, f"{field}.resources") for file in files]
    if any(form in item for form in LOCAL_FORMS):
        return [(dict(item), field)]
    return None


def _inline(
    source: Mapping[str, Any],
    base_dir: Path | None,
    field: str,
    inputs: GraphInputs,
    limits: GraphLimits,
    max_bytes: int,
) -> dict[str, Any]:
    """The graph ``source`` builds, as an ``edges`` source. Its name, values and any cut to
    the largest component are in the graph built, so none of the source's keys is kept."""
    graph = load_graph(source, limits=limits, base_dir=base_dir, field=field, inputs=inputs)
    if graph.num_edges * MIN_EDGE_BYTES > max_bytes:
        raise TooLargeToInline(graph.name, graph.num_edges, max_bytes)
    return edges_source(graph)


def _joined(raw: str, base_dir: Path | None) -> Path:
    """A path as the spec's check takes it: relative ones from ``base_dir``."""
    path = Path(raw).expanduser()
    return base_dir / path if not path.is_absolute() and base_dir is not None else path
