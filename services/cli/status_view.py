"""What ``gossipsim status`` shows: the scheduler's durable state of each simulation.

The scheduler keeps one JSON document per simulation at ``scheduler/simulations/<sim>.json``
in the deployment's object store (shape below), so the status of a simulation can be read
from the store alone: no service needs to answer, and a stopped or restarting scheduler does
not make the command hang.

    {"simulation_id", "name", "phase": running|completed|cancelled|rejected, "runs_total",
     "counts": {"queued", "running", "completed", "failed"},
     "submitted_at", "finished_at" (or null), "results" ("" until stored),
     "spec", "graphs_dir", "runs": {"<run>": {"status", "attempt", "error"}},
     "rejected": {"field", "reason"} (only when rejected)}

Documents are read leniently: a missing field shows as "-" and an unreadable document as its
own row, because the status command is what an operator reaches for when something is wrong.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from gossipsim.common.storage.store import ObjectNotFound, ObjectStore, check_key
from gossipsim.scheduler.state import STATE_PREFIX as STATUS_PREFIX

FAILED_RUNS_SHOWN = 5


def status_key(simulation_id: str) -> str:
    """The store key of a simulation's document; ValueError for an id that is no key."""
    if "/" in simulation_id or simulation_id in ("", ".", ".."):
        raise ValueError(f"invalid simulation id {simulation_id!r}: not a single name")
    key = f"{STATUS_PREFIX}{simulation_id}.json"
    check_key(key)
    return key


def _parse(key: str, data: bytes) -> dict[str, Any]:
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        document = None
        problem = f"not JSON: {error}"
    else:
        problem = "not a JSON object"
    if isinstance(document, dict):
        return document
    simulation_id = key.removeprefix(STATUS_PREFIX).removesuffix(".json")
    return {"simulation_id": simulation_id, "phase": "unreadable", "error": problem}


async def load_status(store: ObjectStore, simulation_id: str) -> dict[str, Any] | None:
    """The simulation's document, or None if the scheduler keeps none for it."""
    key = status_key(simulation_id)
    try:
        return _parse(key, await store.get(key))
    except ObjectNotFound:
        return None


async def load_all(store: ObjectStore) -> list[dict[str, Any]]:
    """Every simulation's document, oldest submission first."""
    keys = [k for k in await store.list(STATUS_PREFIX) if k.endswith(".json")]
    documents = []
    for key in keys:
        try:
            documents.append(_parse(key, await store.get(key)))
        except ObjectNotFound:
            continue  # deleted between list and get
    return sorted(documents, key=lambda d: (str(d.get("submitted_at") or ""), _id(d)))


def _id(document: dict[str, Any]) -> str:
    return str(document.get("simulation_id", "?"))


def _count(document: dict[str, Any], name: str) -> int:
    counts = document.get("counts")
    value = counts.get(name, 0) if isinstance(counts, dict) else 0
    return value if isinstance(value, int) else 0


def _done(document: dict[str, Any]) -> str:
    total = document.get("runs_total")
    done = _count(document, "completed") + _count(document, "failed")
    return f"{done}/{total if isinstance(total, int) else '?'}"


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _when(value: Any) -> str:
    moment = _time(value)
    if moment is None:
        return str(value) if value else "-"
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


def rejection(document: dict[str, Any]) -> str | None:
    """Why the submission was rejected, if it was."""
    if document.get("phase") != "rejected":
        return None
    details = document.get("rejected")
    details = details if isinstance(details, dict) else {}
    reason = str(details.get("reason") or "no reason recorded")
    field = str(details.get("field") or "")
    return reason if not field or reason.startswith(f"{field}:") else f"{field}: {reason}"


def format_table(documents: list[dict[str, Any]]) -> str:
    """One line per simulation: id, name, phase, runs done/total, failed, submitted."""
    lines = [["SIMULATION", "NAME", "PHASE", "DONE", "FAILED", "SUBMITTED"]]
    for document in documents:
        lines.append(
            [
                _id(document),
                str(document.get("name") or "-"),
                str(document.get("phase") or "-"),
                _done(document),
                str(_count(document, "failed")),
                _when(document.get("submitted_at")),
            ]
        )
    return _columns(lines)


def _failed_runs(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    runs = document.get("runs")
    if not isinstance(runs, dict):
        return []
    return sorted(
        (run_id, run)
        for run_id, run in runs.items()
        if isinstance(run, dict) and run.get("status") == "failed"
    )


def format_detail(document: dict[str, Any], *, now: datetime | None = None) -> str:
    """One simulation: progress, times, where its results are, and its failed runs."""
    now = now or datetime.now(UTC)
    phase = str(document.get("phase") or "-")
    total = document.get("runs_total")
    counts = ", ".join(
        f"{_count(document, name)} {name}" for name in ("completed", "failed", "running", "queued")
    )
    submitted, finished = _time(document.get("submitted_at")), _time(document.get("finished_at"))
    if submitted and finished:
        took = f" (took {_duration((finished - submitted).total_seconds())})"
    elif submitted and phase == "running":
        took = f" (running for {_duration((now - submitted).total_seconds())})"
    else:
        took = ""
    rejected = rejection(document)
    results = document.get("results") or ("none" if rejected else "not stored yet")
    rows = [
        ("simulation", _id(document)),
        ("name", str(document.get("name") or "-")),
        ("phase", phase),
        ("runs", f"{_done(document)} done: {counts}" if isinstance(total, int) else counts),
        ("submitted", _when(document.get("submitted_at"))),
        ("finished", _when(document.get("finished_at")) + took),
        ("results", str(results)),
    ]
    if rejected:
        rows[3] = ("rejected", rejected)  # instead of run counts: it never had runs
    if document.get("error"):
        rows.append(("error", str(document["error"])))
    width = max(len(label) for label, _ in rows)
    lines = [f"{label.ljust(width)}  {value}" for label, value in rows]
    failed = _failed_runs(document)
    if failed:
        lines.append(f"failed runs ({len(failed)}):")
        for run_id, run in failed[:FAILED_RUNS_SHOWN]:
            attempt = run.get("attempt")
            after = f" after {attempt} attempt{'s' if attempt != 1 else ''}" if attempt else ""
            lines.append(f"  {run_id}{after}: {run.get('error') or '(no error recorded)'}")
        if len(failed) > FAILED_RUNS_SHOWN:
            lines.append(f"  … and {len(failed) - FAILED_RUNS_SHOWN} more (--json lists every run)")
    return "\n".join(lines)


def format_short(document: dict[str, Any]) -> str:
    """A one-line status, for messages such as "not completed yet"."""
    rejected = rejection(document)
    if rejected:
        return f"{_id(document)} was rejected: {rejected}"
    return (
        f"{_id(document)} is {document.get('phase') or 'in an unknown phase'}: "
        f"{_done(document)} runs done, {_count(document, 'failed')} failed"
    )
