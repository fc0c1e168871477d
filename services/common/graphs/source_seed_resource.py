"""Seed ``kind: Graph`` resources: the ``resource`` form of a graph description.

The seed project kept its graphs as Kubernetes-style YAML resources (``apiVersion:
gossip.io/v1``, ``spec.adjacencyList`` and ``spec.valueList``); gossipsim reads them as they
are, so the seed's fixture directories keep working. A resource directory usually mixes
Graphs and Simulations, so searching one passes over the other kinds silently.
"""

from __future__ import annotations

import glob
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gossipsim.common.documents import load_yaml_documents
from gossipsim.common.errors import GraphError, InvalidInput
from gossipsim.common.graphs.graph import FloatArray, Graph
from gossipsim.common.graphs.limits import DEFAULT_LIMITS, GraphLimits
from gossipsim.common.graphs.source_text import graph_from_adjacency, resolve_path

__all__ = [
    "SEED_API_VERSION",
    "find_seed_graphs",
    "load_resource_file",
    "load_seed_graph_resource",
    "parse_value_list",
]

SEED_API_VERSION = "gossip.io/v1"


def load_seed_graph_resource(
    doc: Mapping[str, Any],
    *,
    limits: GraphLimits = DEFAULT_LIMITS,
) -> Graph:
    """Build the graph of a parsed seed ``kind: Graph`` resource, values from ``valueList``."""
    if not isinstance(doc, Mapping):
        raise GraphError(f"a Graph resource must be a mapping, got {type(doc).__name__}")
    _check_resource_header(doc)
    name = doc["metadata"]["name"]
    spec = doc.get("spec")
    if not isinstance(spec, Mapping):
        raise GraphError("a Graph resource needs a spec mapping", field="spec")
    if "adjacencyList" not in spec:
        raise GraphError("a Graph resource needs spec.adjacencyList", field="spec.adjacencyList")
    graph = graph_from_adjacency(
        spec["adjacencyList"], name=name, limits=limits, field="spec.adjacencyList"
    )
    raw_values = spec.get("valueList")
    if raw_values is None or raw_values == "":
        return graph
    values = parse_value_list(raw_values, n=graph.n, field="spec.valueList")
    return graph.with_initial_values(values)


def find_seed_graphs(
    directory_or_glob: str | Path, match_labels: Mapping[str, str] | None = None
) -> list[Path]:
    """Files holding a seed ``kind: Graph`` resource whose labels include ``match_labels``.

    A directory is searched recursively for ``*.yaml``/``*.yml``; anything else is a file or a
    glob pattern (``**`` allowed). Files of other kinds are passed over silently, since a
    resource directory usually mixes Graphs and Simulations.
    """
    wanted = {str(key): str(value) for key, value in (match_labels or {}).items()}
    return sorted(
        path for path in _candidate_files(Path(directory_or_glob)) if _holds_graph(path, wanted)
    )


def parse_value_list(raw: object, *, n: int, field: str) -> FloatArray:
    """Initial values from a list of numbers or the seed's ``"51,14,98,"`` string."""
    if isinstance(raw, str):
        items: list[object] = [item.strip() for item in raw.strip().rstrip(",").split(",")]
    elif isinstance(raw, Sequence):
        items = list(raw)
    else:
        raise GraphError(
            f"expected a list of numbers or a comma-separated string, got {type(raw).__name__}",
            field=field,
        )
    values = np.array([_number(item, index, field) for index, item in enumerate(items)])
    if len(values) != n:
        raise GraphError(f"has {len(values)} values for a graph of {n} vertices", field=field)
    return values.astype(np.float64)


def load_resource_file(
    raw: object, *, limits: GraphLimits, base_dir: Path | None, field: str
) -> Graph:
    """The one Graph resource in a YAML file.

    A file whose only document is of another kind is checked as a Graph all the same, so the
    error says what is wrong with it (``kind is 'Simulation'``) rather than just "no Graph".
    """
    path = resolve_path(raw, base_dir, field)
    docs = [doc for doc in _yaml_documents(path, field) if doc is not None]
    graphs = [doc for doc in docs if isinstance(doc, Mapping) and doc.get("kind") == "Graph"]
    if len(graphs) > 1:
        raise GraphError(f"{path} holds {len(graphs)} Graph resources; expected one", field=field)
    if not graphs and len(docs) != 1:
        raise GraphError(f"{path} holds no Graph resource", field=field)
    try:
        return load_seed_graph_resource(graphs[0] if graphs else docs[0], limits=limits)
    except GraphError as exc:
        raise GraphError(f"in {path}: {exc}", field=field) from exc


def _check_resource_header(doc: Mapping[str, Any]) -> None:
    if doc.get("apiVersion") != SEED_API_VERSION:
        raise GraphError(
            f"apiVersion is {doc.get('apiVersion')!r}; expected {SEED_API_VERSION!r}",
            field="apiVersion",
        )
    if doc.get("kind") != "Graph":
        raise GraphError(f"kind is {doc.get('kind')!r}; expected 'Graph'", field="kind")
    metadata = doc.get("metadata")
    if not isinstance(metadata, Mapping) or not isinstance(metadata.get("name"), str):
        raise GraphError("a Graph resource needs metadata.name", field="metadata.name")


def _candidate_files(target: Path) -> list[Path]:
    if target.is_dir():
        return [p for p in target.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file()]
    if target.is_file():
        return [target]
    if any(char in str(target) for char in "*?["):
        return [Path(p) for p in glob.glob(str(target), recursive=True) if Path(p).is_file()]
    raise GraphError(f"{target} is neither a directory, a file nor a glob pattern")


def _holds_graph(path: Path, wanted: Mapping[str, str]) -> bool:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise GraphError(f"cannot read {path}: {exc}") from exc
    if "Graph" not in text or any(value not in text for value in wanted.values()):
        return False  # cheap pre-filter: parsing hundreds of 1000-vertex resources takes seconds
    for doc in _parse_yaml(text, path, field=None):
        if isinstance(doc, Mapping) and doc.get("kind") == "Graph":
            metadata = doc.get("metadata")
            labels = metadata.get("labels") if isinstance(metadata, Mapping) else None
            labels = labels if isinstance(labels, Mapping) else {}
            if all(str(labels.get(key)) == value for key, value in wanted.items()):
                return True
    return False


def _yaml_documents(path: Path, field: str) -> list[Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise GraphError(f"cannot read {path}: {exc}", field=field) from exc
    return _parse_yaml(text, path, field)


def _parse_yaml(text: str, path: Path, field: str | None) -> list[Any]:
    try:
        return load_yaml_documents(text, source=str(path))
    except InvalidInput as error:
        raise GraphError(str(error), field=field) from None


def _number(item: object, index: int, field: str) -> float:
    try:
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise ValueError
        value = float(item)
    except ValueError:
        raise GraphError(
            f"value {index + 1} ({item!r}) is not a number", field=f"{field}[{index + 1}]"
        ) from None
    if not math.isfinite(value):
        raise GraphError(f"value {index + 1} is {item!r}; values must be finite", field=field)
    return value
