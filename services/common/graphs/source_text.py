"""Graphs from text and files: the ``adjacency`` and ``file`` forms of a graph description.

Inline adjacency lists use the seed's ``"u v1 v2 …,"`` lines (the first vertex is adjacent to
all the others), which are also networkx adjlist lines. Files are edge lists (``.edgelist``,
``.edges``, ``.txt``, ``.csv``), adjacency lists (``.adjlist``), GraphML, GEXF or GML, the
text formats optionally gzip- or bzip2-compressed. The text formats are parsed here straight
into CSR rather than through networkx, which needs about 1 KB per edge, and their line counts
are checked against :class:`GraphLimits` before the graph is built.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from gossipsim.common.errors import GraphError
from gossipsim.common.graphs.graph import Graph
from gossipsim.common.graphs.labels import all_ints, graph_from_networkx, index_labels
from gossipsim.common.graphs.limits import GraphLimits, is_int

__all__ = ["graph_from_adjacency", "load_file", "resolve_path"]

_FILE_FORMATS: Mapping[str, str] = {
    ".edgelist": "edgelist",
    ".edges": "edgelist",
    ".txt": "edgelist",
    ".csv": "csv",
    ".adjlist": "adjlist",
    ".graphml": "graphml",
    ".gexf": "gexf",
    ".gml": "gml",
}


def load_file(
    source: Mapping[str, Any], *, limits: GraphLimits, base_dir: Path | None, field: str
) -> Graph:
    """Read ``source["file"]`` in its ``format``, or the one its extension names."""
    path = resolve_path(source["file"], base_dir, f"{field}.file")
    file_format = _file_format(path, source.get("format"), field)
    try:
        if file_format in ("edgelist", "csv", "adjlist"):
            return _load_text_graph(path, file_format, limits, f"{field}.file")
        reader: Callable[[Path], nx.Graph] = {
            "graphml": nx.read_graphml,
            "gexf": nx.read_gexf,
            "gml": _read_gml,
        }[file_format]
        graph = reader(path)
    except (OSError, UnicodeDecodeError, nx.NetworkXError, ValueError, SyntaxError) as exc:
        raise GraphError(
            f"cannot read {path} as {file_format}: {exc}", field=f"{field}.file"
        ) from exc
    return graph_from_networkx(graph, name=_stem(path))


def _load_text_graph(path: Path, file_format: str, limits: GraphLimits, field: str) -> Graph:
    text = _read_text(path)
    if file_format == "adjlist":
        return graph_from_adjacency(text, name=_stem(path), limits=limits, field=field)
    tokens = _parse_edge_lines(text, csv=file_format == "csv", limits=limits, field=field)
    ids, n, labels = index_labels(tokens)
    limits.check_vertices(n, field=field)
    return Graph.from_edges(n, ids[0::2], ids[1::2], name=_stem(path), labels=labels)


def _read_text(path: Path) -> str:
    if path.suffix == ".gz":
        import gzip

        with gzip.open(path, "rt", encoding="utf-8") as stream:
            return stream.read()
    if path.suffix == ".bz2":
        import bz2

        with bz2.open(path, "rt", encoding="utf-8") as stream:
            return stream.read()
    return path.read_text(encoding="utf-8")


def _read_gml(path: Path) -> nx.Graph:
    """GML vertices by their ``label``, or by ``id`` in files that leave labels out."""
    try:
        return nx.read_gml(path)
    except nx.NetworkXError as exc:
        if "label" not in str(exc):
            raise
        return nx.read_gml(path, label="id")


def _file_format(path: Path, given: object, field: str) -> str:
    formats = sorted(set(_FILE_FORMATS.values()))
    if given is not None:
        if given not in formats:
            raise GraphError(
                f"unknown format {given!r}; known: {', '.join(formats)}", field=f"{field}.format"
            )
        return str(given)
    suffixes = [s for s in path.suffixes if s not in (".gz", ".bz2")]
    found = _FILE_FORMATS.get(suffixes[-1].lower()) if suffixes else None
    if found is None:
        raise GraphError(
            f"cannot tell the format of {path.name} from its extension; set format to one of"
            f" {', '.join(formats)}",
            field=f"{field}.format",
        )
    return found


def graph_from_adjacency(raw: object, *, name: str, limits: GraphLimits, field: str) -> Graph:
    """Parse seed/networkx adjacency lines: the first vertex is adjacent to all the others."""
    heads, tokens, counts = _split_adjacency(raw, field)
    if len(tokens) - len(heads) > 2 * limits.max_edges:
        limits.check_edges(len(tokens) - len(heads), field=field)
    ids, n, labels = index_labels(tokens)
    limits.check_vertices(n, field=field)
    is_head = np.zeros(len(tokens), dtype=bool)
    is_head[heads] = True
    src = np.repeat(ids[is_head], counts)
    return Graph.from_edges(n, src, ids[~is_head], name=name, labels=labels)


def _split_adjacency(raw: object, field: str) -> tuple[list[int], list[str], list[int]]:
    """Token positions of line heads, all tokens in order, and neighbour counts per line."""
    if isinstance(raw, str):
        lines: Sequence[object] = raw.splitlines()
    elif isinstance(raw, Sequence):
        lines = raw
    else:
        raise GraphError(
            f"expected a list of lines or a text, got {type(raw).__name__}", field=field
        )
    heads: list[int] = []
    tokens: list[str] = []
    counts: list[int] = []
    for number, line in enumerate(lines, start=1):
        parts = _adjacency_tokens(line, number, field)
        if parts:
            heads.append(len(tokens))
            counts.append(len(parts) - 1)
            tokens.extend(parts)
    return heads, tokens, counts


def _adjacency_tokens(line: object, number: int, field: str) -> list[str]:
    """A line's labels; blank and ``#`` comment lines have none, as in networkx adjlists."""
    if is_int(line):
        line = str(line)
    if not isinstance(line, str):
        raise GraphError(
            f"line {number} is a {type(line).__name__}, not a line of vertex labels",
            field=f"{field}[{number}]",
        )
    text = line.split("#", 1)[0].strip()
    if not text:
        return []
    body = text.removesuffix(",").rstrip()
    if not body or "," in body:
        raise GraphError(
            f"line {number} ({line!r}) cannot be parsed: expected 'u v1 v2 …' with at most one"
            " trailing comma",
            field=f"{field}[{number}]",
        )
    return body.split()


def _parse_edge_lines(text: str, *, csv: bool, limits: GraphLimits, field: str) -> list[str]:
    """Endpoint tokens of an edge list, two per edge; extra columns (weights) are ignored."""
    rows = [
        (number, line.split("#", 1)[0].split("%", 1)[0].replace(",", " ").split())
        for number, line in enumerate(text.splitlines(), start=1)
    ]
    rows = [(number, parts) for number, parts in rows if parts]
    limits.check_edges(len(rows), field=field)
    if csv and len(rows) > 1 and not all_ints(rows[0][1][:2]) and all_ints(rows[1][1][:2]):
        rows = rows[1:]  # a header line above numeric rows
    tokens: list[str] = []
    for number, parts in rows:
        if len(parts) < 2:
            raise GraphError(
                f"line {number} ({' '.join(parts)!r}) needs two vertices",
                field=f"{field}[{number}]",
            )
        tokens.extend(parts[:2])
    return tokens


def resolve_path(raw: object, base_dir: Path | None, field: str) -> Path:
    """An existing file; a relative path is taken from ``base_dir`` when one is given."""
    if not isinstance(raw, str | Path) or not str(raw):
        raise GraphError(f"expected a file path, got {raw!r}", field=field)
    path = Path(raw).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    if not path.is_file():
        raise GraphError(f"no such file: {path}", field=field)
    return path


def _stem(path: Path) -> str:
    return path.name.split(".", 1)[0] or path.name
