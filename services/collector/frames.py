"""A run's pictures: runs/<run>/frames/round-NNNN.png, one per sampled round, and
runs/<run>/animation.gif, the frames animated.

A frame is the graph as the run's drawing lays it out (the same layout for every run of the
graph, so frames compare position by position), its vertices coloured by their values after
the round:

- rumor rules: two colours, informed (value >= 0.5) and not informed, with a small legend, and
  the informed share of the sampled vertices in the corner;
- the others: viridis, with a colour bar whose limits are those of the whole run (every
  sampled value), so a colour means the same value in every frame; the round's relative
  spread (results.spread) in the corner.

Vertices the run did not sample, and values that are not numbers, are grey.

Drawing is the collector's cost per visualized run, so the figure is built once: the edges,
title, legend or colour bar are drawn once into a background, and each frame restores it,
draws the vertices (one scatter, its face colours changed) and the corner text over it and
encodes the pixels (Agg blitting, the technique of matplotlib's animations). A run draws at most
:data:`MAX_FRAMES` frames: beyond that its sampled rounds are thinned evenly, the first and last
kept. matplotlib is used through its object interface on the Agg canvas (no pyplot), as in
plots.py, and imported only when a frame is drawn.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import numpy.typing as npt
from PIL import Image

from gossipsim.collector import results
from gossipsim.collector.history_table import RunHistory, check_vertices
from gossipsim.common.errors import InvalidInput
from gossipsim.common.graphs.drawing import GraphDrawing

if TYPE_CHECKING:
    from matplotlib.artist import Artist
    from matplotlib.collections import PathCollection
    from matplotlib.figure import Figure
    from matplotlib.text import Text

__all__ = [
    "FRAME_MS",
    "FRAME_PIXELS",
    "LAST_FRAME_MS",
    "MAX_FRAMES",
    "animation_gif",
    "corner_text",
    "frame_rounds",
    "frames_png",
    "value_limits",
]

Floats = npt.NDArray[np.float64]

MAX_FRAMES = 300
"""Frames per run at most (about a minute of animation at FRAME_MS)."""
FRAME_PIXELS = (640, 640)
_DPI = 100
FRAME_MS = 200  # per frame of animation.gif
LAST_FRAME_MS = 1500  # the last frame is held: the run's outcome
INFORMED_AT = 0.5  # a rumor rule's value: 1 informed, 0 not

INFORMED_COLOUR = "#d7301f"
UNINFORMED_COLOUR = "#6baed6"
UNSAMPLED_COLOUR = "#bdbdbd"  # also a value that is not a number
EDGE_COLOUR = "#d9d9d9"
COLORMAP = "viridis"
# Where things sit, in figure fractions: the graph below the title and above the corner text,
# the colour bar (colormap frames) in a strip on the right.
_GRAPH_FULL = (0.02, 0.06, 0.96, 0.88)
_GRAPH_BESIDE_BAR = (0.02, 0.06, 0.84, 0.88)
_COLOUR_BAR = (0.88, 0.14, 0.03, 0.72)
_LIMIT = 1.06  # the axes span ±_LIMIT around the layout's [-1, 1]: room for the markers


def frame_rounds(rounds: Sequence[int] | npt.NDArray[np.int64]) -> list[int]:
    """The sampled rounds that get a frame: all of them up to MAX_FRAMES, else MAX_FRAMES of
    them evenly spaced by position, the first and the last included."""
    chosen = [int(r) for r in rounds]
    count = len(chosen)
    if count <= MAX_FRAMES:
        return chosen
    # floor(i (count - 1) / (MAX_FRAMES - 1)): steps of more than one, so all distinct
    return [chosen[i * (count - 1) // (MAX_FRAMES - 1)] for i in range(MAX_FRAMES)]


def frames_png(
    drawing: GraphDrawing, history: RunHistory, *, rumor: bool, title: str
) -> dict[int, bytes]:
    """One PNG of FRAME_PIXELS per round of frame_rounds(history.rounds), by round in order.
    ``rumor``: whether the run's rule spreads a rumor (two colours) or not (a colour scale);
    ``title``: what the frames show, at the top (graph · algorithm)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    check_vertices(history, drawing.n)
    figure = Figure(figsize=(FRAME_PIXELS[0] / _DPI, FRAME_PIXELS[1] / _DPI), dpi=_DPI)
    canvas = FigureCanvasAgg(figure)
    colours: Callable[[Floats], Floats] = (
        _rumor_colours if rumor else _scale_colours(figure, history)
    )
    if rumor:
        _rumor_legend(figure, history, drawing.n)
    elif len(history.vertices) < drawing.n:
        _unsampled_legend(figure)
    frame = _frame(figure, canvas, drawing, rumor=rumor, title=title)
    index = {int(r): i for i, r in enumerate(history.rounds)}
    pngs = {}
    for r in frame_rounds(history.rounds):
        sampled = history.values[index[r]]
        values = np.full(drawing.n, math.nan)  # nan: not sampled, drawn grey
        values[history.vertices] = sampled
        pngs[r] = frame.draw(colours(values), corner_text(r, sampled, rumor=rumor))
    return pngs


def animation_gif(frames: list[bytes]) -> bytes:
    """animation.gif: the PNGs in order, FRAME_MS each and the last held LAST_FRAME_MS,
    looping forever.

    Every frame is mapped onto one adaptive palette, taken from the first, middle and last
    frames (the run's colours at its start, midway and end): with one palette Pillow can store
    each frame as its changes from the one before, the pixels that stay (the edges, most
    vertices) made transparent, which compresses several times better than whole frames."""
    if not frames:
        raise InvalidInput("an animation needs at least one frame", field="frames")
    images = [_rgb(png) for png in frames]
    palette = _palette([images[0], images[len(images) // 2], images[-1]])
    mapped = [image.quantize(palette=palette, dither=Image.Dither.NONE) for image in images]
    durations = [FRAME_MS] * (len(mapped) - 1) + [LAST_FRAME_MS]
    buffer = io.BytesIO()
    mapped[0].save(
        buffer,
        format="GIF",
        save_all=True,
        append_images=mapped[1:],
        duration=durations,
        loop=0,  # forever
        disposal=1,  # each frame is drawn over the one before: its unchanged pixels show through
        optimize=True,
    )
    return buffer.getvalue()


def _rgb(png: bytes) -> Image.Image:
    with Image.open(io.BytesIO(png)) as image:
        return image.convert("RGB")


def _palette(samples: list[Image.Image]) -> Image.Image:
    """An adaptive palette of the samples' colours, one entry short of 256 so that the GIF
    writer has an index left for transparency."""
    width, height = samples[0].size
    strip = Image.new("RGB", (width, height * len(samples)))
    for k, image in enumerate(samples):
        strip.paste(image, (0, height * k))
    # maximum coverage keeps the background exactly white (median cut greys it slightly) and
    # gives the smallest files of Pillow's three methods
    return strip.quantize(colors=255, method=Image.Quantize.MAXCOVERAGE, dither=Image.Dither.NONE)


# -- one frame -------------------------------------------------------------------------------


@dataclass(slots=True)
class _Frame:
    """A figure whose background (edges, title, legend or colour bar) is drawn once; draw()
    puts the vertices and the corner text over a copy of it."""

    canvas: Any  # a FigureCanvasAgg: matplotlib's backend_agg has no type information
    vertices: PathCollection
    corner: Text
    background: Any  # the canvas's copy of the background pixels

    def draw(self, colours: Floats, corner: str) -> bytes:
        self.canvas.restore_region(self.background)
        self.vertices.set_facecolor(cast(Any, colours))  # an (n, 4) RGBA array
        self.corner.set_text(corner)
        figure = self.canvas.figure
        figure.draw_artist(self.vertices)
        figure.draw_artist(self.corner)
        width, height = self.canvas.get_width_height()
        pixels = Image.frombuffer("RGBA", (width, height), self.canvas.buffer_rgba())
        buffer = io.BytesIO()
        # RGB at zlib's fastest level: encoding is half a frame's time, and a level of 6 takes
        # twice as long for files 5% smaller (a palette would band the colour bar and edges)
        pixels.convert("RGB").save(buffer, format="PNG", compress_level=1)
        return buffer.getvalue()


def _frame(
    figure: Figure, canvas: Any, drawing: GraphDrawing, *, rumor: bool, title: str
) -> _Frame:
    from matplotlib.collections import LineCollection

    axes = figure.add_axes(_GRAPH_FULL if rumor else _GRAPH_BESIDE_BAR)
    axes.set_axis_off()
    axes.set_xlim(-_LIMIT, _LIMIT)
    axes.set_ylim(-_LIMIT, _LIMIT)
    axes.set_aspect("equal")
    x = np.asarray(drawing.x, dtype=np.float64)
    y = np.asarray(drawing.y, dtype=np.float64)
    sources = np.asarray(drawing.sources, dtype=np.int64)
    targets = np.asarray(drawing.targets, dtype=np.int64)
    segments = np.stack(  # (edges, 2 ends, x and y)
        [np.column_stack([x[sources], y[sources]]), np.column_stack([x[targets], y[targets]])],
        axis=1,
    ).reshape(-1, 2, 2)
    edges = LineCollection(list(segments), colors=EDGE_COLOUR, linewidths=_edge_width(drawing.n))
    axes.add_collection(edges)
    vertices = axes.scatter(
        x, y, s=_marker_area(drawing.n), c=UNSAMPLED_COLOUR, linewidths=0, zorder=2
    )
    vertices.set_animated(True)  # left out of the background: drawn per frame
    figure.text(0.5, 0.975, title, ha="center", va="top", fontsize=9)
    corner = figure.text(0.02, 0.02, "", ha="left", va="bottom", fontsize=9, animated=True)
    canvas.draw()
    return _Frame(
        canvas=canvas,
        vertices=vertices,
        corner=corner,
        background=canvas.copy_from_bbox(figure.bbox),
    )


def _marker_area(n: int) -> float:
    """Points² per vertex: large for a few vertices, small but visible for thousands."""
    return float(np.clip(4000.0 / n, 5.0, 80.0))


def _edge_width(n: int) -> float:
    return 0.8 if n <= 200 else 0.3


def corner_text(round_number: int, sampled: Floats, *, rumor: bool) -> str:
    """``round 12 · informed 45%`` (of the sampled vertices with a value) or ``round 12 ·
    spread 3.1e-03``."""
    finite = sampled[np.isfinite(sampled)]
    if rumor:
        shown = f"informed {np.mean(finite >= INFORMED_AT):.0%}" if finite.size else "informed -"
    else:
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (None, None)
        value = results.spread(low, high)
        shown = f"spread {value:.1e}" if math.isfinite(value) else "spread -"
    return f"round {round_number} · {shown}"


# -- colours ---------------------------------------------------------------------------------


def _rumor_colours(values: Floats) -> Floats:
    """RGBA per vertex: informed, not informed, or grey (not sampled, not a number)."""
    from matplotlib.colors import to_rgba_array

    palette = to_rgba_array([UNSAMPLED_COLOUR, UNINFORMED_COLOUR, INFORMED_COLOUR])
    with np.errstate(invalid="ignore"):
        kind = np.where(np.isfinite(values), np.where(values >= INFORMED_AT, 2, 1), 0)
    return np.asarray(palette[kind], dtype=np.float64)


def _rumor_legend(figure: Figure, history: RunHistory, n: int) -> None:
    from matplotlib.patches import Patch

    handles = [
        Patch(color=INFORMED_COLOUR, label="informed"),
        Patch(color=UNINFORMED_COLOUR, label="not informed"),
    ]
    if len(history.vertices) < n:
        handles.append(Patch(color=UNSAMPLED_COLOUR, label="not sampled"))
    _legend(figure, handles)


def _unsampled_legend(figure: Figure) -> None:
    from matplotlib.patches import Patch

    _legend(figure, [Patch(color=UNSAMPLED_COLOUR, label="not sampled")])


def _legend(figure: Figure, handles: Sequence[Artist]) -> None:
    figure.legend(
        handles=handles,
        loc="lower right",
        bbox_to_anchor=(0.98, 0.01),
        ncol=len(handles),
        fontsize=8,
        frameon=False,
        handlelength=1.0,
        columnspacing=1.2,
        borderaxespad=0,
    )


def _scale_colours(figure: Figure, history: RunHistory) -> _ScaleColours:
    """The colour bar, and the colours per vertex on its scale: limits over the whole run."""
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    low, high = value_limits(history.values)
    norm = Normalize(vmin=low, vmax=high)
    cmap = colormaps[COLORMAP]
    bar = figure.colorbar(ScalarMappable(norm=norm, cmap=cmap), cax=figure.add_axes(_COLOUR_BAR))
    bar.ax.tick_params(labelsize=7)
    bar.set_label("value", fontsize=8)
    return _ScaleColours(norm_low=low, norm_high=high)


def value_limits(values: Floats) -> tuple[float, float]:
    """The colour bar's limits: the least and greatest finite value of the whole run. A single
    value v is widened to v ± max(|v|, 1) / 2 (a bar needs a range); no value gives 0..1."""
    finite = values[np.isfinite(values)]
    if not finite.size:
        return 0.0, 1.0
    low, high = float(finite.min()), float(finite.max())
    if low == high:
        pad = 0.5 * max(abs(low), 1.0)
        return low - pad, high + pad
    return low, high


@dataclass(frozen=True, slots=True)
class _ScaleColours:
    """Colours on the run's viridis scale; grey for a vertex without a value."""

    norm_low: float
    norm_high: float

    def __call__(self, values: Floats) -> Floats:
        from matplotlib import colormaps
        from matplotlib.colors import to_rgba

        position = (values - self.norm_low) / (self.norm_high - self.norm_low)
        colours = np.asarray(colormaps[COLORMAP](np.clip(position, 0.0, 1.0)), dtype=np.float64)
        colours[~np.isfinite(values)] = to_rgba(UNSAMPLED_COLOUR)
        return colours
