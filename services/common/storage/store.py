"""The object store interface: whole objects under string keys, as S3 has them.

Implementations: :class:`gossipsim.common.storage.local_store.LocalDirectoryStore` (a directory; the
embedded mode writes results there with the same layout as the bucket) and the S3 one over
aioboto3 (distributed mode). Writes are whole-object and atomic: a reader sees the old object
or the new one, never a part.
"""

from __future__ import annotations

from typing import Protocol


class ObjectNotFound(KeyError):
    """No object under this key."""


def check_key(key: str) -> None:
    """Raise ValueError, naming the key, unless it is a safe relative '/'-separated path.

    The same rule for every store, so a key that works on a laptop works in the bucket.
    """
    if not isinstance(key, str) or not key:
        raise ValueError(f"invalid object key {key!r}: must be a non-empty string")
    if "\\" in key or "\0" in key:
        raise ValueError(f"invalid object key {key!r}: backslashes and NUL are not allowed")
    if key.startswith("/"):
        raise ValueError(f"invalid object key {key!r}: must be relative, not absolute")
    if any(segment in ("", ".", "..") for segment in key.split("/")):
        raise ValueError(f"invalid object key {key!r}: empty, '.' or '..' path segment")


class ObjectStore(Protocol):
    async def put(
        self, key: str, data: bytes, *, content_type: str = "application/octet-stream"
    ) -> None: ...

    async def get(self, key: str) -> bytes:
        """The object's bytes; ObjectNotFound if there is none."""
        ...

    async def exists(self, key: str) -> bool: ...

    async def list(self, prefix: str) -> list[str]:
        """Keys under ``prefix``, sorted."""
        ...

    async def delete(self, key: str) -> None: ...

    def location(self, key: str) -> str:
        """Where a key can be found by a user: a path or an s3:// URL."""
        ...
