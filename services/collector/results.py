"""The results layout (DESIGN §5) and the tables built from it.

    simulations/<sim>/submitted.json          the accepted spec (written on simulation.accepted)
    simulations/<sim>/runs/<run>/parts/…      round telemetry as it arrives (one object per batch)
    simulations/<sim>/runs/<run>/rounds.jsonl one line per round: count, mean, variance, min, max, …
    simulations/<sim>/runs/<run>/result.json  the run's outcome, plan and graph metrics
    simulations/<sim>/summary.csv             one row per run
    simulations/<sim>/averaged.csv            one row per graph × algorithm × parameters
    simulations/<sim>/manifest.json           what the simulation was and what it produced

Tables are rebuilt from the stored results, keyed by run id, so a redelivered event can never
add a duplicate row.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable
from typing import Any


def simulation_prefix(simulation_id: str) -> str:
    return f"simulations/{simulation_id}/"


def run_prefix(simulation_id: str, run_id: str) -> str:
    return f"{simulation_prefix(simulation_id)}runs/{run_id}/"


def part_key(simulation_id: str, run_id: str, attempt: int, first_round: int) -> str:
    return f"{run_prefix(simulation_id, run_id)}parts/{attempt:03d}-{first_round:09d}.json"


def _parameter_names(results: Iterable[dict[str, Any]]) -> list[str]:
    return sorted({name for r in results for name in r["plan"].get("parameters", {})})


def _metric_names(results: Iterable[dict[str, Any]]) -> list[str]:
    return sorted({name for r in results for name in r.get("metrics", {})})


def summary_rows(results: list[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    parameters = _parameter_names(results)
    metrics = _metric_names(results)
    columns = (
        ["run_id", "simulation_id", "graph", "algorithm"]
        + [f"param_{p}" for p in parameters]
        + ["repetition", "seed", "status", "rounds", "converged", "attempts", "duration_s", "error"]
        + [f"graph_{m}" for m in metrics]
    )
    rows = []
    for r in sorted(results, key=lambda r: r["run_id"]):
        plan = r["plan"]
        row = {
            "run_id": r["run_id"],
            "simulation_id": r["simulation_id"],
            "graph": plan.get("graph", ""),
            "algorithm": plan.get("algorithm_label", ""),
            "repetition": plan.get("repetition", ""),
            "seed": plan.get("seed", ""),
            "status": r["status"],
            "rounds": r.get("rounds", ""),
            "converged": r.get("converged", ""),
            "attempts": r.get("attempt", ""),
            "duration_s": r.get("duration_s", ""),
            "error": r.get("error", ""),
        }
        row.update({f"param_{p}": plan.get("parameters", {}).get(p, "") for p in parameters})
        row.update({f"graph_{m}": r.get("metrics", {}).get(m, "") for m in metrics})
        rows.append(row)
    return columns, rows


def averaged_rows(results: list[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    parameters = _parameter_names(results)
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        plan = r["plan"]
        key = (
            plan.get("graph", ""),
            plan.get("algorithm_label", ""),
            *tuple(plan.get("parameters", {}).get(p, "") for p in parameters),
        )
        groups[key].append(r)
    columns = (
        ["graph", "algorithm"]
        + [f"param_{p}" for p in parameters]
        + [
            "repetitions",
            "completed",
            "mean_rounds",
            "std_rounds",
            "min_rounds",
            "max_rounds",
            "converged_share",
        ]
    )
    rows = []
    for key in sorted(groups, key=lambda k: tuple(str(v) for v in k)):
        members = groups[key]
        rounds = [m["rounds"] for m in members if m["status"] == "completed"]
        converged = [m for m in members if m.get("converged") is True]
        row: dict[str, Any] = {"graph": key[0], "algorithm": key[1]}
        row.update({f"param_{p}": v for p, v in zip(parameters, key[2:], strict=True)})
        row.update(
            {
                "repetitions": len(members),
                "completed": len(rounds),
                "mean_rounds": statistics.fmean(rounds) if rounds else math.nan,
                "std_rounds": statistics.pstdev(rounds) if rounds else math.nan,
                "min_rounds": min(rounds) if rounds else "",
                "max_rounds": max(rounds) if rounds else "",
                "converged_share": len(converged) / len(members),
            }
        )
        rows.append(row)
    return columns, rows


def to_csv(columns: list[str], rows: list[dict[str, Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode()
