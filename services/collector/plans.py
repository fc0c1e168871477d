"""What the collector believes about a simulation: what the scheduler accepted, never a message.

Anyone who can reach the broker can publish run.round, run.completed or simulation.completed
with any ids and any counts. The collector therefore takes from the scheduler's own record:

* whether the simulation was accepted at all, which run ids it planned, its name, spec and
  number of runs (the manifest's ``runs_total``), and
* whether it has finished (the phase the scheduler stores before it publishes
  simulation.completed).

Distributed mode: the scheduler's status documents in the store both services share
(:class:`StoredPlans`). The scheduler stores the whole run table before it announces the
simulation, so every legitimate event finds its plan; nobody on the broker can write the store.
Embedded mode: the scheduler in the same process (it has the same two methods).

Why not the plan in simulation.accepted: a sweep of 10^6 runs has ~100 MiB of run ids, far
over the message cap, and a message is what is not to be trusted. Why not expanding the spec
again: that needs the graph files and the spec check's budget, which belong to the scheduler.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Protocol

from gossipsim.common.contracts.status_document import (
    AcceptedPlan,
    read_accepted_plan,
    read_summary,
)
from gossipsim.common.storage.store import ObjectStore

PLANS_CACHED = 4  # simulations whose run ids are held in memory (LRU); a plan never changes


class PlanSource(Protocol):
    async def accepted_plan(self, simulation_id: str) -> AcceptedPlan | None:
        """The accepted simulation's plan; None for a simulation the scheduler never accepted."""
        ...

    async def phase_of(self, simulation_id: str) -> str | None:
        """The scheduler's phase of the simulation now (running, completed, cancelled, …)."""
        ...


class StoredPlans:
    """Plans read from the scheduler's status documents, the latest few kept in memory."""

    def __init__(self, store: ObjectStore, *, cached: int = PLANS_CACHED) -> None:
        self._store = store
        self._cached = cached
        self._plans: OrderedDict[str, AcceptedPlan] = OrderedDict()

    async def accepted_plan(self, simulation_id: str) -> AcceptedPlan | None:
        plan = self._plans.get(simulation_id)
        if plan is None:
            plan = await read_accepted_plan(self._store, simulation_id)
            if plan is None:
                return None  # not cached: a forged id must not push real plans out
            self._plans[simulation_id] = plan
            while len(self._plans) > self._cached:
                self._plans.popitem(last=False)
        self._plans.move_to_end(simulation_id)
        return plan

    async def phase_of(self, simulation_id: str) -> str | None:
        document = await read_summary(self._store, simulation_id)
        phase = document.get("phase") if document is not None else None
        return phase if isinstance(phase, str) else None
