"""The collector: round telemetry and run outcomes in, the results layout out.

The layout (keys and manifest) is a contract with its readers:
``gossipsim.common.contracts.results_layout``; the tables are built in results.py.

Every event is written to the object store before it is acked, under a key derived from the
event (run, attempt, first round), so a redelivered event rewrites the same object: nothing
is lost when the collector dies and nothing is counted twice. On simulation.completed the
tables and the manifest are rebuilt from what is stored, then results.stored is published.

A run.completed that arrives before all of its run's telemetry is stored is expected (events
processed out of order, a redelivered part still on its way): it raises
:class:`IncompleteTelemetry`, a :class:`~gossipsim.common.errors.Retry`, and is requeued after
a short delay, logged as such rather than as a crash; it is dead-lettered if the telemetry
still has not come by the queue's delivery limit. Anything else that raises is a bug: the bus
logs its traceback and requeues the event.

Messages are not believed on their word (plans.py): an event is recorded only for a simulation
the scheduler accepted and a run in its plan, and only until the simulation's manifest is
written; anything else is acked, logged as a warning with its ids (never its content) and
left out. A completed simulation's files are never written again: a later simulation.completed
only announces results.stored again (the scheduler may have missed it). simulation.completed is
acted on only when the scheduler's own record says the simulation has finished, and the
manifest's counts are the collector's: ``runs_total`` from the plan, succeeded and failed from
the stored results of planned runs. A planned run without a result when every run is done
(its outcome was lost) is waited for until the completion's last delivery, then counted as
failed. The collector assumes it is the only one (one replica, as deployed): it remembers which
simulations it has completed.

On simulation.completed the tables are written (summary.csv, averaged.csv and the long table of
rounds, part by part, holding one part's rounds at a time), then their typed copies
(summary.parquet, rounds.parquet: parquet.py), the plots (plots.py) and report.html (report.py),
the manifest last, and after it the ``latest`` pointer of the simulation's name
(docs/results.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import orjson
import structlog

from gossipsim.collector import parquet, plots, report, results, run_visuals
from gossipsim.collector.plans import PlanSource, StoredPlans
from gossipsim.common.contracts import results_layout as layout
from gossipsim.common.contracts.status_document import (
    CANCELLED,
    FINISHED_PHASES,
    AcceptedPlan,
)
from gossipsim.common.errors import Retry
from gossipsim.common.graphs.drawing import GraphDrawing
from gossipsim.common.messaging.bus import Bus, Consumer, Delivery
from gossipsim.common.messaging.codec import from_json, to_json
from gossipsim.common.messaging.consuming import (
    message_context,
    message_or_dead_letter,
    retry_later,
)
from gossipsim.common.messaging.messages import (
    Message,
    ResultsStored,
    RunCompleted,
    RunFailed,
    RunGraph,
    RunRound,
    SimulationAccepted,
    SimulationCompleted,
    SimulationId,
)
from gossipsim.common.messaging.publishing import publish_message
from gossipsim.common.messaging.topology import Topology
from gossipsim.common.storage.store import ObjectNotFound, ObjectStore

log = structlog.get_logger(__name__)

JSON = "application/json"
PARQUET = run_visuals.PARQUET  # one name for Parquet's content type
PNG = "image/png"
HTML = "text/html; charset=utf-8"
CONCURRENT_READS = 8  # rounds.jsonl files read at once for the long table (S3 pool: 10)


class IncompleteTelemetry(Retry):
    """run.completed arrived before all of the run's round telemetry: try it again later."""


class IncompleteResults(Retry):
    """simulation.completed arrived before every planned run's result: try it again later."""


def _visualize_summary(runs: list[dict[str, Any]]) -> layout.VisualizeSummary | None:
    """The manifest's ``visualize`` from the runs' result.json, when any run asked for it."""
    records = [(run, run["visualization"]) for run in runs if "visualization" in run]
    if not records:
        return None
    not_drawn = {
        str(run.get("plan", {}).get("graph", "")): str(record.get("reason", ""))
        for run, record in records
        if not record.get("drawn")
    }
    drawn = sum(bool(record.get("drawn")) for _, record in records)
    return {"runs_drawn": drawn, "runs_not_drawn": len(records) - drawn, "not_drawn": not_drawn}


class CollectorService:
    """Consumes with prefetch 1 by default: events of a run are then stored in the order they
    were published, which is the order the runner sent them. ``plans``: where the scheduler's
    record of accepted simulations is read (default: its status documents in ``store``)."""

    def __init__(
        self,
        *,
        bus: Bus,
        topology: Topology,
        store: ObjectStore,
        prefetch: int = 1,
        plans: PlanSource | None = None,
    ) -> None:
        self._bus = bus
        self._topology = topology
        self._store = store
        self._prefetch = prefetch
        self._plans = plans if plans is not None else StoredPlans(store)
        self._consumer: Consumer | None = None
        self._preloading: asyncio.Task[None] | None = None
        self._with_manifest: set[str] = set()  # simulations completed
        self._without_manifest: set[str] = set()  # simulations seen open

    async def start(self) -> None:
        # matplotlib's import off the critical path: plots are drawn when a simulation ends
        self._preloading = asyncio.create_task(self._preload_plots())
        self._consumer = await self._bus.consume(
            self._topology.collector_queue, self.handle, prefetch=self._prefetch
        )

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.cancel()
        if self._preloading is not None:
            await self._preloading  # a thread cannot be stopped; it is done in a second

    async def _preload_plots(self) -> None:
        try:
            await asyncio.to_thread(plots.preload)
        except Exception:  # the plots will say so when drawn; the tables do not need them
            log.exception("matplotlib could not be imported")

    async def handle(self, delivery: Delivery) -> None:
        message = await message_or_dead_letter(delivery)
        if message is None:
            return
        last_try = delivery.delivery_count >= self._topology.delivery_limit
        with message_context(message):
            try:
                await self._store_event(message, last_try=last_try)
            except Retry as retry:
                await retry_later(delivery, retry, limit=self._topology.delivery_limit)
                return
            await delivery.ack()

    async def _store_event(self, message: Message, *, last_try: bool = False) -> None:
        if isinstance(message, RunRound | RunGraph | RunCompleted | RunFailed):
            if not await self._believed(message):
                return
            if isinstance(message, RunRound):
                await self._round(message)
            elif isinstance(message, RunGraph):
                await self._graph_drawing(message)
            elif isinstance(message, RunCompleted):
                await self._completed(message, last_try=last_try)
            else:
                await self._failed(message)
        elif isinstance(message, SimulationAccepted):
            await self._accepted(message)
        elif isinstance(message, SimulationCompleted):
            await self._finish(message, last_try=last_try)

    # -- what is believed ----------------------------------------------------------------

    async def _accepted_plan(self, message: Message, simulation_id: str) -> AcceptedPlan | None:
        plan = await self._plans.accepted_plan(simulation_id)
        if plan is None:
            log.warning("event of a simulation the scheduler never accepted", kind=message.kind)
        return plan

    async def _is_completed(self, simulation_id: str) -> bool:
        """Whether the simulation's manifest is written (asked of the store once per
        simulation and process; afterwards this collector knows, being the only one)."""
        if simulation_id in self._with_manifest:
            return True
        if simulation_id not in self._without_manifest:
            manifest = layout.simulation_key(simulation_id, layout.MANIFEST)
            if await self._store.exists(manifest):
                self._with_manifest.add(simulation_id)
                return True
            self._without_manifest.add(simulation_id)
        return False

    async def _believed(self, message: RunRound | RunGraph | RunCompleted | RunFailed) -> bool:
        """Whether a run's event is to be recorded: the run is planned and its simulation not
        completed. Otherwise the event is logged (ids and kind only) and dropped."""
        plan = await self._accepted_plan(message, message.simulation_id)
        if plan is None:
            return False
        if message.run_id not in plan.run_ids:
            log.warning("event of a run not in the plan", kind=message.kind)
            return False
        if await self._is_completed(message.simulation_id):
            log.warning("event of a completed simulation", kind=message.kind)
            return False
        return True

    async def _accepted(self, message: SimulationAccepted) -> None:
        """submitted.json, from the scheduler's record: the message is only the cue."""
        plan = await self._accepted_plan(message, message.simulation_id)
        if plan is None:
            return
        if await self._is_completed(message.simulation_id):
            log.warning("event of a completed simulation", kind=message.kind)
            return
        await self._put_json(
            layout.simulation_key(message.simulation_id, layout.SUBMITTED),
            {
                "simulation_id": plan.simulation_id,
                "name": plan.name,
                "runs_total": plan.runs_total,
                "spec": plan.spec,
                "accepted_at": plan.accepted_at,
            },
        )

    # -- recording -----------------------------------------------------------------------

    async def _put_json(self, key: str, value: Any) -> None:
        await self._store.put(
            key, orjson.dumps(value, option=orjson.OPT_INDENT_2), content_type=JSON
        )

    async def _get_json(self, key: str) -> Any:
        return orjson.loads(await self._store.get(key))

    async def _round(self, message: RunRound) -> None:
        key = layout.part_key(
            message.simulation_id, message.run_id, message.attempt, message.first_round
        )
        await self._put_json(key, {"first_round": message.first_round, "rounds": message.rounds})

    async def _graph_drawing(self, message: RunGraph) -> None:
        """A graph's drawing, kept once per graph (by its source digest) for its runs."""
        await self._put_json(
            layout.drawing_key(message.simulation_id, message.graph_key), to_json(message.drawing)
        )

    async def _completed(self, message: RunCompleted, *, last_try: bool = False) -> None:
        sim, run = message.simulation_id, message.run_id
        parts = await self._store.list(layout.parts_prefix(sim, run, message.attempt))
        lines: list[dict[str, Any]] = []
        for key in parts:
            part = await self._get_json(key)
            for offset, telemetry in enumerate(part["rounds"]):
                lines.append({"round": part["first_round"] + offset, **telemetry})
        if len(lines) != message.rounds + 1 and last_try:
            # The rest will not come (dead-lettered or lost): a run without its telemetry is
            # a failed run, never a success with a hole in its results.
            log.warning("telemetry of a completed run lost", rounds_stored=len(lines))
            await self._failed(
                RunFailed(
                    simulation_id=sim,
                    run_id=run,
                    attempt=message.attempt,
                    error=(
                        f"results lost: {len(lines)} of {message.rounds + 1} rounds of telemetry"
                        " reached the collector (the rest was dead-lettered or lost)"
                    ),
                    retryable=False,
                    plan=message.plan,
                )
            )
            return
        if len(lines) != message.rounds + 1:
            # Telemetry of this run is still on its way (or was processed out of order):
            # run.completed is requeued until every part is stored.
            raise IncompleteTelemetry(
                f"run {message.run_id} attempt {message.attempt}: {len(lines)} of "
                f"{message.rounds + 1} rounds stored so far"
            )
        drawing = await self._drawing_of(message, last_try=last_try)
        extra = await asyncio.to_thread(
            run_visuals.run_files, run, message.plan, dict(message.metrics), lines, drawing
        )
        await self._store.put(
            layout.run_key(sim, run, layout.ROUNDS),
            b"\n".join(orjson.dumps(line) for line in run_visuals.split_history(lines)) + b"\n",
            content_type="application/x-ndjson",
        )
        for name, data in extra.files.items():
            await self._store.put(
                layout.run_key(sim, run, name), data, content_type=run_visuals.content_type(name)
            )
        record: dict[str, Any] = {
            "run_id": message.run_id,
            "simulation_id": message.simulation_id,
            "status": "completed",
            "attempt": message.attempt,
            "rounds": message.rounds,
            "converged": message.converged,
            "final": message.final,
            "duration_s": message.duration_s,
            "plan": results.plan_record(message.plan),
            "metrics": message.metrics,
            "files": extra.names,
        }
        if extra.visualization is not None:
            record["visualization"] = extra.visualization
        # result.json last: a run with one has all of its files
        await self._put_json(layout.run_key(sim, run, layout.RESULT), record)

    async def _drawing_of(self, message: RunCompleted, *, last_try: bool) -> GraphDrawing | None:
        """The drawing of the run's graph when the run is to be drawn: the runner sends it
        before the run's telemetry, but events may be processed out of order, so its absence
        is waited for (IncompleteTelemetry) until the last delivery, then the run is recorded
        without drawings (run_visuals says why)."""
        plan = message.plan
        if plan is None or plan.settings.visualize is None:
            return None
        if run_visuals.size_reason(plan.settings.visualize, dict(message.metrics)) is not None:
            return None
        key = layout.drawing_key(message.simulation_id, plan.graph.key)
        try:
            stored = await self._get_json(key)
        except ObjectNotFound:
            if last_try:
                log.warning("drawing of a visualized run's graph lost: run left undrawn")
                return None
            raise IncompleteTelemetry(
                f"run {message.run_id}: its graph's drawing is not stored yet"
            ) from None
        drawing: GraphDrawing = from_json(stored, GraphDrawing, "", "drawing")
        return drawing

    async def _failed(self, message: RunFailed) -> None:
        key = layout.run_key(message.simulation_id, message.run_id, layout.RESULT)
        try:
            existing = await self._get_json(key)
        except ObjectNotFound:
            existing = None
        if existing is not None and existing.get("status") == "completed":
            return  # a late failure report of an attempt that was superseded
        await self._put_json(
            key,
            {
                "run_id": message.run_id,
                "simulation_id": message.simulation_id,
                "status": "failed",
                "attempt": message.attempt,
                "error": message.error,
                "plan": results.plan_record(message.plan),
            },
        )

    async def _finish(self, message: SimulationCompleted, *, last_try: bool) -> None:
        """The tables and the manifest, once: when the scheduler's record says the simulation
        has finished and no manifest is written yet. The message's counts are not used."""
        sim = message.simulation_id
        plan = await self._accepted_plan(message, sim)
        if plan is None:
            return
        if await self._is_completed(sim):
            log.info("results already stored: announced again, nothing written")
            # the latest pointer is no file of the simulation: a crash may have left it behind
            await self._point_latest(
                await self._get_json(layout.simulation_key(sim, layout.MANIFEST))
            )
            await self._announce(sim)
            return
        phase = await self._plans.phase_of(sim)
        if phase not in FINISHED_PHASES:
            log.warning("simulation.completed of a simulation not finished", phase=phase)
            return
        cancelled = phase == CANCELLED
        runs = await self._planned_results(plan)
        missing = plan.runs_total - len(runs)
        if missing and not cancelled:
            if not last_try:
                raise IncompleteResults(
                    f"{missing} of {plan.runs_total} runs have no result stored yet"
                )
            log.warning("runs without a result counted as failed", runs_missing=missing)
        succeeded = sum(run.get("status") == "completed" for run in runs)
        summary = results.summary_rows(runs)
        averaged = results.averaged_rows(runs)
        await self._store.put(
            layout.simulation_key(sim, layout.SUMMARY),
            results.to_csv(*summary),
            content_type="text/csv",
        )
        await self._store.put(
            layout.simulation_key(sim, layout.AVERAGED),
            results.to_csv(*averaged),
            content_type="text/csv",
        )
        curves = plots.Curves(runs)
        parts, rounds_parquet = await self._write_rounds_table(sim, runs, summary[1], curves)
        written = [*parts, *await self._write_typed_tables(sim, summary, rounds_parquet)]
        manifest: layout.Manifest = {
            "simulation_id": sim,
            "name": plan.name,
            "spec": plan.spec,
            "accepted_at": plan.accepted_at,
            "completed_at": datetime.now(UTC).isoformat(),
            "cancelled": cancelled,
            "runs_total": plan.runs_total,
            "runs_succeeded": succeeded,
            # a run lost on its way here failed, unless the simulation was cancelled first
            "runs_failed": len(runs) - succeeded + (0 if cancelled else missing),
            "files": [*layout.MANIFEST_FILES[:2], *written, *layout.MANIFEST_FILES[2:]],
        }
        visualized = _visualize_summary(runs)
        if visualized is not None:
            manifest["visualize"] = visualized
        drawn = await self._write_pages(
            manifest, summary, averaged, curves, report.files_of_runs(runs)
        )
        manifest["files"] = [
            *layout.MANIFEST_FILES[:2],
            *written,
            *drawn,
            *layout.MANIFEST_FILES[2:],
            *layout.run_file_patterns({name for run in runs for name in run.get("files", [])}),
        ]

        # The manifest last: a simulation with one has all of its files (the layout's rule).
        await self._put_json(layout.simulation_key(sim, layout.MANIFEST), manifest)
        self._with_manifest.add(sim)
        self._without_manifest.discard(sim)
        await self._point_latest(manifest)
        await self._announce(sim)

    async def _write_rounds_table(
        self,
        sim: str,
        runs: list[dict[str, Any]],
        summary_rows: list[dict[str, Any]],
        curves: plots.Curves,
    ) -> tuple[list[str], bytes | None]:
        """The long table of rounds, part by part (results.py says what a row holds); only
        one part's rounds are held at a time. Each part's rows go to its CSV and, as one row
        group, to rounds.parquet, and each run's lines to ``curves`` (the convergence plot),
        so rounds.jsonl is read once. Returns the parts' names and rounds.parquet's bytes
        (None above parquet.ROUNDS_PARQUET_MAX_ROWS rows)."""
        columns = results.rounds_columns(runs)
        parameters = [c.removeprefix("param_") for c in columns if c.startswith("param_")]
        table_parts = results.rounds_parts(runs)
        rows_total = sum(int(run.get("rounds", 0)) + 1 for part in table_parts for run in part)
        typed = None
        if rows_total <= parquet.ROUNDS_PARQUET_MAX_ROWS:
            typed = parquet.RoundsParquet(parquet.rounds_schema(columns, summary_rows))
        else:
            log.warning("long table too large for rounds.parquet: left out", rows=rows_total)
        names = []
        limit = asyncio.Semaphore(CONCURRENT_READS)

        async def lines_of(run: dict[str, Any]) -> list[dict[str, Any]]:
            async with limit:
                return await self._rounds_lines(sim, run["run_id"])

        for index, members in enumerate(table_parts):
            read = await asyncio.gather(*(lines_of(run) for run in members))
            for run, lines in zip(members, read, strict=True):
                curves.add(run, lines)
            rows: Iterable[list[Any]] = (
                row
                for run, lines in zip(members, read, strict=True)
                for row in results.rounds_rows(run, lines, parameters)
            )
            if typed is not None:
                rows = typed.recording(rows)
            await self._store.put(
                layout.rounds_part_key(sim, index),
                results.rows_to_csv(columns, rows),
                content_type="text/csv",
            )
            if typed is not None:
                typed.end_part()
            names.append(layout.rounds_part_name(index))
        return names, typed.finish() if typed is not None else None

    async def _write_typed_tables(
        self,
        sim: str,
        summary: tuple[list[str], list[dict[str, Any]]],
        rounds_parquet: bytes | None,
    ) -> list[str]:
        """summary.parquet and rounds.parquet (when it was built); returns their names."""
        tables = {layout.SUMMARY_PARQUET: parquet.table_parquet(*summary)}
        if rounds_parquet is not None:
            tables[layout.ROUNDS_PARQUET] = rounds_parquet
        for name, data in tables.items():
            await self._store.put(layout.simulation_key(sim, name), data, content_type=PARQUET)
        return list(tables)

    async def _write_pages(
        self,
        manifest: layout.Manifest,
        summary: tuple[list[str], list[dict[str, Any]]],
        averaged: tuple[list[str], list[dict[str, Any]]],
        curves: plots.Curves,
        run_files: dict[str, list[str]],
    ) -> list[str]:
        """The plots and report.html (report.py, the code path `gossipsim report` takes too),
        drawn on a worker thread (the bus goes on meanwhile); returns their names. What cannot
        be drawn is logged and left out: the tables matter more, and a simulation must not
        stay without its manifest for a picture. The page shows the manifest's facts but not
        the names of the plots and itself, which it is given before they are added."""
        try:
            pages = await asyncio.to_thread(
                report.render_files, manifest, summary, averaged, curves, run_files
            )
        except Exception:
            log.exception("plots and report not drawn: left out of the results")
            return []
        sim = manifest["simulation_id"]
        for name, data in pages.items():
            content_type = HTML if name == layout.REPORT else PNG
            await self._store.put(layout.simulation_key(sim, name), data, content_type=content_type)
        return list(pages)

    async def _rounds_lines(self, sim: str, run_id: str) -> list[dict[str, Any]]:
        """A completed run's rounds.jsonl (written before its result.json, so it is there)."""
        try:
            data = await self._store.get(layout.run_key(sim, run_id, layout.ROUNDS))
        except ObjectNotFound:
            log.warning("rounds of a completed run missing: left out of the long table")
            return []
        return [orjson.loads(line) for line in data.splitlines() if line.strip()]

    async def _point_latest(self, manifest: layout.Manifest) -> None:
        """latest/<name>.json names this simulation unless the pointer names one completed
        later. A cancelled simulation is never the latest: its tables are partial."""
        if manifest["cancelled"]:
            return
        key = layout.latest_key(manifest["name"])
        try:
            current = await self._get_json(key)
            newer = layout.completion_time(current) >= layout.completion_time(manifest)
        except (ObjectNotFound, orjson.JSONDecodeError):  # none yet, or not ours to trust
            newer = False
        if newer:
            return
        sim = manifest["simulation_id"]
        pointer: layout.LatestPointer = {
            "simulation_id": sim,
            "name": manifest["name"],
            "completed_at": manifest["completed_at"],
            "location": self._store.location(layout.simulation_prefix(sim).rstrip("/")),
        }
        await self._put_json(key, pointer)

    async def _planned_results(self, plan: AcceptedPlan) -> list[dict[str, Any]]:
        """The stored result.json of every planned run (nothing else is stored, but the
        tables are made of planned runs only all the same)."""
        prefix = layout.runs_prefix(plan.simulation_id)
        runs = []
        for key in await self._store.list(prefix):
            run_id = key.removeprefix(prefix).partition("/")[0]
            if layout.is_result_key(key) and run_id in plan.run_ids:
                runs.append(await self._get_json(key))
        return runs

    async def _announce(self, simulation_id: SimulationId) -> None:
        prefix = layout.simulation_prefix(simulation_id)
        stored = ResultsStored(
            simulation_id=simulation_id, location=self._store.location(prefix.rstrip("/"))
        )
        await self._publish(stored)
        log.info("results stored", location=stored.location)

    async def _publish(self, message: Message) -> None:
        await publish_message(self._bus, self._topology, message)
