"""The contracts two sides share read back what the writing side wrote."""

from __future__ import annotations

import pytest

from gossipsim.common.contracts import results_layout as layout
from gossipsim.common.contracts.node_handshake import parse_ready_line, ready_line
from gossipsim.common.contracts.status_document import (
    RunStatus,
    encode,
    read_status,
    status_key,
)
from gossipsim.scheduler.state import SimulationState


def test_the_node_ready_line_carries_the_port_and_nothing_else_passes_for_one() -> None:
    assert parse_ready_line(ready_line(41234) + "\n") == 41234
    assert parse_ready_line("Traceback (most recent call last):") is None
    assert parse_ready_line("GOSSIPSIM_NODE_LISTENING") is None


def test_a_status_document_the_scheduler_writes_reads_back_typed() -> None:
    state = SimulationState(simulation_id="sim-a", plans={}, name="ring")
    state.completed = True
    status = read_status(status_key("sim-a"), encode(state.to_document()))
    assert (status.simulation_id, status.name, status.phase) == ("sim-a", "ring", "completed")
    assert status.counts == {s.value: 0 for s in RunStatus}
    assert status.runs_total == 0 and status.rejected is None and status.error == ""


def test_an_unreadable_status_document_is_a_status_of_its_own() -> None:
    status = read_status(status_key("sim-b"), b"[1, 2]")
    assert (status.simulation_id, status.phase, status.error) == (
        "sim-b",
        "unreadable",
        "not a JSON object",
    )


@pytest.mark.parametrize("simulation_id", ["", ".", "..", "a/b"])
def test_a_simulation_id_that_is_no_key_segment_is_refused(simulation_id: str) -> None:
    with pytest.raises(ValueError, match="not a single name"):
        status_key(simulation_id)


def test_the_results_layout_keys() -> None:
    assert layout.simulation_key("s", layout.MANIFEST) == "simulations/s/manifest.json"
    assert layout.run_key("s", "r", layout.RESULT) == "simulations/s/runs/r/result.json"
    part = layout.part_key("s", "r", 2, 40)
    assert part == "simulations/s/runs/r/parts/002-000000040.json"
    assert part.startswith(layout.parts_prefix("s", "r", 2))
    assert layout.is_telemetry_part(part.removeprefix(layout.simulation_prefix("s")))
    assert not layout.is_telemetry_part("runs/r/rounds.jsonl")
