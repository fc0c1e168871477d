"""The per-simulation plots: plots/convergence.png, plots/rounds.png and plots/sweep.png.

Drawn from what the collector already holds when it writes the tables: each completed run's
rounds.jsonl lines while the long table is written (:class:`Curves` keeps sums per
configuration and round, never the lines), and summary.csv's and averaged.csv's rows. They are
drawn on matplotlib's Agg canvas through its object interface (no pyplot: no window, no global
figure state or backend switched in a notebook that called gossipsim.run, safe in a worker
thread), and matplotlib is imported only when a plot is drawn.

- convergence.png: per configuration (graph × algorithm × parameters) the mean and a ±1 sd
  band over its runs of the convergence measure per round, one panel per rule family: the
  spread ((max − min) / max(|max|, |min|), results.spread) for min/max and for averaging on a
  log axis, the informed fraction (the round's mean) for rumors on a linear one. A run that
  stopped keeps its last value to the configuration's last round (it has converged, or hit
  max_rounds), so a late round is not averaged over the slow runs only. A spread of 0 (min/max
  converged) cannot be drawn on a log axis: it is drawn at the panel's floor, a tenth of the
  smallest spread above 0. At most :data:`MAX_LINES` configurations per panel (the figure
  says how many it left out).
- rounds.png: per configuration a box of its converged runs' rounds to convergence; one
  without any is marked "never converged". At most :data:`MAX_BOXES` configurations.
- sweep.png, only when a ``param_<name>`` column takes several values: per swept parameter a
  panel of mean rounds (converged runs) with averaged.csv's 95% CI as error bars against the
  parameter, one line per graph family × algorithm (× the other parameters' values): a graph
  swept by its generator's parameters is one family (graph_family).
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from gossipsim.collector import results
from gossipsim.common.contracts import results_layout as layout
from gossipsim.common.model.algorithms import Rule
from gossipsim.common.spec.sweeps import format_value

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

Floats = npt.NDArray[np.float64]

DPI = 100
PANEL_WIDTH = 5.5
PANEL_HEIGHT = 4.2
LEGEND_ROW = 0.17
"""Inches: a panel of convergence.png and sweep.png is PANEL_WIDTH wide, and the figure
PANEL_HEIGHT high plus LEGEND_ROW per line of the longest legend (below the axes)."""
ROUNDS_WIDTH = 8.0
ROUNDS_HEIGHT_BASE = 1.2
ROUNDS_HEIGHT_PER_BOX = 0.4
"""rounds.png is ROUNDS_WIDTH wide and this much taller per configuration drawn."""
LABEL_CHARS = 60  # longer configuration labels are cut short (…)
# Margins in inches, set by hand: matplotlib's constrained layout would double the drawing time
_LEFT, _RIGHT, _TOP, _BOTTOM, _GAP = 0.9, 0.25, 0.6, 0.55, 1.0
_CHAR_WIDTH = 0.062  # inches per character of an 8 pt tick label
MAX_LINES = 12
MAX_POINTS = 500  # per line of convergence.png: more is finer than the picture's pixels
MAX_BOXES = 30
MAX_SWEEP_PANELS = 3
SWEEP_LOG_RATIO = 20  # sweep.png's rounds axis is logarithmic when means span more than this

SPREAD_MIN_MAX = "min / max: spread"
SPREAD_AVERAGING = "averaging: spread"
INFORMED = "rumors: informed fraction"
FAMILIES = (SPREAD_MIN_MAX, SPREAD_AVERAGING, INFORMED)
_LOG_FAMILIES = (SPREAD_MIN_MAX, SPREAD_AVERAGING)


def family_of(rule: Rule) -> str:
    if rule.is_rumor:
        return INFORMED
    return SPREAD_MIN_MAX if rule.converges_exactly else SPREAD_AVERAGING


def graph_family(graph: Any, parameters: dict[str, Any]) -> str:
    """A graph's name without what a sweep of its generator added (``ws-60.p=0.1`` of
    ``p=0.1`` is ``ws-60``): the values are in their own columns, and a sweep plot draws one
    line per family across them."""
    name = str(graph)
    for key, value in parameters.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            name = name.replace(f".{key}={format_value(value)}", "")
    return name


def configuration_label(graph: Any, algorithm: Any, parameters: dict[str, Any]) -> str:
    shown = [f"{name}={value}" for name, value in sorted(parameters.items()) if value != ""]
    label = " · ".join([graph_family(graph, parameters), str(algorithm), *shown])
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"


def _grown(array: Floats, length: int) -> Floats:
    return array if len(array) >= length else np.pad(array, (0, length - len(array)))


@dataclass(slots=True)
class _Curve:
    """Sums over one configuration's runs per round: of the runs still running (``n``,
    ``total``, ``squares``) and, indexed by a run's length, of the runs that stopped there
    with their last value (``ended_*``), which count in every later round."""

    family: str
    n: Floats = field(default_factory=lambda: np.zeros(0))
    total: Floats = field(default_factory=lambda: np.zeros(0))
    squares: Floats = field(default_factory=lambda: np.zeros(0))
    ended_n: Floats = field(default_factory=lambda: np.zeros(0))
    ended_total: Floats = field(default_factory=lambda: np.zeros(0))
    ended_squares: Floats = field(default_factory=lambda: np.zeros(0))

    def add(self, values: Floats) -> None:
        length = len(values)
        finite = np.isfinite(values)
        kept = np.where(finite, values, 0.0)
        self.n = _grown(self.n, length)
        self.total = _grown(self.total, length)
        self.squares = _grown(self.squares, length)
        self.n[:length] += finite
        self.total[:length] += kept
        self.squares[:length] += kept * kept
        last = values[finite][-1] if finite.any() else math.nan
        if math.isfinite(last):
            self.ended_n = _grown(self.ended_n, length + 1)
            self.ended_total = _grown(self.ended_total, length + 1)
            self.ended_squares = _grown(self.ended_squares, length + 1)
            self.ended_n[length] += 1
            self.ended_total[length] += last
            self.ended_squares[length] += last * last

    def mean_and_sd(self) -> tuple[Floats, Floats]:
        """Per round, the mean and the sample sd (0 for one run) over the runs."""
        rounds = len(self.n)
        n = self.n + np.cumsum(_grown(self.ended_n, rounds))[:rounds]
        total = self.total + np.cumsum(_grown(self.ended_total, rounds))[:rounds]
        squares = self.squares + np.cumsum(_grown(self.ended_squares, rounds))[:rounds]
        counted = np.maximum(n, 1)
        mean = total / counted
        variance = np.maximum(squares - counted * mean * mean, 0.0) / np.maximum(n - 1, 1)
        return np.where(n > 0, mean, np.nan), np.sqrt(variance)


def _configuration_of(result: dict[str, Any]) -> tuple[str, str] | None:
    """A run's rule family and configuration label; None for a run recorded without its
    plan (no rule to judge it by)."""
    plan = result.get("plan", {})
    try:
        rule = Rule[str(plan["algorithm"]["rule"]).upper()]
    except (KeyError, TypeError):
        return None
    label = configuration_label(
        plan.get("graph", ""), plan.get("algorithm_label", ""), results.configuration(plan)
    )
    return family_of(rule), label


class Curves:
    """The convergence measure per configuration and round, added run by run.

    ``runs`` are the simulation's results: only the configurations drawn (the first
    MAX_LINES of each family, by label) are kept, so a sweep of many configurations costs no
    more memory than a small one; ``totals`` counts them all per family."""

    def __init__(self, runs: Iterable[dict[str, Any]]) -> None:
        labels: dict[str, set[str]] = {}
        for run in runs:
            found = _configuration_of(run) if run.get("status") == "completed" else None
            if found is not None:
                labels.setdefault(found[0], set()).add(found[1])
        self.totals = {family: len(members) for family, members in labels.items()}
        self._curves = {
            label: _Curve(family)
            for family, members in labels.items()
            for label in sorted(members)[:MAX_LINES]
        }

    def add(self, result: dict[str, Any], lines: Sequence[dict[str, Any]]) -> None:
        """A completed run's rounds.jsonl lines (round 0 first)."""
        found = _configuration_of(result)
        curve = self._curves.get(found[1]) if found is not None else None
        if curve is None or not lines:
            return
        if curve.family == INFORMED:
            values = [_number(line.get("mean")) for line in lines]
        else:
            values = [results.spread(line.get("min"), line.get("max")) for line in lines]
        curve.add(np.asarray(values, dtype=np.float64))

    def by_family(self) -> dict[str, dict[str, _Curve]]:
        grouped: dict[str, dict[str, _Curve]] = {}
        for label in sorted(self._curves):
            curve = self._curves[label]
            grouped.setdefault(curve.family, {})[label] = curve
        return grouped


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else math.nan


# -- drawing ----------------------------------------------------------------------------------


def panels_size(panels: int, legend_rows: int) -> tuple[float, float]:
    """convergence.png's and sweep.png's size in inches."""
    return PANEL_WIDTH * panels, PANEL_HEIGHT + LEGEND_ROW * legend_rows


def _panels(count: int, legend_rows: int) -> tuple[Figure, list[Axes]]:
    """A figure of ``count`` panels side by side with room for a legend below each."""
    from matplotlib.figure import Figure

    width, height = panels_size(count, legend_rows)
    figure = Figure(figsize=(width, height), dpi=DPI)
    axes_width = (width - _LEFT - _RIGHT - _GAP * (count - 1)) / count
    figure.subplots_adjust(
        left=_LEFT / width,
        right=1 - _RIGHT / width,
        top=1 - _TOP / height,
        bottom=(_BOTTOM + LEGEND_ROW * legend_rows) / height,
        wspace=_GAP / axes_width,
    )
    return figure, list(figure.subplots(1, count, squeeze=False)[0])


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)  # drawn by the Agg canvas, whatever backend
    return buffer.getvalue()


def _legend(figure: Figure, axes: Axes, rows: int) -> None:
    """The legend below the axes, in the room _panels left for ``rows`` lines."""
    if axes.get_legend_handles_labels()[0]:
        box = axes.get_position()
        top = (LEGEND_ROW * rows + 0.1) / figure.get_figheight()
        axes.legend(
            loc="upper center",
            bbox_to_anchor=((box.x0 + box.x1) / 2, top),
            bbox_transform=figure.transFigure,
            fontsize=7,
            frameon=False,
            borderaxespad=0,
            labelspacing=0.3,
        )


def _capped_title(axes: Axes, title: str, shown: int, total: int) -> None:
    note = f"\n(first {shown} of {total} configurations shown)" if shown < total else ""
    axes.set_title(title + note, fontsize=10, y=1.0, pad=6)  # y given: no costly placement


def convergence_png(curves: Curves) -> bytes:
    families = curves.by_family()
    drawn = [family for family in FAMILIES if family in families] or [INFORMED]
    rows = max(min(len(families.get(family, {})), MAX_LINES) for family in drawn)
    figure, panels = _panels(len(drawn), rows)
    for axes, family in zip(panels, drawn, strict=True):
        members = families.get(family, {})
        _convergence_panel(axes, family, members)
        _capped_title(axes, family, len(members), curves.totals.get(family, 0))
        _legend(figure, axes, rows)
        if not members:
            axes.text(0.5, 0.5, "no completed runs", ha="center", transform=axes.transAxes)
    return _png(figure)


def _convergence_panel(axes: Axes, family: str, curves: dict[str, _Curve]) -> None:
    log = family in _LOG_FAMILIES
    summaries = {label: curve.mean_and_sd() for label, curve in curves.items()}
    floor = _log_floor([mean for mean, _ in summaries.values()]) if log else 0.0
    for label, (mean, sd) in summaries.items():
        step = max(1, len(mean) // MAX_POINTS)  # long runs drawn at every step-th round
        rounds = np.arange(len(mean))[::step]
        mean, sd = mean[::step], sd[::step]
        low, high = mean - sd, mean + sd
        if log:
            mean, low, high = (np.maximum(a, floor) for a in (mean, low, high))
        else:  # a fraction: the band stays within 0..1
            low, high = np.clip(low, 0.0, 1.0), np.clip(high, 0.0, 1.0)
        (line,) = axes.plot(rounds, mean, linewidth=1.2, label=label)
        axes.fill_between(rounds, low, high, color=line.get_color(), alpha=0.15, linewidth=0)
    axes.set_xlabel("round")
    if log:
        axes.set_yscale("log")
        axes.minorticks_off()  # a tick object per minor tick: most of the drawing time
        # 1e-04 rather than mathtext's 10 to the power -4, which takes long to lay out
        axes.yaxis.set_major_formatter(_decade)
        axes.set_ylim(bottom=floor)
        axes.set_ylabel("spread, mean ± 1 sd (0 at the bottom)")
    else:
        axes.set_ylim(-0.02, 1.02)
        axes.set_ylabel("informed fraction, mean ± 1 sd")
    axes.grid(True, alpha=0.3)


def _decade(value: float, _position: Any) -> str:
    return f"{value:.0e}"


def _log_floor(means: list[Floats]) -> float:
    positive = [float(np.min(m[m > 0])) for m in means if np.any(m > 0)]
    return max(min(positive) / 10, 1e-12) if positive else 1e-6


def _configuration_key(row: dict[str, Any], parameters: list[str], swept: str | None = None) -> str:
    """The label of a table row's configuration; the ``swept`` parameter column (the x axis
    of a sweep panel) is taken out of the graph's name but not shown."""
    values = {name.removeprefix("param_"): row.get(name, "") for name in parameters}
    family = graph_family(row.get("graph", ""), values)
    if swept is not None:
        values.pop(swept.removeprefix("param_"), None)
    return configuration_label(family, row.get("algorithm", ""), values)


def rounds_height(boxes: int) -> float:
    """rounds.png's height in inches for ``boxes`` configurations drawn."""
    return ROUNDS_HEIGHT_BASE + ROUNDS_HEIGHT_PER_BOX * max(boxes, 1)


def rounds_png(columns: list[str], summary: list[dict[str, Any]]) -> bytes:
    parameters = [c for c in columns if c.startswith("param_")]
    rounds: dict[str, list[float]] = {}
    for row in summary:
        taken = rounds.setdefault(_configuration_key(row, parameters), [])
        if row.get("status") == "completed" and row.get("converged") is True:
            taken.append(float(row["rounds"]))
    from matplotlib.figure import Figure

    labels = sorted(rounds)[:MAX_BOXES]
    height = rounds_height(len(labels))
    figure = Figure(figsize=(ROUNDS_WIDTH, height), dpi=DPI)
    left = min(0.3 + _CHAR_WIDTH * max((len(label) for label in labels), default=0), 4.2)
    figure.subplots_adjust(
        left=left / ROUNDS_WIDTH, right=1 - _RIGHT / ROUNDS_WIDTH,
        top=1 - 0.45 / height, bottom=0.6 / height,
    )  # fmt: skip
    axes = figure.subplots()
    positions = list(range(len(labels), 0, -1))  # the first configuration on top
    with_runs = [(p, rounds[label]) for p, label in zip(positions, labels, strict=True)]
    drawn = [(p, values) for p, values in with_runs if values]
    if drawn:
        axes.boxplot(
            [values for _, values in drawn],
            positions=[p for p, _ in drawn],
            orientation="horizontal",
            widths=0.6,
        )
    for position, values in with_runs:
        if not values:
            axes.text(
                0.02, position, "never converged", va="center", color="firebrick",
                transform=axes.get_yaxis_transform(),
            )  # fmt: skip
    axes.set_yticks(positions, labels, fontsize=8)
    axes.set_ylim(0.4, len(labels) + 0.6)
    all_rounds = [value for _, values in drawn for value in values]
    if all_rounds and max(all_rounds) > 50 * max(min(all_rounds), 1):
        axes.set_xscale("log")
        axes.minorticks_off()
    axes.set_xlabel("rounds to convergence (converged runs)")
    axes.grid(True, axis="x", alpha=0.3)
    _capped_title(axes, "rounds to convergence", len(labels), len(rounds))
    return _png(figure)


def swept_parameters(columns: list[str], averaged: list[dict[str, Any]]) -> list[str]:
    """The ``param_<name>`` columns of averaged.csv that take several values."""
    swept = []
    for column in columns:
        values = {str(row.get(column, "")) for row in averaged} - {""}
        if column.startswith("param_") and len(values) > 1:
            swept.append(column)
    return swept


def sweep_png(columns: list[str], averaged: list[dict[str, Any]]) -> bytes | None:
    """None when no parameter takes several values (no sweep.png then)."""
    swept = swept_parameters(columns, averaged)[:MAX_SWEEP_PANELS]
    if not swept:
        return None
    parameters = [c for c in columns if c.startswith("param_")]
    lines = {column: _sweep_lines(column, parameters, averaged) for column in swept}
    rows = max(min(len(found), MAX_LINES) for found in lines.values())
    figure, panels = _panels(len(swept), rows)
    for axes, column in zip(panels, swept, strict=True):
        _sweep_panel(axes, column, lines[column])
        _legend(figure, axes, rows)
    return _png(figure)


def _sweep_lines(
    column: str, parameters: list[str], averaged: list[dict[str, Any]]
) -> dict[str, list[dict[str, Any]]]:
    """averaged.csv's rows with a value of ``column``, by graph × algorithm × the other
    parameters' values: the lines of its panel."""
    lines: dict[str, list[dict[str, Any]]] = {}
    for row in averaged:
        if row.get(column, "") != "":
            lines.setdefault(_configuration_key(row, parameters, column), []).append(row)
    return lines


def _sweep_panel(axes: Axes, column: str, lines: dict[str, list[dict[str, Any]]]) -> None:
    values = sorted({row[column] for rows in lines.values() for row in rows}, key=_sort_key)
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    position = {v: (float(v) if numeric else float(i)) for i, v in enumerate(values)}
    shown = sorted(lines)[:MAX_LINES]
    means: list[float] = []
    for label in shown:
        points = sorted(lines[label], key=lambda r: position[r[column]])
        x = [position[r[column]] for r in points]
        mean = np.array([_number(r.get("mean_rounds")) for r in points])
        low = np.array([_number(r.get("ci95_low")) for r in points])
        high = np.array([_number(r.get("ci95_high")) for r in points])
        errors = np.nan_to_num(np.vstack([mean - low, high - mean]), nan=0.0)
        axes.errorbar(x, mean, yerr=np.maximum(errors, 0), marker="o", capsize=3, label=label)
        means.extend(float(m) for m in mean if np.isfinite(m) and m > 0)
    if means and max(means) / min(means) > SWEEP_LOG_RATIO:
        axes.set_yscale("log")  # rumors in ten rounds beside averaging in hundreds: both read
        axes.yaxis.set_major_formatter(_plain_count)
    if not numeric:
        axes.set_xticks(list(position.values()), [str(v) for v in values])
    elif len(values) <= MAX_LINES:  # ticks at the values swept, not at 2.2, 2.4, …
        axes.set_xticks(list(position.values()), [format_value(v) for v in values])
    name = column.removeprefix("param_")
    axes.set_xlabel(name)
    axes.set_ylabel("mean rounds to convergence (95% CI)")
    axes.grid(True, alpha=0.3)
    _capped_title(axes, f"rounds against {name}", len(shown), len(lines))


def _plain_count(value: float, _position: Any) -> str:
    """A log axis of rounds labelled 10, 100, 1000 rather than 10^1, 10^2, 10^3."""
    return f"{value:g}"


def _sort_key(value: Any) -> tuple[int, Any]:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, float(value))
    return (1, str(value))


def preload() -> None:
    """Import matplotlib's Figure and Agg canvas ahead of the first plot. The import takes
    ~0.8 s once per process; the collector runs this on a worker thread when it starts, so the
    import overlaps the simulation rather than delaying its results."""
    from matplotlib.backends import backend_agg
    from matplotlib.figure import Figure

    del backend_agg, Figure


def render(
    summary: tuple[list[str], list[dict[str, Any]]],
    averaged: tuple[list[str], list[dict[str, Any]]],
    curves: Curves,
) -> dict[str, bytes]:
    """The plots by their name in the results layout (sweep.png only for a sweep)."""
    pngs = {
        layout.CONVERGENCE_PLOT: convergence_png(curves),
        layout.ROUNDS_PLOT: rounds_png(*summary),
    }
    sweep = sweep_png(*averaged)
    if sweep is not None:
        pngs[layout.SWEEP_PLOT] = sweep
    return pngs
