"""Where a simulation's results lie in the object store, and what its manifest says.

The collector writes this layout; ``gossipsim results`` (and anyone reading the bucket) reads
it. The keys:

    simulations/<sim>/submitted.json          the accepted spec (written on simulation.accepted)
    simulations/<sim>/runs/<run>/parts/…      round telemetry as it arrives (one object per batch)
    simulations/<sim>/runs/<run>/rounds.jsonl one line per round: count, mean, variance, min, max, …
    simulations/<sim>/runs/<run>/result.json  the run's outcome, plan and graph metrics
    simulations/<sim>/runs/<run>/history.parquet  sampled vertex values: run, round, vertex, value
    simulations/<sim>/runs/<run>/graph.gexf   (visualize) the graph, its attributes, its values
    simulations/<sim>/runs/<run>/frames/round-0000.png  (visualize) one picture per sampled round
    simulations/<sim>/runs/<run>/animation.gif  (visualize) the frames, animated
    simulations/<sim>/drawings/<graph-key>.json  (visualize) a graph's layout, edges, attributes
    simulations/<sim>/summary.csv             one row per run
    simulations/<sim>/averaged.csv            one row per graph × algorithm × parameters
    simulations/<sim>/rounds/part-00000.csv   the long table: one row per run × round, in parts
    simulations/<sim>/summary.parquet         summary.csv with types (ints, floats, bools)
    simulations/<sim>/rounds.parquet          the long table with types, one row group per part
    simulations/<sim>/plots/convergence.png   convergence measure per round and configuration
    simulations/<sim>/plots/rounds.png        rounds to convergence per configuration
    simulations/<sim>/plots/sweep.png         mean rounds against a swept parameter (sweeps only)
    simulations/<sim>/report.html             one self-contained page: facts, tables, the plots
    simulations/<sim>/manifest.json           what the simulation was and what it produced
    latest/<name>.json                        which simulation of a name completed last

The manifest is the collector's last write for a simulation: a simulation without one has not
completed, and a reader must not take its tables as final. The ``latest`` pointer is written
after it, so it only ever names a completed simulation.

The long table is cut into parts so that neither the collector writing it nor a reader taking
it part by part holds a huge sweep's rounds at once: a part holds whole runs in run-id order,
and a new part starts once one holds :data:`RUNS_PER_ROUNDS_PART` runs or
:data:`ROWS_PER_ROUNDS_PART` rows. Every part has the same columns; the manifest's ``files``
names each part.

The manifest's ``files`` lists, in this order: summary.csv, averaged.csv, the parts of the
long table, summary.parquet, rounds.parquet (left out of a long table too large for it, see
the collector's parquet.py), the plots drawn, report.html, then the per-run files.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, NotRequired, TypedDict

import orjson

from gossipsim.common.errors import InvalidInput
from gossipsim.common.spec.ids import check_simulation_id

SIMULATIONS = "simulations/"
SUBMITTED = "submitted.json"
SUMMARY = "summary.csv"
AVERAGED = "averaged.csv"
MANIFEST = "manifest.json"
RUNS = "runs/"
PARTS = "parts/"
ROUNDS = "rounds.jsonl"
RESULT = "result.json"
ROUNDS_TABLE = "rounds/"
RUNS_PER_ROUNDS_PART = 1000
ROWS_PER_ROUNDS_PART = 200_000  # about 40 MB of CSV
SUMMARY_PARQUET = "summary.parquet"
ROUNDS_PARQUET = "rounds.parquet"
PLOTS = "plots/"
CONVERGENCE_PLOT = f"{PLOTS}convergence.png"
ROUNDS_PLOT = f"{PLOTS}rounds.png"
SWEEP_PLOT = f"{PLOTS}sweep.png"  # only when a parameter takes several values
REPORT = "report.html"
LATEST = "latest/"
HISTORY = "history.parquet"  # a run's sampled vertex values, when it sampled any
GEXF = "graph.gexf"  # visualize: per run
FRAMES = "frames/"  # visualize: per run, one PNG per drawn round
ANIMATION = "animation.gif"  # visualize: per run
DRAWINGS = "drawings/"  # visualize: per graph, the runner's drawing (layout, edges, attributes)
# What the manifest's "files" lists beside the parts of the long table (rounds_part_name):
# the files every completed simulation has.
MANIFEST_FILES = (SUMMARY, AVERAGED, f"{RUNS}<run>/{RESULT}", f"{RUNS}<run>/{ROUNDS}")


class VisualizeSummary(TypedDict):
    """The manifest's ``visualize``: how many completed runs were drawn, and for each graph
    whose runs were not, why (too large for ``visualize.max_vertices``, …)."""

    runs_drawn: int
    runs_not_drawn: int
    not_drawn: dict[str, str]  # graph name → reason


def run_file_patterns(names: set[str]) -> list[str]:
    """The manifest's entries for per-run files beyond result.json and rounds.jsonl that some
    run has (``names``: relative to a run), in the layout's order."""
    order = [HISTORY, GEXF, f"{FRAMES}round-NNNN.png", ANIMATION]
    present = set(names) | ({f"{FRAMES}round-NNNN.png"} if GEXF in names else set())
    return [f"{RUNS}<run>/{name}" for name in order if name in present]


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
    visualize: NotRequired[VisualizeSummary]  # only when the spec has visualize


class LatestPointer(TypedDict):
    """``latest/<name>.json``: the simulation of a name that completed last (not cancelled).
    ``location`` is where the collector wrote it; readers of a copied store use the id."""

    simulation_id: str
    name: str
    completed_at: str
    location: str


def simulation_prefix(simulation_id: str) -> str:
    return f"{SIMULATIONS}{simulation_id}/"


def simulation_key(simulation_id: str, name: str) -> str:
    """A file of the simulation as a whole: SUBMITTED, SUMMARY, AVERAGED, MANIFEST, a Parquet
    table or a plot (``plots/…``)."""
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


def frame_name(round_number: int) -> str:
    """A run's frame of a round, relative to the run: ``frames/round-0007.png``."""
    return f"{FRAMES}round-{round_number:04d}.png"


def drawing_key(simulation_id: str, graph_key: str) -> str:
    """Where the drawing of the graph with source digest ``graph_key`` is kept."""
    if not re.fullmatch(r"[0-9a-f]{32}", graph_key):
        raise InvalidInput("must be 32 lower-case hex digits", field="graph_key")
    return simulation_key(simulation_id, f"{DRAWINGS}{graph_key}.json")


def is_result_key(key: str) -> bool:
    """Whether a key under runs_prefix is a run's result.json."""
    return key.endswith(f"/{RESULT}")


def is_telemetry_part(relative: str) -> bool:
    """Whether a key relative to the simulation prefix is raw telemetry (runs/<run>/parts/…),
    which rounds.jsonl holds assembled."""
    parts = relative.split("/")
    return len(parts) > 3 and f"{parts[0]}/" == RUNS and f"{parts[2]}/" == PARTS


def rounds_part_name(index: int) -> str:
    """A part of the long table relative to the simulation prefix: ``rounds/part-00000.csv``."""
    return f"{ROUNDS_TABLE}part-{index:05d}.csv"


def rounds_part_key(simulation_id: str, index: int) -> str:
    return f"{simulation_prefix(simulation_id)}{rounds_part_name(index)}"


def is_rounds_part(name: str) -> bool:
    """Whether a name in the manifest's ``files`` is a part of the long table."""
    return re.fullmatch(rf"{ROUNDS_TABLE}part-[0-9]{{5,}}\.csv", name) is not None


def name_slug(name: str) -> str:
    """A simulation name as one key segment: lower-case letters, digits and ``-``, as the
    simulation id spells it (``My sweep #2`` -> ``my-sweep-2``)."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:100].strip("-")
    return slug or "simulation"


def latest_key(name: str) -> str:
    """The ``latest`` pointer of a simulation name (names that slug alike share one)."""
    return f"{LATEST}{name_slug(name)}.json"


def parse_latest_pointer(data: bytes) -> LatestPointer | None:
    """A stored ``latest`` pointer, or None when the bytes are none (not a JSON object, no
    valid simulation id): a reader must not follow a pointer anyone could have left there
    outside the simulations/ folder."""
    try:
        document = orjson.loads(data)
        if not isinstance(document, dict):
            return None
        simulation_id = check_simulation_id(document.get("simulation_id"))
    except (orjson.JSONDecodeError, InvalidInput):
        return None
    return {
        "simulation_id": simulation_id,
        "name": str(document.get("name", "")),
        "completed_at": str(document.get("completed_at", "")),
        "location": str(document.get("location", "")),
    }


def completion_time(document: Any) -> datetime:
    """A manifest's or pointer's ``completed_at``, for comparing which is newer; the earliest
    time there is for one without a readable time (it is never the newer)."""
    try:
        when = datetime.fromisoformat(str(document["completed_at"]))
    except (TypeError, KeyError, ValueError):
        return datetime.min.replace(tzinfo=UTC)
    return when if when.tzinfo else when.replace(tzinfo=UTC)
