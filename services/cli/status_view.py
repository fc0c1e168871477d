"""What ``gossipsim status`` shows: the scheduler's durable state of each simulation.

The scheduler keeps one status document per simulation in the deployment's object store (key
and shape: ``gossipsim.common.contracts.status_document``), so the status of a simulation can
be read from the store alone: no service needs to answer, and a stopped or restarting
scheduler does not make the command hang. Documents are read leniently: a missing field shows
as "-" and an unreadable document as its own row.

Only the summary of each simulation is read (a sweep's run table is kept in chunks beside it):
the failed runs shown are those the summary names, the first ones to fail. Documents of the
earlier layout, with every run inline, read the same.
"""

from __future__ import annotations

from datetime import UTC, datetime

from gossipsim.common.contracts.status_document import (
    STATUS_PREFIX,
    FailedRun,
    SimulationStatus,
    is_status_key,
    read_status,
    run_chunk_key,
    status_key,
)
from gossipsim.common.storage.store import ObjectNotFound, ObjectStore

FAILED_RUNS_SHOWN = 5


async def load_status(store: ObjectStore, simulation_id: str) -> SimulationStatus | None:
    """The simulation's document, or None if the scheduler keeps none for it."""
    key = status_key(simulation_id)
    try:
        return read_status(key, await store.get(key))
    except ObjectNotFound:
        return None


async def load_all(store: ObjectStore) -> list[SimulationStatus]:
    """Every simulation's document, oldest submission first."""
    keys = [k for k in await store.list(STATUS_PREFIX) if is_status_key(k)]
    documents = []
    for key in keys:
        try:
            documents.append(read_status(key, await store.get(key)))
        except ObjectNotFound:
            continue  # deleted between list and get
    return sorted(documents, key=lambda d: (d.submitted_at, d.simulation_id))


def _done(status: SimulationStatus) -> str:
    total = "?" if status.runs_total is None else status.runs_total
    return f"{status.done}/{total}"


def _time(value: str) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _when(value: str) -> str:
    moment = _time(value)
    if moment is None:
        return value or "-"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {seconds:02d}s" if minutes else f"{seconds}s"


def _columns(lines: list[list[str]]) -> str:
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    return "\n".join(
        "  ".join(value.ljust(width) for value, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def rejection(status: SimulationStatus) -> str | None:
    """Why the submission was rejected, if it was."""
    if status.rejected is None:
        return None
    reason = status.rejected["reason"] or "no reason recorded"
    field = status.rejected["field"]
    return reason if not field or reason.startswith(f"{field}:") else f"{field}: {reason}"


def format_table(statuses: list[SimulationStatus]) -> str:
    """One line per simulation: id, name, phase, runs done/total, failed, submitted."""
    lines = [["SIMULATION", "NAME", "PHASE", "DONE", "FAILED", "SUBMITTED"]]
    for status in statuses:
        lines.append(
            [
                status.simulation_id,
                status.name or "-",
                status.phase or "-",
                _done(status),
                str(status.counts["failed"]),
                _when(status.submitted_at),
            ]
        )
    return _columns(lines)


def _failed_runs(status: SimulationStatus) -> list[tuple[str, FailedRun]]:
    return sorted(status.failed_runs.items())


def format_detail(status: SimulationStatus, *, now: datetime | None = None) -> str:
    """One simulation: progress, times, where its results are, and its failed runs."""
    now = now or datetime.now(UTC)
    phase = status.phase or "-"
    counts = ", ".join(
        f"{status.counts[name]} {name}" for name in ("completed", "failed", "running", "queued")
    )
    submitted, finished = _time(status.submitted_at), _time(status.finished_at)
    if submitted and finished:
        took = f" (took {_duration((finished - submitted).total_seconds())})"
    elif submitted and phase == "running":
        took = f" (running for {_duration((now - submitted).total_seconds())})"
    else:
        took = ""
    rejected = rejection(status)
    results = status.results or ("none" if rejected else "not stored yet")
    rows = [
        ("simulation", status.simulation_id),
        ("name", status.name or "-"),
        ("phase", phase),
        ("runs", f"{_done(status)} done: {counts}" if status.runs_total is not None else counts),
        ("submitted", _when(status.submitted_at)),
        ("finished", _when(status.finished_at) + took),
        ("results", results),
    ]
    if rejected:
        rows[3] = ("rejected", rejected)  # instead of run counts: it never had runs
    if status.error:
        rows.append(("error", status.error))
    width = max(len(label) for label, _ in rows)
    lines = [f"{label.ljust(width)}  {value}" for label, value in rows]
    failed = _failed_runs(status)
    if failed:
        total = max(len(failed), status.counts["failed"])
        lines.append(f"failed runs ({total}):")
        for run_id, run in failed[:FAILED_RUNS_SHOWN]:
            attempt = run["attempt"]
            after = f" after {attempt} attempt{'s' if attempt != 1 else ''}" if attempt else ""
            lines.append(f"  {run_id}{after}: {run['error'] or '(no error recorded)'}")
        if total > FAILED_RUNS_SHOWN:
            lines.append(f"  … and {total - FAILED_RUNS_SHOWN} more ({_where_every_run(status)})")
    return "\n".join(lines)


def _where_every_run(status: SimulationStatus) -> str:
    """Where an operator finds every run's entry: inline (--json) or in the run table."""
    if "run_table" not in status.document:
        return "--json lists every run"
    first = run_chunk_key(status.simulation_id, 0)
    return f"every run is in the store under {first.rpartition('/')[0]}/"


def format_short(status: SimulationStatus) -> str:
    """A one-line status, for messages such as "not completed yet"."""
    rejected = rejection(status)
    if rejected:
        return f"{status.simulation_id} was rejected: {rejected}"
    return (
        f"{status.simulation_id} is {status.phase or 'in an unknown phase'}: "
        f"{_done(status)} runs done, {status.counts['failed']} failed"
    )
