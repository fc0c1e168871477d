"""Where graph files may come from and how much of one may be read: the operator's policy.

A spec names its graph files itself (``{file: …}``, ``{resource: …}``, ``{resources: DIR}``),
and in a deployment the spec comes from anyone who may publish ``simulation.submit`` or create
a custom resource. Without a policy such a client reads any file the services can read
(``/proc/self/environ``, a mounted secret) and, through error messages, sees its content.
:class:`GraphInputs` is that policy, handed to every graph source by the process that owns it:

* ``roots`` — the directories local files may come from. ``None`` means any file: only
  ``gossipsim run`` on the user's own machine uses it (:data:`LOCAL_INPUTS`). A tuple, possibly
  empty (the services' default, :data:`SERVICE_INPUTS`), admits a path only if, resolved with
  every symlink followed and every ``..`` applied, it lies inside one of them. The check comes
  before any question of existence, and its refusal is the same for a missing file and an
  existing one, so it cannot be used to learn what exists outside the roots.
* ``max_file_bytes`` — the most bytes read from one file or object, counted after
  decompression, read in chunks that stop at the cap: a 95 KB ``.gz`` of 25 million lines is
  refused after reading the cap, holding about the cap in memory, not gigabytes.
* ``objects`` — graph objects already fetched from the object store to local files
  (``graphs/net.graphml`` -> a temporary path), by
  :mod:`gossipsim.common.storage.graph_objects`; the ``{object: KEY}`` source reads them here.
  Graphs for a deployment come from the store, which the services already trust, rather than
  from the hosts' file systems.

The policy is a frozen, picklable value so a spec check can run in another process with it.
"""

from __future__ import annotations

import bz2
import gzip
import io
import os
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gossipsim.common.errors import GraphError

__all__ = [
    "DEFAULT_MAX_FILE_BYTES",
    "GRAPH_OBJECT_PREFIX",
    "LOCAL_INPUTS",
    "MAX_OBJECT_KEY_LENGTH",
    "SERVICE_INPUTS",
    "GraphInputs",
    "check_object_key",
    "read_capped",
]

DEFAULT_MAX_FILE_BYTES = 256 * 1024 * 1024
"""Default of ``GOSSIPSIM_MAX_FILE_BYTES``: a 256 MiB edge list has some 20 million edges."""

GRAPH_OBJECT_PREFIX = "graphs/"
"""Graph objects live under this prefix of the store, apart from results and status."""

MAX_OBJECT_KEY_LENGTH = 1024  # S3's own limit on a key

_KEY_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._=-]*")  # the run ids' alphabet
_CHUNK = 1024 * 1024
_OBJECT_HINT = "put the file in the object store and use {object: graphs/…}"


@dataclass(frozen=True, slots=True, kw_only=True)
class GraphInputs:
    """Which local files graph sources may read, how much of each, and the fetched objects."""

    roots: tuple[Path, ...] | None
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    objects: Mapping[str, Path] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.roots is not None:
            # resolved once, so a root given through a symlink compares with resolved paths
            roots = tuple(Path(os.path.realpath(Path(root).expanduser())) for root in self.roots)
            object.__setattr__(self, "roots", roots)
        if isinstance(self.max_file_bytes, bool) or not isinstance(self.max_file_bytes, int):
            raise ValueError(f"max_file_bytes must be an integer, got {self.max_file_bytes!r}")
        if self.max_file_bytes < 1:
            raise ValueError(f"max_file_bytes must be positive, got {self.max_file_bytes}")
        object.__setattr__(self, "objects", dict(self.objects))

    def with_objects(self, objects: Mapping[str, Path]) -> GraphInputs:
        """The same policy, with these fetched objects added."""
        return GraphInputs(
            roots=self.roots,
            max_file_bytes=self.max_file_bytes,
            objects={**self.objects, **objects},
        )

    def local_file(self, raw: object, *, base_dir: Path | None, field: str) -> Path:
        """The regular file ``raw`` names (relative to ``base_dir`` when given), resolved.

        Inside the roots or refused; whether the file exists is told only inside them.
        """
        if not isinstance(raw, str | Path) or not str(raw):
            raise GraphError(f"expected a file path, got {type(raw).__name__}", field=field)
        path = _joined(raw, base_dir)
        self.check_inside(path, shown=str(raw), field=field)
        try:
            resolved = path.resolve(strict=True)
        except (OSError, RuntimeError, ValueError):
            raise GraphError(f"no such file: {_shown(path)}", field=field) from None
        self.check_inside(resolved, shown=str(raw), field=field)  # changed since the first look
        if not resolved.is_file():
            raise GraphError(f"no such file: {_shown(path)} (not a regular file)", field=field)
        return resolved

    def check_inside(self, path: Path, *, shown: str, field: str | None) -> None:
        """Refuse ``path`` unless it resolves inside a root (anything goes without roots).

        ``shown`` is the path as the spec gave it: the message never says where it leads.
        """
        if self.roots is None:
            return
        if not self.roots:
            raise GraphError(
                f"{_shown(shown)}: local files are not accepted by this deployment (no"
                f" GOSSIPSIM_GRAPH_ROOTS); {_OBJECT_HINT}",
                field=field,
            )
        try:
            real = Path(os.path.realpath(path))
        except (OSError, ValueError):
            real = None
        if real is None or not any(real.is_relative_to(root) for root in self.roots):
            raise GraphError(
                f"{_shown(shown)} is outside the graph roots the operator allowed"
                f" (GOSSIPSIM_GRAPH_ROOTS); {_OBJECT_HINT}",
                field=field,
            )

    def object_file(self, key: str, *, field: str) -> Path:
        """The local copy of a fetched graph object."""
        path = self.objects.get(key)
        if path is None:
            raise GraphError(
                f"object {key} was not fetched from the store before the graph was built"
                " (a bug in gossipsim: fetch_graph_objects comes first)",
                field=field,
            )
        return path


LOCAL_INPUTS = GraphInputs(roots=None)
"""Any local file, with the default byte cap: ``gossipsim run`` on the user's own machine."""

SERVICE_INPUTS = GraphInputs(roots=())
"""No local files at all, the default byte cap: a deployment's services unless configured."""


def check_object_key(raw: object, *, field: str) -> str:
    """``raw`` as a graph object key (``graphs/…``), or :class:`GraphError` naming ``field``.

    Stricter than the stores' own rule: ids' alphabet per segment, under ``graphs/``, so a spec
    can reach neither results nor status documents nor anything outside the store.
    """
    expected = (
        f"must be a store key under {GRAPH_OBJECT_PREFIX}: '/'-separated names of letters,"
        " digits, '.', '_', '=' and '-', each starting with a letter or a digit (so no '..'),"
        f" at most {MAX_OBJECT_KEY_LENGTH} characters"
    )
    if not isinstance(raw, str):
        raise GraphError(f"{expected}; got a {type(raw).__name__}", field=field)
    segments = raw.split("/")
    if (
        len(raw) > MAX_OBJECT_KEY_LENGTH
        or not raw.startswith(GRAPH_OBJECT_PREFIX)
        or len(segments) < 2
        or any(_KEY_SEGMENT.fullmatch(segment) is None for segment in segments)
    ):
        raise GraphError(f"{expected}; got {_shown(raw)}", field=field)
    return raw


def read_capped(path: Path, *, max_bytes: int, source: str, field: str | None) -> bytearray:
    """The bytes of ``path``, at most ``max_bytes``, gunzipped or bunzipped when ``source``
    (the path or key as the spec gave it, which errors name) ends in ``.gz`` or ``.bz2``.

    Read in chunks that stop one byte past the cap, so a compression bomb costs the cap and no
    more. Errors never say anything about what was read.
    """
    suffix = Path(source).suffix
    compressed = suffix in (".gz", ".bz2")
    try:
        with path.open("rb") as raw_stream:
            stream: io.BufferedIOBase = raw_stream
            if suffix == ".gz":
                stream = gzip.GzipFile(fileobj=raw_stream, mode="rb")
            elif suffix == ".bz2":
                stream = bz2.BZ2File(raw_stream, mode="rb")
            data = bytearray()
            while len(data) <= max_bytes:
                chunk = stream.read(min(_CHUNK, max_bytes + 1 - len(data)))
                if not chunk:
                    break
                data += chunk
    except (EOFError, zlib.error, OSError) as error:
        if compressed and not isinstance(error, FileNotFoundError | PermissionError):
            kind = "gzip" if suffix == ".gz" else "bzip2"
            raise GraphError(
                f"cannot decompress {source}: not complete {kind} data", field=field
            ) from None
        raise GraphError(f"cannot read {source} ({type(error).__name__})", field=field) from None
    if len(data) > max_bytes:
        after = " once decompressed" if compressed else ""
        raise GraphError(
            f"{source} is larger than {max_bytes:,} bytes{after}; raise"
            " GOSSIPSIM_MAX_FILE_BYTES if the machine has the memory",
            field=field,
        )
    return data


def _shown(path: object) -> str:
    """A path or key from a spec, quoted, and cut short if a spec sent a very long one."""
    text = repr(str(path))
    return text if len(text) <= 200 else f"{text[:197]}..."


def _joined(raw: str | Path, base_dir: Path | None) -> Path:
    path = Path(raw).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    return path
