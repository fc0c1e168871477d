"""gossipsim: gossip-protocol simulations on network graphs.

The ``services`` directory is the ``gossipsim`` import package: ``gossipsim.common`` is the
shared code, ``gossipsim.node``/``runner``/``scheduler``/``collector`` are the services, and a
service never imports another service. ``gossipsim.run``, ``run_async``, ``load_results`` and
``Results`` are the Python API (``gossipsim.api``, docs/python-api.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gossipsim.api import (
        InvalidSpec,
        Results,
        load_results,
        load_results_async,
        run,
        run_async,
    )

__version__ = "0.1.0"

# The Python API (gossipsim.api), imported on first use: `import gossipsim` stays cheap for the
# services and the command line, which never need pandas.
__all__ = [
    "InvalidSpec",
    "Results",
    "__version__",
    "load_results",
    "load_results_async",
    "run",
    "run_async",
]
_API = frozenset(__all__) - {"__version__"}


def __getattr__(name: str) -> Any:
    if name in _API:
        from gossipsim import api

        return getattr(api, name)
    raise AttributeError(f"module 'gossipsim' has no attribute {name!r}")
