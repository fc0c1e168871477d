"""A plan source for tests that drive the collector without a scheduler.

The collector records events only of simulations the scheduler accepted and of runs in their
plan (services/collector/plans.py); tests that publish events by hand say here what was
accepted and in which phase the scheduler has it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from gossipsim.common.contracts.status_document import AcceptedPlan


class FixedPlans:
    """Simulations accepted with these run ids, all in ``phase`` until :meth:`set_phase`."""

    def __init__(self, runs: Mapping[str, Collection[str]], *, phase: str = "running") -> None:
        self._runs = {sim: frozenset(run_ids) for sim, run_ids in runs.items()}
        self._phases = dict.fromkeys(self._runs, phase)

    def set_phase(self, simulation_id: str, phase: str) -> None:
        self._phases[simulation_id] = phase

    async def accepted_plan(self, simulation_id: str) -> AcceptedPlan | None:
        run_ids = self._runs.get(simulation_id)
        if run_ids is None:
            return None
        return AcceptedPlan(
            simulation_id=simulation_id,
            name=simulation_id,
            spec={"name": simulation_id},
            runs_total=len(run_ids),
            run_ids=run_ids,
            accepted_at="2026-01-01T00:00:00+00:00",
        )

    async def phase_of(self, simulation_id: str) -> str | None:
        return self._phases.get(simulation_id)
