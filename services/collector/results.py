"""The tables built from a simulation's stored run results: summary.csv, averaged.csv and the
long table of rounds (rounds/part-*.csv).

Where they (and everything else) are stored is the results layout,
``gossipsim.common.contracts.results_layout``.

Tables are rebuilt from the stored results, keyed by run id, so a redelivered event can never
add a duplicate row. A run's configuration is its graph, algorithm label and ``param_<name>``
columns: the algorithm's parameters and the values of the spec's other swept fields (the plan's
``sweep``), one column per name any run has, so that every table groups and joins the same way.

The long table is tidy data: one row per run and round, each carrying what identifies its run
(simulation, run, graph, algorithm, parameters, repetition, graph seed), the round's aggregates
from rounds.jsonl (the sampled ``history`` is left out: it is per vertex), and the convergence
measure. ``spread`` is (max − min) / max(|max|, |min|), 0 where both are 0: what averaging rules
compare with epsilon, 0 exactly when min/max rules have converged, and for rumors 0 once everyone
(or no one) is informed — for rumors ``mean`` is the informed share. ``converged`` is the
runner's own test (:func:`gossipsim.common.model.convergence.is_converged`) with the run's rule
and epsilon, so a run's row at its last round says what summary.csv's ``converged`` says.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

from gossipsim.collector.round_statistics import RoundStatistics
from gossipsim.common.contracts.results_layout import ROWS_PER_ROUNDS_PART, RUNS_PER_ROUNDS_PART
from gossipsim.common.messaging.messages import RunPlan, to_json
from gossipsim.common.model.aggregates import Aggregates
from gossipsim.common.model.algorithms import Rule
from gossipsim.common.model.convergence import DEFAULT_EPSILON, is_converged

ROUND_AGGREGATES = ("count", "mean", "variance", "min", "max", "sum", "mass", "weight")
"""The columns of the long table taken from each line of rounds.jsonl, in its order."""


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
        "graph_seed": plan.graph.source.get("seed", 0)
        if "generator" in plan.graph.source
        else None,
        "repetition": plan.repetition,
        "seed": plan.seed,
        "settings": to_json(plan.settings),
    }


def configuration(plan: dict[str, Any]) -> dict[str, Any]:
    """What makes a run's configuration beside its graph and algorithm, by column name: the
    algorithm's parameters and the values of the spec's other swept fields (``sweep``)."""
    return {**plan.get("sweep", {}), **plan.get("parameters", {})}


def _parameter_names(results: Iterable[dict[str, Any]]) -> list[str]:
    """The ``param_<name>`` columns: every parameter or swept value of any run."""
    return sorted({name for r in results for name in configuration(r["plan"])})


def _metric_names(results: Iterable[dict[str, Any]]) -> list[str]:
    return sorted({name for r in results for name in r.get("metrics", {})})


def summary_rows(results: list[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    parameters = _parameter_names(results)
    metrics = _metric_names(results)
    columns = (
        ["run_id", "simulation_id", "graph", "algorithm"]
        + [f"param_{p}" for p in parameters]
        + ["repetition", "seed", "graph_seed", "status", "rounds", "converged", "attempts"]
        + ["duration_s", "error"]
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
            "graph_seed": _cell(plan.get("graph_seed")),
            "status": r["status"],
            "rounds": r.get("rounds", ""),
            "converged": r.get("converged", ""),
            "attempts": r.get("attempt", ""),
            "duration_s": r.get("duration_s", ""),
            "error": r.get("error", ""),
        }
        values = configuration(plan)
        row.update({f"param_{p}": values.get(p, "") for p in parameters})
        row.update({f"graph_{m}": r.get("metrics", {}).get(m, "") for m in metrics})
        rows.append(row)
    return columns, rows


def averaged_rows(results: list[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    parameters = _parameter_names(results)
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        plan = r["plan"]
        values = configuration(plan)
        key = (
            plan.get("graph", ""),
            plan.get("algorithm_label", ""),
            *tuple(values.get(p, "") for p in parameters),
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


def _cell(value: Any) -> Any:
    """A CSV cell: None (JSON null, or a value a run does not have) is an empty cell."""
    return "" if value is None else value


# -- the long table of rounds -------------------------------------------------------------


def rounds_columns(results: list[dict[str, Any]]) -> list[str]:
    """The long table's columns: the same ``param_<name>`` set as summary.csv."""
    return (
        ["simulation_id", "run_id", "graph", "algorithm"]
        + [f"param_{p}" for p in _parameter_names(results)]
        + ["repetition", "graph_seed", "round", *ROUND_AGGREGATES, "spread", "converged"]
    )


def rounds_parts(results: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The completed runs (failed runs have no rounds) cut into the long table's parts: whole
    runs in run-id order, a new part after RUNS_PER_ROUNDS_PART runs or once a part holds
    ROWS_PER_ROUNDS_PART rows (a run has ``rounds`` + 1 rows). Always at least one part, so the
    columns are there even when no run completed."""
    parts: list[list[dict[str, Any]]] = [[]]
    rows = 0
    completed = (r for r in results if r.get("status") == "completed")
    for result in sorted(completed, key=lambda r: r["run_id"]):
        if parts[-1] and (len(parts[-1]) >= RUNS_PER_ROUNDS_PART or rows >= ROWS_PER_ROUNDS_PART):
            parts.append([])
            rows = 0
        parts[-1].append(result)
        rows += int(result.get("rounds", 0)) + 1
    return parts


def spread(low: float | None, high: float | None) -> float:
    """The relative spread (max − min) / max(|max|, |min|), 0 where both are 0; nan for a
    round without values."""
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return math.nan
    scale = max(abs(low), abs(high))
    return 0.0 if scale == 0.0 else (high - low) / scale


def _convergence_test(plan: dict[str, Any]) -> tuple[Rule, float] | None:
    """The run's rule and epsilon, or None for a result recorded without its plan."""
    try:
        rule = Rule[str(plan["algorithm"]["rule"]).upper()]
    except (KeyError, TypeError):
        return None
    epsilon = plan.get("settings", {}).get("epsilon", DEFAULT_EPSILON)
    return rule, float(epsilon)


def _converged(test: tuple[Rule, float] | None, line: dict[str, Any]) -> bool | str:
    """is_converged on the round's count, min and max (the only fields it reads)."""
    low, high = line.get("min"), line.get("max")
    if test is None or low is None or high is None:
        return ""
    aggregates = Aggregates(
        count=int(line.get("count") or 0),
        sum_scaled=0,
        sum_squares_scaled=0,
        minimum=float(low),
        maximum=float(high),
        mass_scaled=0,
        weight_scaled=0,
    )
    return is_converged(test[0], aggregates, test[1])


def rounds_rows(
    result: dict[str, Any], lines: Iterable[dict[str, Any]], parameters: list[str]
) -> Iterator[list[Any]]:
    """The long table's rows of one run (columns as :func:`rounds_columns` with
    ``parameters``) from its rounds.jsonl lines."""
    plan = result.get("plan", {})
    values = configuration(plan)
    identity = [
        result["simulation_id"],
        result["run_id"],
        plan.get("graph", ""),
        plan.get("algorithm_label", ""),
        *(values.get(p, "") for p in parameters),
        plan.get("repetition", ""),
        _cell(plan.get("graph_seed")),
    ]
    identity = [spreadsheet_safe(cell) for cell in identity]
    test = _convergence_test(plan)
    for line in lines:
        yield [
            *identity,
            line["round"],
            *(_cell(line.get(name)) for name in ROUND_AGGREGATES),
            spread(line.get("min"), line.get("max")),
            _converged(test, line),
        ]


def rows_to_csv(columns: list[str], rows: Iterable[list[Any]]) -> bytes:
    """Rows as lists (the long table is large: no dict per row); cells already safe."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([spreadsheet_safe(column) for column in columns])
    writer.writerows(rows)
    return buffer.getvalue().encode()


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
