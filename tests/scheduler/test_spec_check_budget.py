"""The scheduler's spec check has a bounded cost: hostile specs are refused cheaply, the check
runs off the event loop, and its time and memory budgets reject what gets past the estimates.

The hostile inputs run in a subprocess (tests/scheduler/check_in_subprocess.py) whose address
space is capped at its baseline plus 512 MiB: each must be refused by the check itself, with
the field named, within 5 s, where before they took gigabytes and minutes.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gossipsim.common.errors import InvalidInput
from gossipsim.common.graphs.limits import DEFAULT_LIMITS, GraphLimits
from gossipsim.common.messaging.bus import QueueSpec
from gossipsim.common.messaging.memory_bus import InMemoryBus
from gossipsim.common.messaging.messages import (
    MAX_MESSAGE_BYTES,
    SimulationAccepted,
    SimulationCancel,
    SimulationRejected,
    SimulationSubmit,
    decode,
    encode,
)
from gossipsim.common.messaging.publishing import publish_message
from gossipsim.common.messaging.topology import Topology
from gossipsim.common.runtime.health import serve_health
from gossipsim.common.spec.ids import check_simulation_id
from gossipsim.common.spec.plan_checks import MAX_HISTORY_SAMPLES, MAX_HISTORY_VERTICES
from gossipsim.scheduler.service import SchedulerService, SchedulerSettings
from gossipsim.scheduler.spec_check import CheckRequest, SpecChecker, SpecCheckSettings
from tests.common.bus_contract import Inbox

REPO = Path(__file__).resolve().parents[2]
HEADROOM = 512 * 1024 * 1024  # address space the subprocess may add to its baseline
SECONDS = 5.0  # the most a refusal may take

SPEC: dict[str, Any] = {
    "name": "budget",
    "graphs": [{"name": "ring", "generator": "cycle_graph", "params": {"n": 40}}],
    "algorithms": ["default"],
    "repetitions": 2,
    "max_rounds": 100,
}


def spec_with(**changes: Any) -> dict[str, Any]:
    return {**SPEC, **changes}


def generated(name: str, **params: Any) -> dict[str, Any]:
    return spec_with(graphs=[{"generator": name, "params": params}])


def run_limited(case: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """The outcome of the check on ``case`` in a subprocess capped at baseline + 512 MiB."""
    case_file = tmp_path / "case.json"
    case_file.write_text(json.dumps({"budget_bytes": HEADROOM, **case}))
    done = subprocess.run(
        [sys.executable, "-m", "tests.scheduler.check_in_subprocess", str(case_file)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    outcome: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["limited"], "the subprocess could not cap its address space"
    return outcome


# --- hostile inputs, each refused cheaply by the check itself -------------------------------

PARAMS, GENERATOR = "graphs[0].params", "graphs[0].generator"
VERTICES, EDGES, MEMORY = "GOSSIPSIM_MAX_VERTICES", "GOSSIPSIM_MAX_EDGES", "GOSSIPSIM_CHECK_MEMORY"
HOSTILE_GENERATORS = {
    "barbell": (generated("barbell_graph", m1=10**7, m2=10**7), PARAMS, VERTICES),
    "turan": (generated("turan_graph", n=150_000, r=2), PARAMS, EDGES),
    "kneser huge n": (generated("kneser_graph", n=10**6, k=2), PARAMS, VERTICES),
    "kneser binomial": (generated("kneser_graph", n=40, k=10), PARAMS, VERTICES),
    "kneser 64 bits": (generated("kneser_graph", n=2**63, k=2**62), PARAMS, VERTICES),
    "random_cograph": (generated("random_cograph", n=40), PARAMS, VERTICES),
    "navigable_small_world": (
        generated("navigable_small_world_graph", n=1000, dim=3),
        PARAMS,
        VERTICES,
    ),
    "navigable_small_world pairs": (
        generated("navigable_small_world_graph", n=300),
        PARAMS,
        "visits every pair of vertices",
    ),
    "lollipop": (generated("lollipop_graph", m=150_000, n=10), PARAMS, EDGES),
    "lollipop vertices": (
        generated("lollipop_graph", m=10**6, n=10),
        GENERATOR,
        "limited to 200,000 vertices",
    ),
    "hkn_harary": (generated("hkn_harary_graph", k=50_000, n=100_000), PARAMS, EDGES),
    "random_k_out_graph 10M x 10": (
        generated("random_k_out_graph", n=10_000_000, k=10),
        PARAMS,
        VERTICES,
    ),
    "networkx memory": (generated("barabasi_albert_graph", n=200_000, m=9), PARAMS, MEMORY),
    "not accepted": (
        generated("duplication_divergence_graph", n=10**6, p=1.0),
        GENERATOR,
        "not accepted",
    ),
}


@pytest.mark.parametrize(
    ("spec", "field", "words"), HOSTILE_GENERATORS.values(), ids=HOSTILE_GENERATORS
)
def test_hostile_generators_are_refused_from_their_parameters(
    spec: dict[str, Any], field: str, words: str, tmp_path: Path
) -> None:
    outcome = run_limited({"kind": "spec", "spec": spec}, tmp_path)
    assert outcome["outcome"] == "rejected", outcome
    assert outcome["field"] == field, outcome
    assert words in outcome["reason"], outcome
    assert outcome["seconds"] < SECONDS, outcome


ALIAS_BOMB = """name: laughs
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
graphs: [*i,*i,*i,*i,*i,*i,*i,*i,*i,*i,*i,*i,*i,*i,*i,*i,*i,*i,*i,*i,*i,*i,*i,*i,*i,*i,*i]
algorithms: [*i,*i,*i,*i,*i,*i,*i,*i,*i,*i,*i,*i,*i,*i,*i,*i,*i,*i,*i,*i,*i,*i,*i,*i,*i]
"""


def test_a_yaml_alias_bomb_is_refused_before_it_expands(tmp_path: Path) -> None:
    assert 500 < len(ALIAS_BOMB) < 700  # the 565-byte bomb that ran past 60 s and 2.3 GiB
    path = tmp_path / "laughs.yaml"
    path.write_text(ALIAS_BOMB)
    outcome = run_limited({"kind": "spec_file", "path": str(path)}, tmp_path)
    assert outcome["outcome"] == "rejected", outcome
    assert "line 2" in outcome["reason"] and "aliases are not accepted" in outcome["reason"]
    assert outcome["seconds"] < SECONDS, outcome


@pytest.mark.parametrize("depth", [100, 100_000])
def test_a_deeply_nested_spec_over_amqp_is_refused(depth: int, tmp_path: Path) -> None:
    """A spec over AMQP arrives as the JSON of a simulation.submit."""
    body = encode(
        SimulationSubmit(
            spec={"name": "deep", "graphs": "NEST"}, simulation_id=check_simulation_id("deep")
        )
    )
    nested = "[" * depth + "]" * depth
    path = tmp_path / "submit.json"
    path.write_bytes(body.replace(b'"NEST"', nested.encode()))
    outcome = run_limited({"kind": "message", "path": str(path)}, tmp_path)
    assert outcome["outcome"] == "rejected", outcome
    # deeper than orjson's own limit (1024) is refused by it before the strict reading
    assert any(
        words in outcome["reason"] for words in ("nested deeper than 64 levels", "depth limit")
    ), outcome
    assert outcome["seconds"] < SECONDS, outcome


NESTED_FILES = {
    "json": lambda depth: '{"name": "deep", "graphs": ' + "[" * depth + "]" * depth + "}",
    "yaml": lambda depth: "name: deep\ngraphs: " + "[" * depth + "]" * depth + "\n",
    "yaml-block": lambda depth: (
        "name: deep\ngraphs:\n"
        + "".join(f"{'  ' * level}- a:\n" for level in range(min(depth, 2000)))
    ),
}


@pytest.mark.parametrize("depth", [100, 100_000])
@pytest.mark.parametrize("text", NESTED_FILES.values(), ids=NESTED_FILES)
def test_a_deeply_nested_spec_file_is_refused(
    text: Callable[[int], str], depth: int, tmp_path: Path
) -> None:
    path = tmp_path / "deep.spec"
    path.write_text(text(depth))
    outcome = run_limited({"kind": "spec_file", "path": str(path)}, tmp_path)
    assert outcome["outcome"] == "rejected", outcome
    assert "nest" in outcome["reason"], outcome  # nested deeper than 64 levels / nesting depth
    assert outcome["seconds"] < SECONDS, outcome


def test_a_compressed_edge_list_of_25_million_lines_is_refused(tmp_path: Path) -> None:
    """95 KB on disk, 100 MB of text, 25M edges: over the default edge limit, and read with
    the decompressed bytes capped, in a deployment's graph root."""
    path = tmp_path / "bomb.edgelist.gz"
    with gzip.open(path, "wb", compresslevel=9) as stream:
        for _ in range(25):
            stream.write(b"1 2\n" * 1_000_000)
    assert path.stat().st_size < 200_000
    spec = spec_with(graphs=[{"file": str(path)}])
    outcome = run_limited({"kind": "spec", "spec": spec, "roots": [str(tmp_path)]}, tmp_path)
    assert outcome["outcome"] == "rejected", outcome
    assert outcome["field"] == "graphs[0].file", outcome
    assert outcome["seconds"] < SECONDS, outcome


def test_the_largest_graph_the_default_limits_allow_is_checked_within_the_memory_budget(
    tmp_path: Path,
) -> None:
    """The defaults fit each other: a graph at the edge limit builds within the check's
    default memory budget (the subprocess gets exactly that budget above its baseline)."""
    k = 10
    spec = generated("random_k_out_graph", n=DEFAULT_LIMITS.max_edges // k, k=k)
    outcome = run_limited(
        {"kind": "spec", "spec": spec, "budget_bytes": DEFAULT_LIMITS.memory_bytes}, tmp_path
    )
    assert outcome["outcome"] == "accepted", outcome


# --- the settings the check reads: shards, history ------------------------------------------


def check(spec: dict[str, Any], **settings: Any) -> None:
    """The check as the scheduler's worker runs it, in this process."""
    from gossipsim.scheduler.spec_check import check_spec

    check_spec(CheckRequest(spec=spec, **settings))


def test_shards_over_the_setting_are_refused_with_the_setting_named() -> None:
    with pytest.raises(InvalidInput, match=r"over the limit of 16.*GOSSIPSIM_MAX_SHARDS") as caught:
        check(spec_with(shards=17))
    assert caught.value.field == "shards"
    with pytest.raises(InvalidInput, match="over the limit of 4") as caught:
        check(spec_with(shards=5), max_shards=4)
    assert caught.value.field == "shards"
    check(spec_with(shards=16))
    check(spec_with(shards=30), max_shards=30)


def test_more_shards_than_vertices_are_refused() -> None:
    with pytest.raises(InvalidInput, match="40 vertices, fewer than the 41 shards") as caught:
        check(spec_with(shards=41), max_shards=64)
    assert caught.value.field == "shards"


def test_no_plan_carries_more_shards_than_the_ceiling_whatever_the_setting() -> None:
    with pytest.raises(InvalidInput, match=r"1\.\.1,024") as caught:
        check(spec_with(shards=2000), max_shards=5000)
    assert caught.value.field == "shards"


def test_history_over_the_sample_cap_is_refused() -> None:
    # 1,000 vertices sampled in 10,001 rounds (round 0 too) are 10,001,000 values
    ring = [{"name": "ring", "generator": "cycle_graph", "params": {"n": 1000}}]
    over = spec_with(graphs=ring, max_rounds=10_000, history={"every": 1})
    with pytest.raises(InvalidInput, match="10,001,000 values per run") as caught:
        check(over)
    assert caught.value.field == "history"
    check(spec_with(graphs=ring, max_rounds=9_000, history={"every": 1}))
    check(spec_with(graphs=ring, max_rounds=10_000, history={"every": 2}))
    check(spec_with(graphs=ring, max_rounds=10_000, history={"every": 1, "vertices": 999}))
    assert 1000 * 10_001 > MAX_HISTORY_SAMPLES >= 999 * 10_001


def test_a_sampled_round_must_fit_one_telemetry_message() -> None:
    # the largest JSON float (24 characters) and a separator per sampled vertex
    assert MAX_HISTORY_VERTICES * 25 < MAX_MESSAGE_BYTES * 0.7
    wide = [{"name": "wide", "generator": "cycle_graph", "params": {"n": 200_001}}]
    with pytest.raises(InvalidInput, match="200,001 vertices of graph 'wide'") as caught:
        check(spec_with(graphs=wide, max_rounds=5, history={"every": 5}))
    assert caught.value.field == "history"
    check(spec_with(graphs=wide, max_rounds=5, history={"every": 5, "vertices": 200_000}))
    listed = list(range(MAX_HISTORY_VERTICES + 1))
    with pytest.raises(InvalidInput, match="200,001 vertices listed") as caught:
        check(spec_with(graphs=wide, history={"every": 5, "vertices": listed}))
    assert caught.value.field == "history.vertices"


def test_history_is_not_limited_when_nothing_is_sampled() -> None:
    wide = [{"name": "wide", "generator": "cycle_graph", "params": {"n": 300_000}}]
    check(spec_with(graphs=wide, max_rounds=100_000, history={"every": 0}))


# --- the budgets: time, memory, a crashed worker ---------------------------------------------

SLOW = spec_with(
    graphs=[
        {"name": f"ba{i}", "generator": "barabasi_albert_graph", "params": {"n": 100_000, "m": 5}}
        for i in range(4)
    ]
)  # about 3 s a graph


async def test_a_check_over_its_time_budget_is_rejected_and_the_next_one_runs() -> None:
    checker = SpecChecker(SpecCheckSettings(seconds=1.0))
    await checker.start()
    try:
        started = time.monotonic()
        with pytest.raises(InvalidInput, match=r"longer than 1 s \(GOSSIPSIM_CHECK_SECONDS\)"):
            await checker.check(checker.request(SLOW))
        assert time.monotonic() - started < 3.0
        checked = await checker.check(checker.request(SPEC))
        assert checked.name == "budget" and len(checked.plans) == 2
    finally:
        await checker.close()


async def test_a_check_over_its_time_budget_in_a_thread_is_rejected_too() -> None:
    checker = SpecChecker(SpecCheckSettings(seconds=0.5, isolation="thread"))
    started = time.monotonic()
    with pytest.raises(InvalidInput, match="GOSSIPSIM_CHECK_SECONDS"):
        await checker.check(checker.request(SLOW))
    assert time.monotonic() - started < 3.0
    assert len((await checker.check(checker.request(SPEC))).plans) == 2


async def test_a_check_over_its_memory_budget_is_rejected_and_the_next_one_runs(
    tmp_path: Path,
) -> None:
    """An edge list passes every estimate (files are checked by bytes and lines) but parsing
    3 million lines takes hundreds of MiB: the worker's cap turns that into a rejection."""
    edges = tmp_path / "big.edgelist"
    with edges.open("w") as stream:
        for block in range(300):
            stream.write(
                "".join(f"{i} {i + 1}\n" for i in range(block * 10_000, (block + 1) * 10_000))
            )
    budget = 96 * 1024 * 1024
    checker = SpecChecker(SpecCheckSettings(limits=GraphLimits(memory_bytes=budget)))
    try:
        with pytest.raises(
            InvalidInput, match=r"more than 96 MiB \(GOSSIPSIM_CHECK_MEMORY_BYTES\)"
        ):
            await checker.check(checker.request(spec_with(graphs=[{"file": str(edges)}])))
        checked = await checker.check(checker.request(SPEC))
        assert len(checked.plans) == 2
    finally:
        await checker.close()


async def test_a_crashed_worker_rejects_the_spec_and_is_replaced() -> None:
    checker = SpecChecker(SpecCheckSettings(seconds=30))
    await checker.start()
    try:
        pending = asyncio.create_task(checker.check(checker.request(SLOW)))
        await asyncio.sleep(1.0)  # the worker is building the first graph
        pool = checker._pool
        assert pool is not None
        for process in pool._processes.values():
            process.kill()
        with pytest.raises(InvalidInput, match="ended unexpectedly"):
            await pending
        assert len((await checker.check(checker.request(SPEC))).plans) == 2
    finally:
        await checker.close()


def test_the_check_result_survives_pickling() -> None:
    """What the worker hands back crosses a process boundary."""
    import pickle

    from gossipsim.scheduler.spec_check import check_spec

    checked = check_spec(CheckRequest(spec=spec_with(history={"every": 5, "vertices": 3})))
    again = pickle.loads(pickle.dumps(checked))
    assert again == checked and list(again.plans) == list(checked.plans)


# --- the scheduler stays ready while it checks ----------------------------------------------


async def test_the_scheduler_answers_readyz_within_a_second_while_it_checks_the_largest_spec(
    tmp_path: Path,
) -> None:
    """The largest graph the default limits allow (10M edges) takes the worker seconds to
    build; the event loop meanwhile answers every probe at once."""
    topology = Topology(prefix="check-ready")
    bus = InMemoryBus()
    await topology.declare(bus)
    inbox = Inbox()
    await bus.declare_queue(QueueSpec(name="check-ready.tap"))
    await bus.bind("check-ready.tap", topology.events, "simulation.*")
    await bus.consume("check-ready.tap", inbox.handler, prefetch=100)
    scheduler = SchedulerService(bus=bus, topology=topology, settings=SchedulerSettings())
    k = 10
    largest = generated("random_k_out_graph", n=DEFAULT_LIMITS.max_edges // k, k=k)
    async with serve_health("scheduler", lambda: {"ready": True}, port=0, host="127.0.0.1") as port:
        await scheduler.start()
        try:
            submit = SimulationSubmit(
                spec={**largest, "name": "largest"}, simulation_id=check_simulation_id("largest")
            )
            await publish_message(bus, topology, submit)
            worst, probes, started = 0.0, 0, time.monotonic()
            async with aiohttp.ClientSession() as http:
                while not inbox.deliveries and time.monotonic() - started < 60:
                    sent = time.monotonic()
                    async with http.get(
                        f"http://127.0.0.1:{port}/readyz", timeout=aiohttp.ClientTimeout(total=5)
                    ) as response:
                        assert response.status == 200
                    worst = max(worst, time.monotonic() - sent)
                    probes += 1
                    await asyncio.sleep(0.05)
            checking = time.monotonic() - started
        finally:
            await scheduler.close()
            await bus.close()
    outcomes = [decode(body) for body in inbox.bodies]
    assert outcomes and isinstance(outcomes[0], SimulationAccepted), outcomes
    assert not any(isinstance(message, SimulationRejected) for message in outcomes)
    assert checking > 1.0 and probes >= 10  # the check was long enough to probe during it
    assert worst < 1.0, f"/readyz took {worst:.2f} s while the spec was checked"


async def test_copies_and_cancels_that_arrive_during_a_check_wait_for_it() -> None:
    """The check takes seconds off the loop; a second copy of the submission is answered as a
    duplicate once the first is accepted (its runs published once), and a cancel sent right
    after a submission cancels it rather than missing it."""
    topology = Topology(prefix="check-race")
    bus = InMemoryBus()
    await topology.declare(bus)
    inbox = Inbox()
    await bus.declare_queue(QueueSpec(name="check-race.tap"))
    await bus.bind("check-race.tap", topology.events, "simulation.*")
    await bus.consume("check-race.tap", inbox.handler, prefetch=100)
    scheduler = SchedulerService(bus=bus, topology=topology)
    await scheduler.start()
    slow = {**generated("random_k_out_graph", n=500_000, k=10), "name": "slow", "repetitions": 3}
    first = SimulationSubmit(spec=slow, simulation_id=check_simulation_id("slow"))
    try:
        for message in (first, first):
            await publish_message(bus, topology, message)
        cancelled_id = check_simulation_id("cancelled")
        await publish_message(
            bus, topology, SimulationSubmit(spec=SPEC, simulation_id=cancelled_id)
        )
        await publish_message(bus, topology, SimulationCancel(simulation_id=cancelled_id))
        for _ in range(300):
            state = scheduler.simulations.get("cancelled")
            if "slow" in scheduler.simulations and state is not None and state.completed:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
    finally:
        await scheduler.close()
    events = [decode(body) for body in inbox.bodies]
    accepted = [e for e in events if isinstance(e, SimulationAccepted)]
    assert sorted(e.simulation_id for e in accepted) == ["cancelled", "slow"]
    assert bus.queue_depth(topology.runs_queue) == 3 + 2  # slow's runs once, and cancelled's
    cancelled = scheduler.simulations["cancelled"]
    assert cancelled.cancelled and cancelled.completed
    await bus.close()


def test_the_worker_does_not_outlive_a_killed_scheduler(tmp_path: Path) -> None:
    """A pool's worker waits on its queue forever and keeps the forkserver alive with it: it
    must notice that the scheduler is gone (killed, say, with no chance to close the pool)."""
    script = tmp_path / "killed.py"
    script.write_text(
        "import asyncio, os\n"
        "from gossipsim.scheduler.spec_check import SpecChecker\n"
        "async def main():\n"
        "    checker = SpecChecker()\n"
        "    await checker.start()\n"
        "    print(*checker._pool._processes, flush=True)\n"
        "    os._exit(0)  # no clean-up, as after SIGKILL\n"
        "if __name__ == '__main__':\n"
        "    asyncio.run(main())\n"
    )
    done = subprocess.run(
        [sys.executable, str(script)], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    (worker,) = map(int, done.stdout.split())
    deadline = time.monotonic() + 10
    while Path(f"/proc/{worker}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{worker}").exists(), "the worker outlived its scheduler"
