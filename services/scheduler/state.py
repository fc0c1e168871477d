"""What the scheduler knows about a simulation, and its durable form (the status document).

The document's key and shape are a contract with its readers (``gossipsim status``, the
Kubernetes resource watcher): ``gossipsim.common.contracts.status_document``. A restarted
scheduler rebuilds its state from it. The run plans are not stored: they are expanded again,
deterministically, from the stored spec.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gossipsim.common.contracts.status_document import (
    CANCELLED,
    COMPLETED,
    FINISHED_PHASES,
    RUNNING,
    Phase,
    RunStatus,
    StatusDocument,
)
from gossipsim.common.spec.ids import RunId, SimulationId, check_simulation_id
from gossipsim.common.spec.run_plan import RunPlan

__all__ = ["TERMINAL", "RunStatus", "SimulationState", "now_iso"]


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


TERMINAL = (RunStatus.COMPLETED, RunStatus.FAILED)


@dataclass(slots=True)
class SimulationState:
    simulation_id: SimulationId
    plans: dict[RunId, RunPlan]
    name: str = ""
    spec: dict[str, Any] = field(default_factory=dict)
    graphs_dir: str = ""
    submitted_at: str = field(default_factory=now_iso)
    finished_at: str | None = None
    published: bool = False  # every run.start of the first attempts is with the broker
    status: dict[str, RunStatus] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    # Runs whose runner acked run.start early and keeps a lease by heartbeats: run id ->
    # monotonic time of the last heartbeat (or of the scheduler's start, after a restart).
    leases: dict[RunId, float] = field(default_factory=dict)
    cancelled: bool = False
    completed: bool = False
    results_location: str = ""
    rounds_done: int = 0
    finished: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def done_count(self) -> int:
        return sum(s in TERMINAL for s in self.status.values())

    def count(self, status: RunStatus) -> int:
        return sum(s is status for s in self.status.values())

    def count_failed(self) -> int:
        return self.count(RunStatus.FAILED)

    @property
    def phase(self) -> Phase:
        if not self.completed:
            return RUNNING
        return CANCELLED if self.cancelled else COMPLETED

    def to_document(self) -> StatusDocument:
        return {
            "simulation_id": self.simulation_id,
            "name": self.name,
            "phase": self.phase,
            "runs_total": len(self.plans),
            "counts": {s.value: self.count(s) for s in RunStatus},
            "submitted_at": self.submitted_at,
            "finished_at": self.finished_at,
            "results": self.results_location,
            "spec": self.spec,
            "graphs_dir": self.graphs_dir,
            "published": self.published,
            "runs": {
                run_id: {
                    "status": self.status[run_id].value,
                    "attempt": self.attempts.get(run_id, 1),
                    "error": self.errors.get(run_id, ""),
                    "leased": run_id in self.leases,
                }
                for run_id in self.plans
            },
        }

    @classmethod
    def from_document(
        cls, document: StatusDocument, plans: dict[RunId, RunPlan], *, lease_start: float
    ) -> SimulationState:
        """Rebuild from a stored document and the plans expanded again from its spec."""
        state = cls(
            simulation_id=check_simulation_id(document["simulation_id"]),
            plans=plans,
            name=document.get("name", ""),
            spec=document.get("spec", {}),
            graphs_dir=document.get("graphs_dir", ""),
            submitted_at=document.get("submitted_at") or now_iso(),
            finished_at=document.get("finished_at"),
            published=bool(document.get("published", False)),
            cancelled=document.get("phase") == CANCELLED,
            completed=document.get("phase") in FINISHED_PHASES,
            results_location=document.get("results", ""),
        )
        runs = document.get("runs", {})
        for run_id in state.plans:
            run: Mapping[str, Any] = runs.get(run_id) or {}
            state.status[run_id] = RunStatus(run.get("status", "queued"))
            state.attempts[run_id] = int(run.get("attempt", 1))
            if run.get("error"):
                state.errors[run_id] = run["error"]
            if run.get("leased") and state.status[run_id] not in TERMINAL:
                state.leases[run_id] = lease_start
        if state.results_location:
            state.finished.set()
        return state
