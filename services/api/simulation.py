"""``gossipsim.run(spec)``: a whole simulation from Python, its results as DataFrames.

What ``gossipsim run SPEC`` does, as a function: the spec runs on the four services wired in
this process (:func:`gossipsim.embedded.run_embedded`), the results are written to ``out`` in
the results layout, and they come back as :class:`~gossipsim.api.results.Results`. The limits
the command line reads from the environment (``GOSSIPSIM_MAX_VERTICES``, ``_MAX_EDGES``,
``_MAX_FILE_BYTES``, ``_MAX_SHARDS``) apply here the same way.

- A spec is a mapping (docs/spec.md), or a path to a YAML or JSON spec or a seed
  ``Simulation`` resource; relative graph files resolve from the file's folder (from the
  current directory, or ``base_dir``, for a mapping).
- networkx graphs may stand in the spec's ``graphs`` (:mod:`.inline_graphs`).
- An invalid spec raises :class:`InvalidSpec` (an ``InvalidInput``) with the field and reason
  that ``gossipsim run`` prints, every error the check found in it. Nothing is returned quietly
  for a spec that did not run. Runs that failed do not raise: they are rows of ``summary``
  with their ``error``, counted in ``manifest["runs_failed"]``, and logged as a warning.
- It works from a script and inside a running event loop (Jupyter, code inside
  ``asyncio.run``), where it runs on a worker thread (:mod:`.blocking`); :func:`run_async` is
  the awaitable twin.
- The simulation id is a digest of the spec, as for ``gossipsim run``: a spec whose results
  ``out`` already holds, completed, is not run again; its stored results are returned, with a
  warning (``rerun=True`` runs it again and replaces them: after a graph file changed).
- Logging follows ``GOSSIPSIM_LOG_LEVEL``, ``warning`` when unset.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import structlog

from gossipsim.api.blocking import run_blocking
from gossipsim.api.inline_graphs import inline_graphs
from gossipsim.api.results import Results, load_results_async
from gossipsim.common.errors import InvalidInput
from gossipsim.common.runtime.logging import configure_library_logging
from gossipsim.common.storage.local_store import LocalDirectoryStore

__all__ = ["InvalidSpec", "run", "run_async"]

log = structlog.get_logger(__name__)

Spec = Mapping[str, Any] | str | os.PathLike[str]
Progress = Callable[[int, int, int, float], None]  # runs done, total, rounds done, seconds


class InvalidSpec(InvalidInput):
    """The spec was refused before anything ran. ``field`` is the path of the culprit in the
    spec (empty when it is the spec as a whole), ``reason`` the whole message."""

    def __init__(self, reason: str, *, field: str | None = None) -> None:
        prefix = f"{field}: " if field else ""
        if prefix and reason.startswith(prefix):
            super().__init__(reason[len(prefix) :], field=field)
        else:  # several problems: the reason lists each with its field
            super().__init__(reason)
            self.field = field or None
        self.reason = str(self)


def run(
    spec: Spec,
    *,
    out: str | os.PathLike[str] = "results",
    graphs_dir: str | os.PathLike[str] | None = None,
    base_dir: str | os.PathLike[str] | None = None,
    runners: int = 1,
    progress: bool | Progress = False,
    rerun: bool = False,
) -> Results:
    """Run the whole spec and return its results (``summary``, ``averaged``, ``rounds`` as
    DataFrames, ``manifest``, ``simulation_id``, ``location``).

    ``out``: the results directory (``OUT/simulations/<id>/``). ``graphs_dir``: the ``Graph``
    files of a seed ``Simulation``. ``base_dir``: where relative graph files of a mapping spec
    start. ``runners``: runs in parallel. ``progress``: True for a progress bar on standard
    error, or a callback ``(runs_done, runs_total, rounds_done, seconds)``. ``rerun``: run
    a spec whose results ``out`` already holds again, replacing them (by default they are
    returned as they are).
    """
    return run_blocking(
        lambda: run_async(
            spec,
            out=out,
            graphs_dir=graphs_dir,
            base_dir=base_dir,
            runners=runners,
            progress=progress,
            rerun=rerun,
        )
    )


async def run_async(
    spec: Spec,
    *,
    out: str | os.PathLike[str] = "results",
    graphs_dir: str | os.PathLike[str] | None = None,
    base_dir: str | os.PathLike[str] | None = None,
    runners: int = 1,
    progress: bool | Progress = False,
    rerun: bool = False,
) -> Results:
    """:func:`run` for code that runs in an event loop and can await."""
    # the services only when a simulation runs: load_results alone does not need them
    from gossipsim.common.runtime.settings import graph_limits, local_graph_inputs, max_shards
    from gossipsim.embedded import run_embedded

    configure_library_logging(os.environ)
    if not isinstance(runners, int) or isinstance(runners, bool) or runners < 1:
        raise InvalidInput(f"must be a whole number >= 1, got {runners!r}", field="runners")
    document, spec_dir = _spec_document(spec)
    out_dir = Path(out)
    document, objects = inline_graphs(document)
    store = LocalDirectoryStore(out_dir)
    for key, data in objects.items():
        await store.put(key, data, content_type="application/graphml+xml")
    stored = await _stored_results(document, out_dir, rerun=rerun)
    if stored is not None:
        return stored
    try:
        inputs = local_graph_inputs(os.environ)  # any local file, GOSSIPSIM_MAX_FILE_BYTES
        limits, shards_cap = graph_limits(os.environ), max_shards(os.environ)
    except ValueError as error:
        raise InvalidInput(f"invalid setting: {error}") from None
    bar = _ProgressBar() if progress is True else None
    report = bar if bar is not None else (progress if callable(progress) else None)
    try:
        outcome = await run_embedded(
            document,
            out_dir=out_dir,
            graphs_dir=Path(graphs_dir) if graphs_dir is not None else None,
            base_dir=Path(base_dir) if base_dir is not None else spec_dir,
            runners=runners,
            progress=report,
            inputs=inputs,
            limits=limits,
            max_shards=shards_cap,
        )
    finally:
        if bar is not None:
            bar.end()
    if outcome.rejection is not None:
        raise InvalidSpec(outcome.rejection.reason, field=outcome.rejection.field)
    results = await load_results_async(outcome.location)
    warnings = outcome.state.warnings if outcome.state is not None else ()
    for warning in warnings:
        log.warning(warning, simulation_id=results.simulation_id)
    results = dataclasses.replace(results, warnings=warnings)
    if results.runs_failed:
        log.warning(
            "runs failed: their errors are in results.summary['error']",
            runs_failed=results.runs_failed,
            runs_total=results.manifest.get("runs_total"),
            simulation_id=results.simulation_id,
        )
    return results


async def _stored_results(
    document: dict[str, Any], out_dir: Path, *, rerun: bool
) -> Results | None:
    """The results of this very spec, if ``out`` already holds them completed.

    The simulation id is a digest of the spec, so running it again would be the same
    simulation, whose completed results the collector never rewrites: the runs would be made
    and thrown away. The stored results are returned instead, with a warning saying so.
    """
    from gossipsim.common.contracts import results_layout as layout
    from gossipsim.common.spec.simulation_spec import simulation_id_for

    try:
        simulation_id = simulation_id_for(document)
    except InvalidInput:
        return None  # an unusable name: the spec's check reports it
    folder = out_dir / layout.SIMULATIONS / simulation_id
    if not (folder / layout.MANIFEST).is_file():
        return None
    if rerun:
        shutil.rmtree(folder)
        return None
    log.warning(
        "this spec has completed before: its stored results are returned (the same spec is the"
        " same simulation; rerun=True runs it again and replaces them)",
        simulation_id=simulation_id,
        location=str(folder),
    )
    return await load_results_async(folder)


def _spec_document(spec: Spec) -> tuple[dict[str, Any], Path]:
    """The spec as a mapping, and where its relative graph files start."""
    from gossipsim.common.spec.simulation_spec import load_spec_file

    if isinstance(spec, Mapping):
        return dict(spec), Path.cwd()
    if isinstance(spec, str | os.PathLike):
        path = Path(spec)
        try:
            return load_spec_file(path), path.resolve().parent
        except InvalidInput as error:
            raise InvalidSpec(str(error), field=error.field) from None
    raise InvalidSpec(
        "a spec is a mapping (docs/spec.md) or the path of a YAML or JSON spec file,"
        f" got {type(spec).__name__}"
    )


class _ProgressBar:
    """The progress bar of ``gossipsim run``, on standard error."""

    def __call__(self, done: int, total: int, rounds: int, elapsed: float) -> None:
        rate = rounds / elapsed if elapsed > 0 else 0.0
        width = 30
        filled = int(width * done / total) if total else width
        sys.stderr.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} runs  {rate:,.0f} rounds/s"
        )
        sys.stderr.flush()

    def end(self) -> None:
        sys.stderr.write("\n")
        sys.stderr.flush()
