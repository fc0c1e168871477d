"""Message contracts: encode/decode, nested validation that names the field, checked ids, and
docs/asyncapi.yaml agreeing with code."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import orjson
import pytest
import yaml

from gossipsim.common.messaging.messages import (
    MAX_MESSAGE_BYTES,
    MESSAGE_TYPES,
    MessageError,
    RunCompleted,
    RunFailed,
    RunId,
    RunRound,
    RunStart,
    SimulationId,
    SimulationSubmit,
    decode,
    encode,
    to_json,
)
from gossipsim.common.model.algorithms import Memory, Mode, Order, Rule, Selection
from gossipsim.common.model.initial_values import Initialization
from gossipsim.common.spec.run_plan import AlgorithmPlan, ExecutionSettings, GraphPlan, RunPlan
from gossipsim.common.spec.simulation_spec import expand_runs, parse_spec
from tests.conftest import REPO

PLAN = RunPlan(
    graph=GraphPlan(
        name="ba-200",
        source={"name": "ba-200", "generator": "barabasi_albert_graph", "params": {"n": 200}},
    ),
    algorithm=AlgorithmPlan(
        name="weighted_factor_memory",
        rule=Rule.MIN,
        selection=Selection.WEIGHTED_FACTOR,
        memory=Memory.MEMORY,
        mode=Mode.SEQUENTIAL,
        order=Order.FIXED,
    ),
    parameters={"factor": 2.0, "priorPartnerFactor": 0.3},
    repetition=3,
    seed=7,
    settings=ExecutionSettings(
        max_rounds=50,
        until_converged=False,
        epsilon=0.001,
        initialization=Initialization.RANDOM_INT,
        history_every=2,
        history_vertices=(0, 5, 9),
        shards=2,
    ),
)
RUN_ID = RunId("ba-200.weighted_factor_memory.factor=2.0.priorPartnerFactor=0.3.r3")
START = RunStart(simulation_id=SimulationId("sweep-54fc0d78f2"), run_id=RUN_ID, plan=PLAN)


def body(message: Any, **changes: Any) -> dict[str, Any]:
    """The JSON object of ``message`` with ``changes`` at dotted paths (None deletes)."""
    document = orjson.loads(encode(message))
    for path, value in changes.items():
        *parents, last = path.split("__")
        target = document
        for key in parents:
            target = target[key]
        if value is None:
            del target[last]
        else:
            target[last] = value
    return document


def refused(document: dict[str, Any]) -> MessageError:
    with pytest.raises(MessageError) as error:
        decode(orjson.dumps(document))
    return error.value


# --- the document ------------------------------------------------------------------------


def test_asyncapi_document_is_generated_from_the_code():
    completed = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "gen_asyncapi.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_asyncapi_document_describes_every_message_and_its_required_fields():
    document = yaml.safe_load((REPO / "docs" / "asyncapi.yaml").read_text())
    assert document["asyncapi"].startswith("3.")
    described = {m["name"]: m for m in document["components"]["messages"].values()}
    assert set(described) == set(MESSAGE_TYPES)
    run_start = described["run.start"]["payload"]
    assert {"simulation_id", "run_id", "plan"} <= set(run_start["required"])
    schemas = document["components"]["schemas"]
    assert set(schemas["RunPlan"]["required"]) == {
        "graph", "algorithm", "parameters", "repetition", "seed", "settings"
    }  # fmt: skip
    assert "max_rounds" in schemas["ExecutionSettings"]["required"]
    assert schemas["SimulationId"]["maxLength"] == 128


# --- round trips -------------------------------------------------------------------------


def test_a_run_start_with_a_full_plan_round_trips():
    decoded = decode(encode(START))
    assert decoded == START
    assert isinstance(decoded, RunStart)
    assert decoded.plan.settings.history_vertices == (0, 5, 9)
    assert decoded.plan.algorithm.rule is Rule.MIN


def test_plans_of_an_expanded_spec_round_trip():
    spec = parse_spec(
        {
            "name": "x",
            "graphs": [{"name": "p", "generator": "path_graph", "params": {"n": 12}}],
            "algorithms": ["betweenness_weighted", {"rule": "push_sum", "mode": "synchronous"}],
            "parameters": {"factor": [1, 2], "weightingParamA": 0.25},
            "history": {"every": 3, "vertices": 4},
        }
    )
    for run_id, plan in expand_runs(spec).items():
        start = RunStart(simulation_id=SimulationId("x-0123456789"), run_id=run_id, plan=plan)
        assert decode(encode(start)) == start


def test_events_echo_the_plan_as_the_same_type():
    completed = RunCompleted(
        simulation_id=START.simulation_id,
        run_id=RUN_ID,
        rounds=4,
        converged=True,
        final={"mean": 1.0, "count": 200},
        plan=START.plan,
        metrics={"nodes": 200, "diameter": None, "density": 0.02},
    )
    failed = RunFailed(simulation_id=START.simulation_id, run_id=RUN_ID, error="x", plan=START.plan)
    for message in (completed, failed):
        decoded = decode(encode(message))
        assert decoded == message
        assert decoded.plan == START.plan  # type: ignore[attr-defined]
    assert decode(encode(completed)).metrics["nodes"] == 200  # type: ignore[attr-defined]


def test_other_messages_round_trip_through_json():
    messages = [
        SimulationSubmit(spec={"graphs": []}),
        SimulationSubmit(spec={"graphs": []}, simulation_id=SimulationId("given.id-1")),
        RunRound(
            simulation_id=SimulationId("s"),
            run_id=RunId("r"),
            first_round=1,
            rounds=[{"mean": 1.0, "count": 3}, {"mean": None, "history": [0.5, 1.0]}],
        ),
    ]
    for message in messages:
        assert decode(encode(message)) == message


def test_enums_are_lower_case_names_on_the_wire():
    document = to_json(PLAN)
    assert document["algorithm"]["selection"] == "weighted_factor"
    assert document["settings"]["initialization"] == "random_int"
    assert document["settings"]["history_vertices"] == [0, 5, 9]


def test_a_plain_json_object_from_any_client_decodes():
    body = orjson.dumps({"kind": "simulation.cancel", "version": 1, "simulation_id": "s-1"})
    assert decode(body).simulation_id == "s-1"  # type: ignore[attr-defined]


# --- refusals ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        (b"\x00\xff garbage", None, "not JSON"),
        (b"[1, 2]", None, "JSON object"),
        (b'{"kind": "run.explode", "version": 1}', "kind", "unknown message kind"),
        (
            b'{"kind": "simulation.cancel", "version": 7, "simulation_id": "s"}',
            "version",
            "unsupported version",
        ),
        (b'{"kind": "simulation.cancel", "version": 1}', "simulation_id", "required"),
        (
            b'{"kind": "simulation.cancel", "version": 1, "simulation_id": 5}',
            "simulation_id",
            "must be a string",
        ),
        (
            b'{"kind": "simulation.cancel", "version": 1, "simulation_id": "s", "x": 1}',
            "x",
            "unknown field of simulation.cancel",
        ),
        (
            b'{"kind": "run.round", "version": 1, "simulation_id": "s", "run_id": "r", '
            b'"first_round": true, "rounds": []}',
            "first_round",
            "boolean",
        ),
        (
            b'{"kind": "run.round", "version": 1, "simulation_id": "s", "run_id": "r", '
            b'"first_round": 0, "rounds": [{"mean": 1.0}, {"mean": "high"}]}',
            "rounds[1].mean",
            "must be number or array or null",
        ),
        (
            b'{"kind": "run.completed", "version": 1, "simulation_id": "s", "run_id": "r", '
            b'"rounds": 1, "converged": true, "metrics": {"nodes": [1]}}',
            "metrics.nodes",
            "must be a number",
        ),
    ],
)
def test_invalid_messages_are_refused_naming_the_field(body, field, words):
    with pytest.raises(MessageError) as error:
        decode(body)
    assert error.value.field == field
    assert words in str(error.value)


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"plan__settings__max_rounds": "many"}, "plan.settings.max_rounds", "integer"),
        ({"plan__settings__max_rounds": 0}, "plan.settings.max_rounds", "must lie in 1.."),
        ({"plan__settings__epsilon": 1.5}, "plan.settings.epsilon", "[0, 1)"),
        ({"plan__settings__shards": None}, "plan.settings.shards", "required"),
        ({"plan__settings__colour": "red"}, "plan.settings.colour", "unknown field"),
        ({"plan__settings__history_vertices": [0, "a"]}, "plan.settings.history_vertices[1]", ""),
        ({"plan__settings__history_vertices": [0, -1]}, "plan.settings.history_vertices[1]", ""),
        ({"plan__settings__initialization": "chaos"}, "plan.settings.initialization", "auto"),
        ({"plan__algorithm__rule": "MIN"}, "plan.algorithm.rule", "one of min, max"),
        ({"plan__algorithm__extra": 1}, "plan.algorithm.extra", "unknown field"),
        ({"plan__graph__source": "ba.edges"}, "plan.graph.source", "must be an object"),
        ({"plan__graph__name": ""}, "plan.graph.name", "non-empty"),
        ({"plan__parameters__factor": "2"}, "plan.parameters.factor", "number"),
        ({"plan__parameters__speed": 2}, "plan.parameters.speed", "unknown parameter"),
        ({"plan__parameters__factor": -1}, "plan.parameters.factor", ">= 0"),
        ({"plan__seed": -1}, "plan.seed", "0.."),
        ({"plan__settings": []}, "plan.settings", "must be an object"),
        ({"plan": None}, "plan", "required"),
    ],
)
def test_nested_errors_name_the_path(changes, field, words):
    error = refused(body(START, **changes))
    assert error.field == field
    assert words in str(error)


# --- ids ---------------------------------------------------------------------------------

MALFORMED_IDS = ["../../x", "a/b", "", ".", "..", "-leading", "x" * 300, "tab\tin", "ünï"]
WITH_SIMULATION_ID = [kind for kind in MESSAGE_TYPES if kind != "simulation.submit"]
WITH_RUN_ID = [
    "run.start", "run.started", "run.heartbeat", "run.round", "run.graph", "run.completed",
    "run.failed",
]  # fmt: skip
DRAWING = {
    "layout": "spring",
    "labels": ["a", "b"],
    "x": [0.0, 1.0],
    "y": [0.0, 1.0],
    "sources": [0],
    "targets": [1],
    "attributes": {"degree": [1, 1]},
}


def valid_body(kind: str) -> dict[str, Any]:
    """A valid JSON object of every kind that carries ids."""
    ids = {"simulation_id": "sim-1", "run_id": "g.default.r0"}
    completed_counts = {"runs_total": 1, "succeeded": 1, "failed": 0}
    bodies: dict[str, dict[str, Any]] = {
        "simulation.cancel": {"simulation_id": "sim-1"},
        "run.start": body(START, simulation_id="sim-1", run_id="g.default.r0"),
        "simulation.accepted": {"simulation_id": "sim-1", "runs_total": 1},
        "simulation.rejected": {"simulation_id": "sim-1", "field": "graphs", "reason": "x"},
        "run.started": ids,
        "run.heartbeat": ids,
        "run.round": {**ids, "first_round": 0, "rounds": []},
        "run.graph": {**ids, "graph_key": "0" * 32, "drawing": DRAWING},
        "run.completed": {**ids, "rounds": 1, "converged": True},
        "run.failed": {**ids, "error": "x"},
        "simulation.completed": {**completed_counts, "simulation_id": "sim-1"},
        "results.stored": {"simulation_id": "sim-1", "location": "/tmp/x"},
    }
    return {**bodies[kind], "kind": kind, "version": 1}


@pytest.mark.parametrize("kind", WITH_SIMULATION_ID)
def test_every_message_with_ids_decodes_with_valid_ones(kind):
    assert decode(orjson.dumps(valid_body(kind))).kind == kind


@pytest.mark.parametrize("kind", WITH_SIMULATION_ID)
@pytest.mark.parametrize("malformed", MALFORMED_IDS)
def test_a_malformed_simulation_id_is_refused_naming_the_field(kind, malformed):
    error = refused({**valid_body(kind), "simulation_id": malformed})
    assert error.field == "simulation_id"
    assert "lower-case letters" in str(error)


@pytest.mark.parametrize("kind", WITH_RUN_ID)
@pytest.mark.parametrize("malformed", MALFORMED_IDS)
def test_a_malformed_run_id_is_refused_naming_the_field(kind, malformed):
    error = refused({**valid_body(kind), "run_id": malformed})
    assert error.field == "run_id"


@pytest.mark.parametrize("malformed", ["a/b", "Upper-Case", "../x"])
def test_a_submitted_simulation_id_is_checked_too(malformed):
    document = {"kind": "simulation.submit", "version": 1, "spec": {}, "simulation_id": malformed}
    assert refused(document).field == "simulation_id"


def test_ids_the_services_generate_are_admitted():
    for simulation_id in ("overhead-54fc0d78f2", "default-sweep-0f3a9c21", "sim-1", "e"):
        valid = {**valid_body("simulation.cancel"), "simulation_id": simulation_id}
        assert decode(orjson.dumps(valid)).simulation_id == simulation_id  # type: ignore[attr-defined]
    for run_id in (
        "ba-200.default.r0",
        "ba-200.weighted_factor.factor=2.5.r1",
        "barab-n20-e1.0.weighted_factor.synchronous.shuffled.factor=2.0.r0",
        "g.betweenness_weighted.weightingParamA=0.5.r0",
    ):
        valid = {**valid_body("run.started"), "run_id": run_id}
        assert decode(orjson.dumps(valid)).run_id == run_id  # type: ignore[attr-defined]


def test_oversized_messages_are_refused_before_parsing():
    with pytest.raises(MessageError, match="exceeds"):
        decode(b" " * (MAX_MESSAGE_BYTES + 1))


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (
            b'{"kind": "simulation.cancel", "version": 1, "simulation_id": "a",'
            b' "simulation_id": "b"}',
            "a key appears twice",
        ),
        (
            b'{"kind": "simulation.submit", "version": 1, "simulation_id": "s",'
            b' "spec": {"seed": 123456789012345678901234567890}}',
            "64 bits",
        ),
        (b'{"kind": "simulation.submit", "version": 1, "spec": {"epsilon": NaN}}', "not JSON"),
        (b'{"kind": "simulation.submit", "version": 1, "spec": {"epsilon": 1e999}}', "infinity"),
        (
            b'{"kind": "simulation.submit", "version": 1, "spec": '
            + b'{"a": ' * 100
            + b"1"
            + b"}" * 101,
            "nested deeper",
        ),
    ],
)
def test_messages_that_would_read_differently_to_different_parsers_are_refused(body, words):
    """orjson alone keeps the last of two keys and turns big integers into floats: a consumer
    in another language could read another message than gossipsim does."""
    with pytest.raises(MessageError, match=words):
        decode(body)
