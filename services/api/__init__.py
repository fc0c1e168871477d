"""The Python API: whole simulations and their results, for scripts and notebooks.

``gossipsim.run(spec)`` runs a spec with the embedded services and returns its
:class:`Results` (pandas DataFrames ``summary``, ``averaged``, ``rounds`` and the
``manifest``); ``gossipsim.load_results(location)`` reads the results of a simulation run
earlier, here or by a deployment. Both work inside a running event loop (Jupyter); ``run_async``
and ``load_results_async`` are their awaitable twins. docs/python-api.md shows them in use.

The top-level package re-exports these names lazily (``gossipsim.run`` …), so that
``import gossipsim`` stays cheap for the services, which never use them.
"""

from gossipsim.api.results import (
    NotCompleted,
    Results,
    ResultsNotFound,
    load_results,
    load_results_async,
)
from gossipsim.api.simulation import InvalidSpec, run, run_async

__all__ = [
    "InvalidSpec",
    "NotCompleted",
    "Results",
    "ResultsNotFound",
    "load_results",
    "load_results_async",
    "run",
    "run_async",
]
