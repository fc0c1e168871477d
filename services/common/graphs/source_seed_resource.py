"""Seed ``kind: Graph`` resources: the ``resource`` form of a graph description.

The seed project kept its graphs as Kubernetes-style YAML resources (``apiVersion:
gossip.io/v1``, ``spec.adjacencyList`` and ``spec.valueList``); gossipsim reads them as they
are, so the seed's fixture directories keep working. A resource directory usually mixes
Graphs and Simulations, so searching one passes over the other kinds silently.

Files are read as :class:`~gossipsim.common.graphs.inputs.GraphInputs` allows: inside the
operator's roots (every file a directory or glob yields, after its symlinks; a symlink that
leads out is refused, not followed), up to the byte cap, through the strict YAML reader of
:mod:`gossipsim.common.documents`. Errors name the file and line, never a value read from it.
"""

from __future__ import annotations

import glob
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gossipsim.common.documents import load_yaml_documents
from gossipsim.common.errors import GraphError, InvalidInput
from gossipsim.common.graphs.graph import FloatArray, Graph
from gossipsim.common.graphs.inputs import LOCAL_INPUTS, GraphInputs, read_capped
from gossipsim.common.graphs.limits import DEFAULT_LIMITS, GraphLimits
from gossipsim.common.graphs.source_text import graph_from_adjacency

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
    directory_or_glob: str | Path,
    match_labels: Mapping[str, str] | None = None,
    *,
    inputs: GraphInputs = LOCAL_INPUTS,
    field: str | None = None,
) -> list[Path]:
    """Files holding a seed ``kind: Graph`` resource whose labels include ``match_labels``.

    A directory is searched recursively for ``*.yaml``/``*.yml`` (symlinked directories are not
    entered); anything else is a file or a glob pattern (``**`` allowed). Files of other kinds
    are passed over silently, since a resource directory usually mixes Graphs and Simulations.
    With roots in ``inputs``, the directory and every file found must resolve inside them.
    """
    wanted = {str(key): str(value) for key, value in (match_labels or {}).items()}
    files = _candidate_files(Path(directory_or_glob).expanduser(), inputs, field)
    return sorted(path for path in files if _holds_graph(path, wanted, inputs, field))


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
    raw: object,
    *,
    limits: GraphLimits,
    base_dir: Path | None,
    field: str,
    inputs: GraphInputs = LOCAL_INPUTS,
) -> Graph:
    """The one Graph resource in a YAML file.

    A file whose only document is of another kind is checked as a Graph all the same, so the
    error says what is wrong with it (``kind is not 'Graph'``) rather than just "no Graph".
    """
    path = inputs.local_file(raw, base_dir=base_dir, field=field)
    shown = str(raw)
    docs = [doc for doc in _yaml_documents(path, shown, inputs, field) if doc is not None]
    graphs = [doc for doc in docs if isinstance(doc, Mapping) and doc.get("kind") == "Graph"]
    if len(graphs) > 1:
        raise GraphError(f"{shown} holds {len(graphs)} Graph resources; expected one", field=field)
    if not graphs and len(docs) != 1:
        raise GraphError(f"{shown} holds no Graph resource", field=field)
    try:
        return load_seed_graph_resource(graphs[0] if graphs else docs[0], limits=limits)
    except GraphError as exc:
        raise GraphError(f"in {shown}: {exc}", field=field) from exc


def _check_resource_header(doc: Mapping[str, Any]) -> None:
    """What the document must say it is; what it says instead is not repeated (it may be a
    file's content)."""
    if doc.get("apiVersion") != SEED_API_VERSION:
        raise GraphError(
            f"apiVersion is not {SEED_API_VERSION!r}; a seed Graph resource has that one",
            field="apiVersion",
        )
    if doc.get("kind") != "Graph":
        raise GraphError("kind is not 'Graph'; expected a seed Graph resource", field="kind")
    metadata = doc.get("metadata")
    if not isinstance(metadata, Mapping) or not isinstance(metadata.get("name"), str):
        raise GraphError("a Graph resource needs metadata.name", field="metadata.name")


def _candidate_files(target: Path, inputs: GraphInputs, field: str | None) -> list[Path]:
    """The files a directory, file or glob names, each inside the roots (when there are)."""
    shown = str(target)
    if any(char in shown for char in "*?["):
        if inputs.roots is not None and ".." in target.parts:
            raise GraphError(
                f"{shown!r}: a glob pattern may not contain '..' segments", field=field
            )
        inputs.check_inside(_static_prefix(target), shown=shown, field=field)
        found = [Path(p) for p in glob.glob(shown, recursive=True)]
    else:
        inputs.check_inside(target, shown=shown, field=field)
        if target.is_dir():
            found = _yaml_files_under(target)
        elif target.is_file():
            found = [target]
        else:
            raise GraphError(f"{target} is neither a directory, a file nor a glob pattern")
    files = [path for path in found if path.is_file()]
    for path in files:
        inputs.check_inside(path, shown=str(path), field=field)
    return files


def _static_prefix(pattern: Path) -> Path:
    """The directories of a glob pattern before its first wildcard: where the search starts."""
    parts: list[str] = []
    for part in pattern.parts:
        if any(char in part for char in "*?["):
            break
        parts.append(part)
    return Path(*parts) if parts else Path(".")


def _yaml_files_under(directory: Path) -> list[Path]:
    """``*.yaml`` and ``*.yml`` below ``directory``; symlinked directories are not entered."""
    return [
        Path(here) / name
        for here, _, names in os.walk(directory)
        for name in names
        if Path(name).suffix in (".yaml", ".yml")
    ]


def _holds_graph(
    path: Path, wanted: Mapping[str, str], inputs: GraphInputs, field: str | None
) -> bool:
    text = _read_text(path, str(path), inputs, field)
    if "Graph" not in text or any(value not in text for value in wanted.values()):
        return False  # cheap pre-filter: parsing hundreds of 1000-vertex resources takes seconds
    for doc in _parse_yaml(text, str(path), field=field):
        if isinstance(doc, Mapping) and doc.get("kind") == "Graph":
            metadata = doc.get("metadata")
            labels = metadata.get("labels") if isinstance(metadata, Mapping) else None
            labels = labels if isinstance(labels, Mapping) else {}
            if all(str(labels.get(key)) == value for key, value in wanted.items()):
                return True
    return False


def _yaml_documents(path: Path, shown: str, inputs: GraphInputs, field: str) -> list[Any]:
    return _parse_yaml(_read_text(path, shown, inputs, field), shown, field)


def _read_text(path: Path, shown: str, inputs: GraphInputs, field: str | None) -> str:
    data = read_capped(path, max_bytes=inputs.max_file_bytes, source=shown, field=field)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise GraphError(
            f"{shown} is not UTF-8 text (byte {error.start:,} is not valid UTF-8)", field=field
        ) from None


def _parse_yaml(text: str, shown: str, field: str | None) -> list[Any]:
    try:
        return load_yaml_documents(text, source=shown)
    except InvalidInput as error:
        raise GraphError(str(error), field=field) from None


def _number(item: object, index: int, field: str) -> float:
    try:
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise ValueError
        value = float(item)
    except ValueError:
        raise GraphError(
            f"value {index + 1} is not a number", field=f"{field}[{index + 1}]"
        ) from None
    if not math.isfinite(value):
        raise GraphError(
            f"value {index + 1} is not finite; values must be finite numbers",
            field=f"{field}[{index + 1}]",
        )
    return value
