"""A completed run's own files beside rounds.jsonl: its history and, with ``visualize``, its
drawings (docs/results.md).

- ``history.parquet`` whenever the run sampled vertex values (``history`` or ``visualize``):
  the samples leave rounds.jsonl, whose lines keep the round's aggregates only.
- ``graph.gexf``, ``frames/round-NNNN.png`` and ``animation.gif`` when the run has
  ``visualize`` and its graph is small enough to draw (the runner's drawing, with the same
  layout for every run of the graph). A graph too large gets none, and the run's result.json
  says why (``visualization.reason``), as does the manifest per graph.

Pure and synchronous: the collector calls :func:`run_files` on a worker thread. A drawing that
fails (a bug) is logged and recorded as not drawn: a run is never lost for a picture.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import structlog

from gossipsim.collector import frames, gexf, history_table
from gossipsim.common.contracts import results_layout as layout
from gossipsim.common.graphs.drawing import GraphDrawing
from gossipsim.common.spec.run_plan import RunPlan, Visualization

log = structlog.get_logger(__name__)

PARQUET = "application/vnd.apache.parquet"
CONTENT_TYPES = {
    ".parquet": PARQUET,
    ".gexf": "application/gexf+xml",
    ".png": "image/png",
    ".gif": "image/gif",
}


@dataclass(slots=True)
class RunFiles:
    """What a run adds to its folder: files by name relative to the run, and what result.json
    records of them (``files``: the names, frames excepted; ``visualization``: drawn or why not)."""

    files: dict[str, bytes] = field(default_factory=dict)
    visualization: dict[str, Any] | None = None

    @property
    def names(self) -> list[str]:
        """The run's files beside result.json and rounds.jsonl, frames excepted (listed by
        round in ``visualization.frames``)."""
        return [name for name in self.files if not name.startswith(layout.FRAMES)]


def content_type(name: str) -> str:
    return next((t for end, t in CONTENT_TYPES.items() if name.endswith(end)), "")


def split_history(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The lines without their sampled ``history`` (rounds.jsonl's form): it goes to
    history.parquet."""
    return [{k: v for k, v in line.items() if k != "history"} for line in lines]


def sampled_vertices(plan: RunPlan | None, lines: list[dict[str, Any]]) -> np.ndarray:
    """The vertex ids the history holds, in ascending order: the plan's list, or all of them
    (as many as a sample holds)."""
    listed = plan.settings.history_vertices if plan is not None else None
    if listed is not None:
        return np.unique(np.asarray(listed, dtype=np.int64))
    width = next((len(line["history"]) for line in lines if line.get("history")), 0)
    return np.arange(width, dtype=np.int64)


def size_reason(visualize: Visualization, metrics: dict[str, Any]) -> str | None:
    """Why the run's graph is too large to draw (by its metrics), or None."""
    nodes, edges = metrics.get("nodes"), metrics.get("edges")
    if not isinstance(nodes, int):
        return None
    return visualize.not_drawn(nodes, edges if isinstance(edges, int) else None)


def run_files(
    run_id: str,
    plan: RunPlan | None,
    metrics: dict[str, Any],
    lines: list[dict[str, Any]],
    drawing: GraphDrawing | None,
) -> RunFiles:
    """history.parquet from ``lines`` (with their ``history``), and the drawings when the
    plan asks for them and ``drawing`` is there."""
    out = RunFiles()
    history = history_table.history_from_lines(run_id, lines, sampled_vertices(plan, lines))
    if history is not None:
        out.files[layout.HISTORY] = history_table.history_parquet(history)
    if plan is None or plan.settings.visualize is None:
        return out
    reason = size_reason(plan.settings.visualize, metrics)
    if reason is None and drawing is None:
        reason = "not drawn: the drawing of the graph never reached the collector"
    if reason is None and history is None:
        reason = "not drawn: the run sampled no vertex values"
    if reason is not None or drawing is None or history is None:
        out.visualization = {"drawn": False, "reason": reason}
        return out
    try:
        files, drawn = _drawings(plan, drawing, history)
    except Exception:
        log.exception("run not drawn: its drawings are left out")
        out.visualization = {"drawn": False, "reason": "not drawn: drawing failed (a bug)"}
        return out
    out.files.update(files)
    out.visualization = {
        "drawn": True,
        "layout": drawing.layout,
        "sampled_rounds": len(history.rounds),
        "frames": drawn,
    }
    return out


def _thinned(history: history_table.RunHistory) -> history_table.RunHistory:
    """The history at the rounds that are drawn: all sampled rounds up to frames.MAX_FRAMES,
    else that many evenly spread (first and last kept). The GEXF holds the same rounds as the
    frames, so its size is bounded as theirs is; history.parquet keeps every sampled round."""
    kept = np.isin(history.rounds, frames.frame_rounds(history.rounds))
    if kept.all():
        return history
    return history_table.RunHistory(
        run_id=history.run_id,
        rounds=history.rounds[kept],
        vertices=history.vertices,
        values=history.values[kept],
    )


def _drawings(
    plan: RunPlan, drawing: GraphDrawing, history: history_table.RunHistory
) -> tuple[dict[str, bytes], list[int]]:
    """graph.gexf, the frames and animation.gif by name, and the rounds drawn."""
    title = f"{plan.graph.name} · {plan.algorithm.label}"
    rumor = plan.algorithm.rule.is_rumor
    drawn = _thinned(history)
    pngs = frames.frames_png(drawing, drawn, rumor=rumor, title=title)
    files = {layout.GEXF: gexf.gexf_bytes(drawing, drawn, graph_name=plan.graph.name)}
    files.update({layout.frame_name(r): png for r, png in sorted(pngs.items())})
    files[layout.ANIMATION] = frames.animation_gif([pngs[r] for r in sorted(pngs)])
    return files, sorted(pngs)
