"""The status of a watched resource, computed from what the scheduler knows of its simulation.

The scheduler in the same process is the source of truth; a resource's status is a view of it,
recomputed whole each time rather than accumulated from events. So a status patch that was
lost is simply written again, and a restarted scheduler writes the same status from the state
it resumed (or, for a simulation that finished while it was down, from the stored status
document).

    phase       Pending    submitted, not yet accepted by the scheduler
                Running    accepted; runs going (or all done, results not stored yet)
                Succeeded  results stored, every run completed
                Failed     results stored, some runs failed for good
                Cancelled  cancelled (deleting the resource, or ``gossipsim cancel``)
                Rejected   invalid; condition Accepted=False (reason InvalidSpec) names the field

Conditions have the ``metav1.Condition`` shape; a condition's ``lastTransitionTime`` changes
only when its status does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from gossipsim.common.contracts import status_document
from gossipsim.common.messaging.messages import SimulationRejected
from gossipsim.scheduler.state import RunStatus, SimulationState

__all__ = [
    "CANCELLED",
    "FAILED",
    "PENDING",
    "REJECTED",
    "RUNNING",
    "SUCCEEDED",
    "TERMINAL_PHASES",
    "Progress",
    "SchedulerView",
    "differs",
    "progress_of_document",
    "progress_of_rejection",
    "progress_of_state",
    "status_for",
]

PENDING = "Pending"
RUNNING = "Running"
SUCCEEDED = "Succeeded"
FAILED = "Failed"
CANCELLED = "Cancelled"
REJECTED = "Rejected"
TERMINAL_PHASES = frozenset({SUCCEEDED, FAILED, CANCELLED, REJECTED})
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # Kubernetes' form of an RFC 3339 time


class SchedulerView(Protocol):
    """What the watcher reads of the scheduler (``SchedulerService`` has both)."""

    @property
    def simulations(self) -> Mapping[str, SimulationState]: ...

    @property
    def rejections(self) -> Mapping[str, SimulationRejected]: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Progress:
    """Where a simulation stands, whichever source it was read from."""

    phase: str
    runs_total: int = 0
    runs_succeeded: int = 0
    runs_failed: int = 0
    started_at: str | None = None
    finished_at: str | None = None
    results: str = ""
    rejection: str = ""  # "<field>: <reason>", in the resource's own field paths


def progress_of_state(state: SimulationState) -> Progress:
    failed = state.count(RunStatus.FAILED)
    return Progress(
        phase=_finished_phase(
            completed=state.completed,
            cancelled=state.cancelled,
            stored=bool(state.results_location),
            failed=failed,
        ),
        runs_total=len(state.plans),
        runs_succeeded=state.count(RunStatus.COMPLETED),
        runs_failed=failed,
        started_at=state.submitted_at,
        finished_at=state.finished_at if state.completed else None,
        results=state.results_location,
    )


def progress_of_rejection(field: str, reason: str) -> Progress:
    """A rejection; ``field`` is the path in the resource, ``reason`` the scheduler's text,
    which may begin with the path as the scheduler named it (``repetitions: must be …``)."""
    return Progress(phase=REJECTED, rejection=f"{field}: {reason}" if field else reason)


def progress_of_document(document: Mapping[str, Any]) -> Progress | None:
    """From a stored status document, for a simulation no longer in memory."""
    stored = status_document.SimulationStatus.of(dict(document))
    if stored.phase == status_document.REJECTED:
        return None  # its field must be renamed to the resource's path: the watcher does that
    completed = stored.phase in status_document.FINISHED_PHASES
    failed = stored.counts[RunStatus.FAILED.value]
    return Progress(
        phase=_finished_phase(
            completed=completed,
            cancelled=stored.phase == status_document.CANCELLED,
            stored=bool(stored.results),
            failed=failed,
        ),
        runs_total=stored.runs_total or 0,
        runs_succeeded=stored.counts[RunStatus.COMPLETED.value],
        runs_failed=failed,
        started_at=stored.submitted_at or None,
        finished_at=(stored.finished_at or None) if completed else None,
        results=stored.results,
    )


def _finished_phase(*, completed: bool, cancelled: bool, stored: bool, failed: int) -> str:
    if not completed:
        return RUNNING
    if cancelled:
        return CANCELLED
    if not stored:
        return RUNNING  # every run is done; the collector is still writing the results
    return FAILED if failed else SUCCEEDED


def status_for(
    progress: Progress | None,
    *,
    simulation_id: str,
    generation: int | None,
    previous: Mapping[str, Any],
) -> dict[str, Any]:
    """The status a resource should have; ``None`` progress: submitted, not yet accepted."""
    progress = progress or Progress(phase=PENDING)
    conditions = _conditions(progress, simulation_id, previous.get("conditions"), generation)
    accepted, completed = conditions
    # the one line `kubectl get` can show: why it was rejected, or how far it has got
    summary = completed if progress.phase not in (PENDING, REJECTED) else accepted
    status: dict[str, Any] = {
        "phase": progress.phase,
        "simulationId": simulation_id,
        "runsTotal": progress.runs_total,
        "runsSucceeded": progress.runs_succeeded,
        "runsFailed": progress.runs_failed,
        "startedAt": _rfc3339(progress.started_at),
        "finishedAt": _rfc3339(progress.finished_at),
        "results": progress.results or None,
        "message": summary["message"],
        "conditions": conditions,
    }
    if generation is not None:
        status["observedGeneration"] = generation
    return status


def differs(desired: Mapping[str, Any], current: Mapping[str, Any]) -> bool:
    """Whether patching ``desired`` would change a status that is ``current`` now."""
    return any(current.get(key) != value for key, value in desired.items())


def _conditions(
    progress: Progress, simulation_id: str, previous: object, generation: int | None
) -> list[dict[str, Any]]:
    done = f"{progress.runs_succeeded + progress.runs_failed} of {progress.runs_total} runs done"
    if progress.phase == PENDING:
        accepted = ("Unknown", "Submitted", f"submitted to the scheduler as {simulation_id}")
    elif progress.phase == REJECTED:
        accepted = ("False", "InvalidSpec", progress.rejection)
    else:
        accepted = ("True", "Accepted", f"{progress.runs_total} runs")
    if progress.phase in (PENDING, REJECTED):
        completed = ("False", progress.phase, "no runs")
    elif progress.phase == RUNNING:
        completed = ("False", "Running", done)
    else:
        where = f"; results at {progress.results}" if progress.results else ""
        completed = (
            "True",
            progress.phase,
            f"{progress.runs_succeeded} succeeded, {progress.runs_failed} failed{where}",
        )
    before = {
        str(c.get("type")): c
        for c in (previous if isinstance(previous, list) else [])
        if isinstance(c, Mapping)
    }
    now = datetime.now(UTC).strftime(TIME_FORMAT)
    conditions: list[dict[str, Any]] = []
    for kind, (status, reason, message) in (("Accepted", accepted), ("Completed", completed)):
        earlier = before.get(kind, {})
        changed = earlier.get("status") != status or not earlier.get("lastTransitionTime")
        condition: dict[str, Any] = {
            "type": kind,
            "status": status,
            "reason": reason,
            "message": message,
            "lastTransitionTime": now if changed else str(earlier["lastTransitionTime"]),
        }
        if generation is not None:
            condition["observedGeneration"] = generation
        conditions.append(condition)
    return conditions


def _rfc3339(iso: str | None) -> str | None:
    """Kubernetes' timestamp form (``2025-01-31T12:00:00Z``) of an ISO 8601 time."""
    if not iso:
        return None
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime(TIME_FORMAT)
