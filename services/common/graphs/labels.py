"""Vertex labels to vertex numbers, the one rule every graph source follows.

When every vertex label is an integer, vertices are numbered by label order, so the seed's
``0..n-1`` labels keep their numbers and ``valueList`` entry ``i`` belongs to label ``i`` (the
seed operator sorts the same way); other labels are numbered by first appearance. Labels that
are not exactly ``0..n-1`` are kept in :attr:`Graph.labels`.

Labels read from a file are that file's content: nothing here puts one into an error message.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import networkx as nx
import numpy as np

from gossipsim.common.graphs.graph import FloatArray, Graph, IntArray

__all__ = ["all_ints", "graph_from_networkx", "index_label_stream", "index_labels"]

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

Numbering = tuple[IntArray, int, tuple[str, ...] | None]
"""Each token's vertex id, the number of vertices, and the labels unless they are 0..n-1."""


def index_labels(tokens: Sequence[str]) -> Numbering:
    """Number the distinct labels: numerically if all are integers, else by first appearance."""
    numbers = _as_integers(tokens)
    if numbers is not None:
        return _index_integers(numbers)
    index: dict[str, int] = {}
    ids = np.fromiter(
        (index.setdefault(token, len(index)) for token in tokens), dtype=np.int64, count=len(tokens)
    )
    return ids, len(index), tuple(index)


def index_label_stream(tokens: Callable[[], Iterable[str]]) -> Numbering:
    """:func:`index_labels` for the many tokens of a file, read as they are parsed.

    Integer labels are kept as 8-byte integers and other labels once each (a token as a Python
    string costs some 50 bytes, which made a 100 MB edge list take gigabytes). ``tokens`` gives
    a fresh iteration on each call; it is called a second time only when a label that is not
    an integer turns up, to number every label by first appearance.
    """
    numbers = array("q")
    for token in tokens():
        number = _integer(token)
        if number is None:
            break
        numbers.append(number)
    else:
        return _index_integers(np.frombuffer(numbers, dtype=np.int64))
    del numbers
    index: dict[str, int] = {}
    ids = array("q", (index.setdefault(token, len(index)) for token in tokens()))
    return np.frombuffer(ids, dtype=np.int64), len(index), tuple(index)


def _integer(token: str) -> int | None:
    """The token as an int64 by the rule numpy's cast in :func:`index_labels` follows."""
    try:
        number = int(token)
    except ValueError:
        return None
    return number if _INT64_MIN <= number <= _INT64_MAX else None


def _index_integers(numbers: IntArray) -> Numbering:
    distinct = np.sort(numbers)
    if len(distinct):
        distinct = distinct[np.concatenate(([True], distinct[1:] != distinct[:-1]))]
    n = len(distinct)
    identity = n == 0 or (distinct[0] == 0 and distinct[-1] == n - 1)
    labels = None if identity else tuple(str(label) for label in distinct.tolist())
    return np.searchsorted(distinct, numbers).astype(np.int64, copy=False), n, labels


def all_ints(tokens: Sequence[str]) -> bool:
    """Whether there are tokens and every one is an integer label."""
    return bool(tokens) and _as_integers(tokens) is not None


def graph_from_networkx(graph: nx.Graph, *, name: str) -> Graph:
    """Convert with the label rule above; a numeric ``value`` on every vertex becomes a value."""
    nodes = list(graph.nodes)
    ids, n, labels = index_labels([str(node) for node in nodes])
    position = dict(zip(nodes, ids.tolist(), strict=True))
    edges = np.array(
        [(position[u], position[v]) for u, v in graph.edges()], dtype=np.int64
    ).reshape(-1, 2)
    values = _node_values(graph, nodes, ids)
    return Graph.from_edges(
        n, edges[:, 0], edges[:, 1], name=name, labels=labels, initial_values=values
    )


def _as_integers(tokens: Sequence[str]) -> IntArray | None:
    if not tokens:
        return np.empty(0, dtype=np.int64)
    try:
        return np.asarray(tokens, dtype=str).astype(np.int64)
    except (ValueError, OverflowError):
        return None


def _node_values(graph: nx.Graph, nodes: list[Any], ids: IntArray) -> FloatArray | None:
    raw = [graph.nodes[node].get("value") for node in nodes]
    if not raw or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in raw):
        return None
    values = np.empty(len(nodes), dtype=np.float64)
    values[ids] = raw
    return values if bool(np.isfinite(values).all()) else None
