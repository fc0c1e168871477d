"""Where a simulation's results lie in the object store, and what its manifest says.

The collector writes this layout; ``gossipsim results`` (and anyone reading the bucket) reads
it. The keys:

    simulations/<sim>/submitted.json          the accepted spec (written on simulation.accepted)
    simulations/<sim>/runs/<run>/parts/…      round telemetry as it arrives (one object per batch)
    simulations/<sim>/runs/<run>/rounds.jsonl one line per round: count, mean, variance, min, max, …
    simulations/<sim>/runs/<run>/result.json  the run's outcome, plan and graph metrics
    simulations/<sim>/summary.csv             one row per run
    simulations/<sim>/averaged.csv            one row per graph × algorithm × parameters
    simulations/<sim>/manifest.json           what the simulation was and what it produced

The manifest is the collector's last write for a simulation: a simulation without one has not
completed, and a reader must not take its tables as final.
"""

from __future__ import annotations

from typing import Any, TypedDict

SIMULATIONS = "simulations/"
SUBMITTED = "submitted.json"
SUMMARY = "summary.csv"
AVERAGED = "averaged.csv"
MANIFEST = "manifest.json"
RUNS = "runs/"
PARTS = "parts/"
ROUNDS = "rounds.jsonl"
RESULT = "result.json"
# What the manifest's "files" lists: the files every completed simulation has.
MANIFEST_FILES = (SUMMARY, AVERAGED, f"{RUNS}<run>/{RESULT}", f"{RUNS}<run>/{ROUNDS}")


class Manifest(TypedDict):
    """``manifest.json``."""

    simulation_id: str
    name: str
    spec: dict[str, Any]
    accepted_at: str | None
    completed_at: str
    cancelled: bool
    runs_total: int
    runs_succeeded: int
    runs_failed: int
    files: list[str]


def simulation_prefix(simulation_id: str) -> str:
    return f"{SIMULATIONS}{simulation_id}/"


def simulation_key(simulation_id: str, name: str) -> str:
    """A file of the simulation as a whole: SUBMITTED, SUMMARY, AVERAGED or MANIFEST."""
    return f"{simulation_prefix(simulation_id)}{name}"


def runs_prefix(simulation_id: str) -> str:
    return f"{simulation_prefix(simulation_id)}{RUNS}"


def run_prefix(simulation_id: str, run_id: str) -> str:
    return f"{runs_prefix(simulation_id)}{run_id}/"


def run_key(simulation_id: str, run_id: str, name: str) -> str:
    """A file of one run: ROUNDS or RESULT."""
    return f"{run_prefix(simulation_id, run_id)}{name}"


def parts_prefix(simulation_id: str, run_id: str, attempt: int) -> str:
    """The telemetry parts of one attempt of a run (they sort in round order)."""
    return f"{run_prefix(simulation_id, run_id)}{PARTS}{attempt:03d}-"


def part_key(simulation_id: str, run_id: str, attempt: int, first_round: int) -> str:
    return f"{parts_prefix(simulation_id, run_id, attempt)}{first_round:09d}.json"


def is_result_key(key: str) -> bool:
    """Whether a key under runs_prefix is a run's result.json."""
    return key.endswith(f"/{RESULT}")


def is_telemetry_part(relative: str) -> bool:
    """Whether a key relative to the simulation prefix is raw telemetry (runs/<run>/parts/…),
    which rounds.jsonl holds assembled."""
    parts = relative.split("/")
    return len(parts) > 3 and f"{parts[0]}/" == RUNS and f"{parts[2]}/" == PARTS
