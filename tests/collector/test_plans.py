"""The collector's record of what the scheduler accepted comes from the scheduler's documents."""

from __future__ import annotations

from gossipsim.collector.plans import StoredPlans
from gossipsim.common.contracts import status_document
from gossipsim.common.spec.simulation_spec import expand_runs, parse_spec
from gossipsim.common.storage.local_store import LocalDirectoryStore
from gossipsim.scheduler.state import SimulationState
from gossipsim.scheduler.state_store import StateStore

SPEC = {
    "name": "plans",
    "graphs": [{"name": "k4", "generator": "complete_graph", "params": {"n": 4}}],
    "algorithms": ["default"],
    "repetitions": 5,
}


def accepted(simulation_id: str) -> SimulationState:
    return SimulationState(
        simulation_id=simulation_id, plans=expand_runs(parse_spec(SPEC)), spec=SPEC, name="plans"
    )


async def test_a_stored_plan_is_read_back_with_its_run_ids(tmp_path):
    store = LocalDirectoryStore(tmp_path)
    state = accepted("sim-a")
    await StateStore(store).accept(state)
    plan = await StoredPlans(store).accepted_plan("sim-a")
    assert plan is not None and set(plan.run_ids) == set(state.plans)
    assert (plan.name, plan.spec, plan.runs_total) == ("plans", SPEC, 5)
    assert plan.accepted_at == state.submitted_at
    assert await StoredPlans(store).phase_of("sim-a") == "running"


async def test_no_plan_for_an_unknown_a_rejected_or_a_half_stored_simulation(tmp_path):
    store = LocalDirectoryStore(tmp_path)
    states = StateStore(store)
    await states.save_rejection("sim-r", "repetitions", "must be positive")
    await states.accept(accepted("sim-h"))
    await store.delete(status_document.run_chunk_key("sim-h", 0))  # a crash mid-acceptance
    plans = StoredPlans(store)
    assert await plans.accepted_plan("sim-x") is None
    assert await plans.accepted_plan("sim-r") is None
    assert await plans.accepted_plan("sim-h") is None
    assert await plans.phase_of("sim-x") is None


async def test_a_miss_is_not_remembered_and_only_a_few_plans_are(tmp_path, monkeypatch):
    store = LocalDirectoryStore(tmp_path)
    plans = StoredPlans(store, cached=2)
    assert await plans.accepted_plan("sim-a") is None
    await StateStore(store).accept(accepted("sim-a"))
    assert await plans.accepted_plan("sim-a") is not None  # accepted since: found now
    for simulation_id in ("sim-b", "sim-c"):
        await StateStore(store).accept(accepted(simulation_id))
        assert await plans.accepted_plan(simulation_id) is not None
    reads: list[str] = []
    real_get = store.get

    async def counted_get(key: str) -> bytes:
        reads.append(key)
        return await real_get(key)

    monkeypatch.setattr(store, "get", counted_get)
    assert await plans.accepted_plan("sim-c") is not None
    assert reads == []  # held in memory
    assert await plans.accepted_plan("sim-a") is not None
    assert status_document.status_key("sim-a") in reads  # pushed out by b and c: read again
