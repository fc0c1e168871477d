"""Graphs from text and files: the ``adjacency``, ``file`` and ``object`` forms of a graph.

Inline adjacency lists use the seed's ``"u v1 v2 …,"`` lines (the first vertex is adjacent to
all the others), which are also networkx adjlist lines. Files and store objects are edge lists
(``.edgelist``, ``.edges``, ``.txt``, ``.csv``), adjacency lists (``.adjlist``), GraphML, GEXF
or GML, optionally gzip- or bzip2-compressed. The text formats are parsed here straight into
CSR rather than through networkx, which needs about 1 KB per edge: line by line, labels held as
integers where they are, and lines past :class:`GraphLimits` counted rather than kept.

What may be read is :class:`~gossipsim.common.graphs.inputs.GraphInputs`' to say: a file only
inside the operator's roots, an object only once fetched, neither past the byte cap. A file
named in a spec may be anybody's secrets, so errors name the file (as the spec gave it) and the
line, and say what was expected: never a line, a label or a parser's message, which quote it.
"""

from __future__ import annotations

import io
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from gossipsim.common.errors import GraphError
from gossipsim.common.graphs.graph import Graph
from gossipsim.common.graphs.inputs import (
    LOCAL_INPUTS,
    GraphInputs,
    check_object_key,
    read_capped,
)
from gossipsim.common.graphs.labels import all_ints, graph_from_networkx, index_label_stream
from gossipsim.common.graphs.limits import GraphLimits, is_int

__all__ = ["graph_from_adjacency", "load_file", "load_object"]

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
_TEXT_FORMATS = ("edgelist", "csv", "adjlist")
_SLICE = 16 * 1024 * 1024  # bytes of a file looked at at once by _edge_lines


def load_file(
    source: Mapping[str, Any],
    *,
    limits: GraphLimits,
    base_dir: Path | None,
    field: str,
    inputs: GraphInputs = LOCAL_INPUTS,
) -> Graph:
    """Read ``source["file"]`` in its ``format``, or the one its extension names.

    The file must lie inside ``inputs.roots`` (when there are roots) and is read up to
    ``inputs.max_file_bytes``, decompressed bytes counted.
    """
    raw = source["file"]
    path = inputs.local_file(raw, base_dir=base_dir, field=f"{field}.file")
    shown = str(_given(raw, base_dir))
    return _load_bytes(
        path, shown=shown, given_format=source.get("format"), limits=limits, inputs=inputs,
        field=field, key="file",
    )  # fmt: skip


def load_object(
    source: Mapping[str, Any],
    *,
    limits: GraphLimits,
    field: str,
    inputs: GraphInputs,
) -> Graph:
    """Read the graph object ``source["object"]`` (a ``graphs/…`` key), fetched beforehand into
    ``inputs.objects``, with the same formats and caps as a file."""
    key = check_object_key(source["object"], field=f"{field}.object")
    path = inputs.object_file(key, field=f"{field}.object")
    return _load_bytes(
        path, shown=key, given_format=source.get("format"), limits=limits, inputs=inputs,
        field=field, key="object",
    )  # fmt: skip


def _load_bytes(
    path: Path,
    *,
    shown: str,
    given_format: object,
    limits: GraphLimits,
    inputs: GraphInputs,
    field: str,
    key: str,
) -> Graph:
    """The graph in ``path``; ``shown`` (the path or key the spec gave) names it everywhere."""
    file_format = _file_format(shown, given_format, field)
    data = read_capped(path, max_bytes=inputs.max_file_bytes, source=shown, field=f"{field}.{key}")
    name = _stem(shown)
    if file_format in ("edgelist", "csv") and data.count(b"\n") >= limits.max_edges:
        # many lines: count the edge lines at C speed before parsing them at Python speed
        limits.check_edges(_edge_lines(data), field=f"{field}.{key}")
    if file_format in _TEXT_FORMATS:
        text = _decode(data, shown, f"{field}.{key}")
        del data  # the text alone from here on: the cap's worth of memory, not twice that
        return _load_text_graph(text, file_format, name, shown, limits, f"{field}.{key}")
    graph = _read_networkx(data, file_format, shown, f"{field}.{key}")
    return graph_from_networkx(graph, name=name)


def _edge_lines(data: bytearray) -> int:
    """How many lines of an edge list hold an edge, as :func:`_edge_tokens` counts them: lines
    whose first character other than blanks and commas starts no comment (``#``, ``%``).

    Counted with numpy in slices, so a file of millions of lines is measured in a fraction of
    a second and a few times a slice of memory.
    """
    raw = np.frombuffer(data, dtype=np.uint8)
    filler = np.frombuffer(b" \t\r\v\f,", dtype=np.uint8)
    not_content = np.frombuffer(b"\n#%", dtype=np.uint8)
    rows, start, after_newline = 0, 0, True
    while start < len(raw):
        part = raw[start : start + _SLICE]
        start += _SLICE
        marks = part[~np.isin(part, filler)]  # what is left of each line: its first is the key
        if not len(marks):
            continue
        firsts = np.empty(len(marks), dtype=bool)
        firsts[0] = after_newline
        np.equal(marks[:-1], ord("\n"), out=firsts[1:])
        rows += int(np.count_nonzero(~np.isin(marks[firsts], not_content)))
        after_newline = bool(marks[-1] == ord("\n"))
    return rows


def _decode(data: bytearray, shown: str, field: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise GraphError(
            f"{shown} is not UTF-8 text (byte {error.start:,} is not valid UTF-8)", field=field
        ) from None


def _load_text_graph(
    text: str, file_format: str, name: str, shown: str, limits: GraphLimits, field: str
) -> Graph:
    where = f" of {shown}"
    if file_format == "adjlist":
        return graph_from_adjacency(text, name=name, limits=limits, field=field, where=where)
    csv = file_format == "csv"
    ids, n, labels = index_label_stream(
        lambda: _edge_tokens(text, csv=csv, limits=limits, field=field, where=where)
    )
    limits.check_vertices(n, field=field)
    return Graph.from_edges(n, ids[0::2], ids[1::2], name=name, labels=labels)


def _read_networkx(data: bytearray, file_format: str, shown: str, field: str) -> nx.Graph:
    """GraphML, GEXF or GML through networkx; a failure names the file and, for XML, the
    line, never the parser's message (it quotes the file)."""
    reader: Callable[[bytearray], nx.Graph] = {
        "graphml": lambda raw: nx.read_graphml(io.BytesIO(raw)),
        "gexf": lambda raw: nx.read_gexf(io.BytesIO(raw)),
        "gml": _read_gml,
    }[file_format]
    try:
        return reader(data)
    except Exception as error:  # a parser of untrusted bytes: whatever it raises, the file did
        line = _error_line(error)
        at = f" (line {line})" if line is not None else ""
        raise GraphError(
            f"cannot read {shown} as {file_format}: not a valid {file_format} file{at}",
            field=field,
        ) from None


def _error_line(error: BaseException) -> int | None:
    """The line an XML parser reports in its error's position, if it has one."""
    position = getattr(error, "position", None)
    if isinstance(position, tuple) and position and isinstance(position[0], int):
        return position[0]
    return None


def _read_gml(data: bytearray) -> nx.Graph:
    """GML vertices by their ``label``, or by ``id`` in files that leave labels out."""
    try:
        return nx.read_gml(io.BytesIO(data))
    except nx.NetworkXError as exc:
        if "label" not in str(exc):  # read, never shown
            raise
        return nx.read_gml(io.BytesIO(data), label="id")


def _file_format(shown: str, given: object, field: str) -> str:
    formats = sorted(set(_FILE_FORMATS.values()))
    if given is not None:
        if given not in formats:
            raise GraphError(
                f"unknown format {given!r}; known: {', '.join(formats)}", field=f"{field}.format"
            )
        return str(given)
    name = Path(shown).name
    suffixes = [s for s in Path(name).suffixes if s not in (".gz", ".bz2")]
    found = _FILE_FORMATS.get(suffixes[-1].lower()) if suffixes else None
    if found is None:
        raise GraphError(
            f"cannot tell the format of {name} from its extension; set format to one of"
            f" {', '.join(formats)}",
            field=f"{field}.format",
        )
    return found


def graph_from_adjacency(
    raw: object, *, name: str, limits: GraphLimits, field: str, where: str = ""
) -> Graph:
    """Parse seed/networkx adjacency lines: the first vertex is adjacent to all the others.

    ``raw`` is a text or a list of lines; ``where`` (`` of /data/g.adjlist``) follows the line
    number in errors, which never quote a line.
    """
    lines = _line_source(raw, field)
    counts = array("q")  # neighbours per non-empty line, filled by each pass over the tokens

    def tokens() -> Iterator[str]:
        del counts[:]
        total = 0
        for number, line in enumerate(lines(), start=1):
            parts = _adjacency_tokens(line, number, field, where)
            if parts:
                total += len(parts) - 1
                if total > 2 * limits.max_edges:  # each edge is listed at most twice
                    raise GraphError(
                        f"the adjacency lists{where} name more than {2 * limits.max_edges:,}"
                        f" neighbours by line {number}, over the limit of"
                        f" {limits.max_edges:,} edges; raise it with the setting"
                        " GOSSIPSIM_MAX_EDGES if the machine has the memory",
                        field=field,
                    )
                counts.append(len(parts) - 1)
                yield from parts

    ids, n, labels = index_label_stream(tokens)
    limits.check_vertices(n, field=field)
    neighbours = np.frombuffer(counts, dtype=np.int64)
    is_head = np.zeros(len(ids), dtype=bool)
    is_head[np.cumsum(neighbours + 1) - (neighbours + 1)] = True
    src = np.repeat(ids[is_head], neighbours)
    return Graph.from_edges(n, src, ids[~is_head], name=name, labels=labels)


def _line_source(raw: object, field: str) -> Callable[[], Iterable[object]]:
    """A fresh iteration over the lines of a text or a list, on each call."""
    if isinstance(raw, str):
        text = raw
        return lambda: _lines(text)
    if isinstance(raw, Sequence):
        sequence = raw
        return lambda: sequence
    raise GraphError(f"expected a list of lines or a text, got {type(raw).__name__}", field=field)


def _lines(text: str) -> Iterator[str]:
    """The lines of ``text`` one at a time (a list of them would cost 50 bytes a line more).

    Lines end at ``\\n`` (a ``\\r`` before it is whitespace to the parsers), or at ``\\r`` in a
    text that has no ``\\n``.
    """
    separator = "\n" if "\n" in text or "\r" not in text else "\r"
    start = 0
    while start < len(text):
        end = text.find(separator, start)
        if end < 0:
            end = len(text)
        yield text[start:end]
        start = end + 1


def _adjacency_tokens(line: object, number: int, field: str, where: str) -> list[str]:
    """A line's labels; blank and ``#`` comment lines have none, as in networkx adjlists."""
    if is_int(line):
        line = str(line)
    if not isinstance(line, str):
        raise GraphError(
            f"line {number}{where} is a {type(line).__name__}, not a line of vertex labels",
            field=f"{field}[{number}]",
        )
    text = line.split("#", 1)[0].strip()
    if not text:
        return []
    body = text.removesuffix(",").rstrip()
    if not body or "," in body:
        raise GraphError(
            f"line {number}{where} cannot be parsed: expected vertex labels 'u v1 v2 …'"
            " separated by blanks, with at most one trailing comma",
            field=f"{field}[{number}]",
        )
    return body.split()


def _edge_tokens(
    text: str, *, csv: bool, limits: GraphLimits, field: str, where: str
) -> Iterator[str]:
    """Endpoint labels of an edge list, two per edge; extra columns (weights) are ignored.

    A CSV's first row is a header when it is not numeric and the row below it is. More rows
    than ``limits`` allows are counted, not kept, so the error can say how many there are.
    """
    rows = 0
    first: tuple[int, list[str]] | None = None  # a CSV's first row, until the second decides
    for number, line in enumerate(_lines(text), start=1):
        parts = line.split("#", 1)[0].split("%", 1)[0].replace(",", " ").split()
        if not parts:
            continue
        rows += 1
        if rows > limits.max_edges:
            break  # more than _edge_lines saw (lines ending in a lone '\r'): enough
        if csv and rows == 1:
            first = (number, parts)
            continue
        if first is not None:
            if all_ints(first[1][:2]) or not all_ints(parts[:2]):
                yield from _endpoints(*first, field=field, where=where)
            first = None
        yield from _endpoints(number, parts, field=field, where=where)
    if first is not None:
        yield from _endpoints(*first, field=field, where=where)
    if rows > limits.max_edges:
        raise GraphError(
            f"more than {limits.max_edges:,} edge lines{where}, over the limit of"
            f" {limits.max_edges:,} edges; raise it with the setting GOSSIPSIM_MAX_EDGES if the"
            " machine has the memory",
            field=field,
        )


def _endpoints(number: int, parts: list[str], *, field: str, where: str) -> list[str]:
    if len(parts) < 2:
        raise GraphError(
            f"line {number}{where}: expected two vertex labels (further columns are ignored)",
            field=f"{field}[{number}]",
        )
    return parts[:2]


def _given(raw: str | Path, base_dir: Path | None) -> Path:
    """The path as the spec gave it, joined to ``base_dir``: what messages call the file."""
    path = Path(raw).expanduser()
    return base_dir / path if not path.is_absolute() and base_dir is not None else path


def _stem(shown: str) -> str:
    name = Path(shown).name
    return name.split(".", 1)[0] or name
