"""The tables built from a simulation's stored run results: summary.csv and averaged.csv.

Where they (and everything else) are stored is the results layout,
``gossipsim.common.contracts.results_layout``.

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

from gossipsim.collector.round_statistics import RoundStatistics
from gossipsim.common.messaging.messages import RunPlan, to_json


def plan_record(plan: RunPlan | None) -> dict[str, Any]:
    """What a run's result.json records of its plan, and what the tables read: the graph's
    name, the algorithm (resolved) and its label, parameters, repetition, seed and settings.
    The graph's source is left out: it can be long, and the spec in submitted.json has it."""
    if plan is None:  # a run.completed or run.failed from a producer without the plan
        return {}
    return {
        "graph": plan.graph.name,
        "algorithm": to_json(plan.algorithm),
        "algorithm_label": plan.algorithm.label,
        "parameters": plan.parameters,
        "sweep": plan.sweep,
        "graph_seed": plan.graph.source.get("seed", 0) if "generator" in plan.graph.source else None,
        "repetition": plan.repetition,
        "seed": plan.seed,
        "settings": to_json(plan.settings),
    }


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
            "runs",
            "completed",
            "converged",
            "converged_share",
            "mean_rounds",
            "median_rounds",
            "std_rounds",
            "ci95_low",
            "ci95_high",
            "min_rounds",
            "max_rounds",
            "mean_rounds_all",
        ]
    )
    rows = []
    for key in sorted(groups, key=lambda k: tuple(str(v) for v in k)):
        members = groups[key]
        completed = [m["rounds"] for m in members if m["status"] == "completed"]
        converged = [
            m["rounds"] for m in members if m["status"] == "completed" and m.get("converged")
        ]
        stats = RoundStatistics.of(converged)
        row: dict[str, Any] = {"graph": key[0], "algorithm": key[1]}
        row.update({f"param_{p}": v for p, v in zip(parameters, key[2:], strict=True)})
        row.update(
            {
                "runs": len(members),
                "completed": len(completed),
                "converged": stats.converged,
                "converged_share": stats.converged / len(members),
                "mean_rounds": stats.mean,
                "median_rounds": stats.median,
                "std_rounds": stats.std,
                "ci95_low": stats.ci95_low,
                "ci95_high": stats.ci95_high,
                "min_rounds": min(converged) if converged else "",
                "max_rounds": max(converged) if converged else "",
                "mean_rounds_all": statistics.fmean(completed) if completed else math.nan,
            }
        )
        rows.append(row)
    return columns, rows


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    """``value`` as a CSV cell no spreadsheet runs as a formula.

    Graph names, algorithm labels and error messages come from whoever submitted the spec, and
    a cell such as ``=HYPERLINK(…)`` would run when the table is opened in a spreadsheet. Text
    that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading
    ``'`` (the usual escape, which spreadsheets hide); numbers, and text that reads as a
    number (``-0.5``), are written as they are.
    """
    if not isinstance(value, str) or not value.startswith(_FORMULA_STARTS):
        return value
    try:
        float(value)
    except ValueError:
        return "'" + value
    return value


def to_csv(columns: list[str], rows: list[dict[str, Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writerow({column: spreadsheet_safe(column) for column in columns})
    writer.writerows({key: spreadsheet_safe(value) for key, value in row.items()} for row in rows)
    return buffer.getvalue().encode()
