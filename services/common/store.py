"""The object store interface: whole objects under string keys, as S3 has them.

Implementations: :class:`gossipsim.common.local_store.LocalDirectoryStore` (a directory; the
embedded mode writes results there with the same layout as the bucket) and the S3 one over
aioboto3 (distributed mode). Writes are whole-object and atomic: a reader sees the old object
or the new one, never a part.
"""

from __future__ import annotations

from typing import Protocol


class ObjectNotFound(KeyError):
    """No object under this key."""


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
