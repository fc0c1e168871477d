"""Message contracts: encode/decode, clear errors, and docs/asyncapi.yaml agreeing with code."""

from __future__ import annotations

import subprocess
import sys

import orjson
import pytest
import yaml

from gossipsim.common.messaging.messages import (
    MAX_MESSAGE_BYTES,
    MESSAGE_TYPES,
    MessageError,
    RunRound,
    RunStart,
    SimulationSubmit,
    decode,
    encode,
)
from tests.conftest import REPO


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
    assert {"simulation_id", "run_id", "graph", "algorithm"} <= set(run_start["required"])


def test_messages_round_trip_through_json():
    messages = [
        SimulationSubmit(spec={"graphs": []}),
        RunStart(
            simulation_id="s",
            run_id="r",
            graph_name="g",
            graph={"generator": "x"},
            algorithm={"name": "default"},
            parameters={"factor": 2.0},
        ),
        RunRound(simulation_id="s", run_id="r", first_round=1, rounds=[{"mean": 1.0}]),
    ]
    for message in messages:
        assert decode(encode(message)) == message


def test_a_plain_json_object_from_any_client_decodes():
    body = orjson.dumps({"kind": "simulation.cancel", "version": 1, "simulation_id": "s-1"})
    assert decode(body).simulation_id == "s-1"


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
            "type str",
        ),
        (
            b'{"kind": "simulation.cancel", "version": 1, "simulation_id": "s", "x": 1}',
            "simulation.cancel",
            "unknown field",
        ),
        (
            b'{"kind": "run.round", "version": 1, "simulation_id": "s", "run_id": "r", '
            b'"first_round": true, "rounds": []}',
            "first_round",
            "boolean",
        ),
    ],
)
def test_invalid_messages_are_refused_naming_the_field(body, field, words):
    with pytest.raises(MessageError) as error:
        decode(body)
    assert error.value.field == field
    assert words in str(error.value)


def test_oversized_messages_are_refused_before_parsing():
    with pytest.raises(MessageError, match="exceeds"):
        decode(b" " * (MAX_MESSAGE_BYTES + 1))
