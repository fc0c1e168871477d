"""An :class:`~gossipsim.common.storage.store.ObjectStore` over a local directory.

The embedded mode writes results here with the same key layout as the S3 bucket, so a key
``runs/r1/result.json`` is the file ``<root>/runs/r1/result.json`` and a user can read it
with ordinary tools.

Design decisions:

* A put writes a temporary file beside the target, fsyncs it, ``os.replace``-s it onto the
  target (atomic on POSIX) and fsyncs the directory: after a crash a reader sees the old
  object or the new one, never a part. Temporary names start with :data:`TEMP_PREFIX`, which
  keys may not use and ``list`` skips, so a crash's leftover is never taken for an object.
* Keys are checked before they touch the filesystem: ``..``, absolute paths, backslashes or
  NUL would escape the root or mean different things on different systems.
* Blocking I/O runs in a worker thread so a large result or a slow disk does not stall the
  event loop that also serves the bus and gRPC.
* The content type is ignored: a file has nowhere to keep it but a sidecar file, which would
  break the "same layout as the bucket" promise; readers go by the extension.
* Unlike S3, ``a`` and ``a/b`` cannot both be objects (a file is not a directory); our key
  layouts never need it, and such a put raises OSError. ``delete`` leaves empty directories:
  removing them would race with a put that has just created one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from pathlib import Path

from gossipsim.common.storage.store import ObjectNotFound, check_key

TEMP_PREFIX = ".gossipsim-tmp-"
"""File names starting with this are in-flight writes, never objects."""


def _check_key(key: str) -> None:
    """The common key rule, plus: names of in-flight temp files are reserved."""
    check_key(key)
    if any(segment.startswith(TEMP_PREFIX) for segment in key.split("/")):
        raise ValueError(f"invalid object key {key!r}: {TEMP_PREFIX!r} is reserved")


def _fsync_dir(path: Path) -> None:
    """Make a directory's entries (a rename, a new child) survive a power loss."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _make_dirs(root: Path, directory: Path) -> None:
    """Create ``directory`` (under ``root``) and make each new entry durable."""
    missing = []
    while not directory.is_dir() and directory != root:
        missing.append(directory)
        directory = directory.parent
    if not root.is_dir():
        root.mkdir(parents=True, exist_ok=True)
    for new in reversed(missing):
        new.mkdir(exist_ok=True)  # exist_ok: a concurrent put may create it first
        _fsync_dir(new.parent)


def _list_files(root: Path, start: Path, prefix: str) -> list[str]:
    """Sorted keys of the objects under ``start`` whose key starts with ``prefix``."""
    keys = []
    for dirpath, _dirnames, filenames in os.walk(start):
        base = Path(dirpath).relative_to(root).as_posix()
        for name in filenames:
            key = name if base == "." else f"{base}/{name}"
            if not name.startswith(TEMP_PREFIX) and key.startswith(prefix):
                keys.append(key)
    return sorted(keys)


class LocalDirectoryStore:
    """Objects as files under ``root``; see the module docstring for the guarantees."""

    def __init__(self, root: Path) -> None:
        self._root = Path(root).resolve()

    @property
    def root(self) -> Path:
        return self._root

    def _path(self, key: str) -> Path:
        _check_key(key)
        return self._root.joinpath(*key.split("/"))

    async def put(
        self, key: str, data: bytes, *, content_type: str = "application/octet-stream"
    ) -> None:
        await asyncio.to_thread(self._put, self._path(key), data)

    def _put(self, target: Path, data: bytes) -> None:
        _make_dirs(self._root, target.parent)
        temp = target.parent / f"{TEMP_PREFIX}{target.name}.{secrets.token_hex(8)}"
        # O_EXCL: a fresh file of our own; 0o666 lets the umask decide, as for any user file.
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temp, target)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        _fsync_dir(target.parent)

    async def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            # A directory is a prefix, not an object; a file in the path means no such key.
            raise ObjectNotFound(key) from None

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._path(key).is_file)

    async def list(self, prefix: str) -> list[str]:
        # Walk only the deepest directory the prefix names in full; filter by string prefix.
        directory = prefix.rpartition("/")[0]
        try:
            start = self._path(directory) if directory else self._root
        except ValueError:
            return []  # no valid key lies under an invalid directory
        return await asyncio.to_thread(_list_files, self._root, start, prefix)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._delete, self._path(key))

    @staticmethod
    def _delete(path: Path) -> None:
        # No object under this key (or a directory, which is a prefix): already deleted.
        with contextlib.suppress(FileNotFoundError, NotADirectoryError, IsADirectoryError):
            path.unlink()

    def location(self, key: str) -> str:
        return str(self._path(key))
