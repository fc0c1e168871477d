"""Give freed heap memory back to the operating system.

glibc keeps freed small and medium blocks in its heap; after building a large graph or
parsing a multi-megabyte shard configuration, hundreds of MB can stay resident though unused.
``malloc_trim`` returns them. A no-op where glibc is not the allocator.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools


@functools.cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.malloc_trim  # noqa: B018 (probe: absent outside glibc)
    except (OSError, AttributeError):
        return None
    return libc


def release_free_memory() -> None:
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
