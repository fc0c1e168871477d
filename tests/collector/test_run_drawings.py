"""A run's visual files as bytes: history.parquet (one row per sampled round × vertex),
graph.gexf (GEXF 1.3 that networkx reads back, one value spell per sampled round), the frames
(640×640 PNGs, one per sampled round, thinned beyond MAX_FRAMES) and animation.gif."""

from __future__ import annotations

import io
import math
import re
from typing import Any

import networkx as nx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image, ImageSequence

from gossipsim.collector import frames
from gossipsim.collector.gexf import POSITION_SCALE, gexf_bytes
from gossipsim.collector.history_table import RunHistory, history_from_lines, history_parquet
from gossipsim.common.errors import InvalidInput
from gossipsim.common.graphs.drawing import GraphDrawing, graph_drawing
from gossipsim.common.graphs.graph import Graph

N = 50
ROUNDS = np.array([0, 2, 4, 6, 8, 9], dtype=np.int64)


@pytest.fixture(scope="module")
def drawing() -> GraphDrawing:
    graph = Graph.from_networkx(nx.barabasi_albert_graph(N, 2, seed=3), name="ba-50")
    return graph_drawing(graph)


def averaging_history(vertices: np.ndarray | None = None) -> RunHistory:
    """Values drawing together round by round, as averaging's do."""
    ids = np.arange(N, dtype=np.int64) if vertices is None else vertices
    start = np.random.default_rng(7).uniform(0.0, 10.0, size=len(ids))
    shrink = 0.5 ** np.arange(len(ROUNDS), dtype=np.float64)
    values = 5.0 + np.outer(shrink, start - 5.0)
    return RunHistory("run-a", ROUNDS.copy(), ids.astype(np.int64), values)


def rumor_history() -> RunHistory:
    """Round k informs the first 10k vertices: none at round 0, all at the last round."""
    informed = [np.arange(N) < min(10 * k, N) for k in range(len(ROUNDS))]
    values = np.array(informed, dtype=np.float64)
    values[-1] = 1.0
    return RunHistory("run-r", ROUNDS.copy(), np.arange(N, dtype=np.int64), values)


def decoded(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    image.load()  # decodes every pixel: a truncated file fails here
    assert image.format == "PNG"
    return image


def pixels_of(png: bytes, colour: str) -> int:
    """How many pixels of a frame have exactly ``colour`` (#rrggbb)."""
    rgb = np.asarray(decoded(png).convert("RGB"))
    wanted = [int(colour[k : k + 2], 16) for k in (1, 3, 5)]
    return int(np.all(rgb == wanted, axis=2).sum())


# -- history ---------------------------------------------------------------------------------


def test_history_parquet_has_one_typed_row_per_sampled_round_and_vertex_round_major():
    history = averaging_history()
    table = pq.read_table(io.BytesIO(history_parquet(history)))
    assert table.schema.names == ["run", "round", "vertex", "value"]
    assert [field.type for field in table.schema] == [
        pa.string(),
        pa.int64(),
        pa.int64(),
        pa.float64(),
    ]
    assert table.num_rows == len(ROUNDS) * N
    frame = table.to_pandas()
    assert set(frame["run"]) == {"run-a"}
    assert frame["round"].tolist() == np.repeat(ROUNDS, N).tolist()
    assert frame["vertex"].tolist() == list(range(N)) * len(ROUNDS)
    np.testing.assert_array_equal(frame["value"].to_numpy(), history.values.reshape(-1))
    # round-major: the value of vertex 7 after round 4 is the third round's eighth value
    row = frame[(frame["round"] == 4) & (frame["vertex"] == 7)]
    assert row["value"].item() == history.values[2, 7]


def test_history_from_lines_takes_the_sampled_rounds_in_order_over_sorted_vertices():
    lines: list[dict[str, Any]] = [
        {"round": 0, "mean": 1.0, "history": [1.0, 2.0, 3.0]},
        {"round": 1, "mean": 1.0},
        {"round": 3, "mean": 1.0, "history": [7.0, None, 9.0]},
        {"round": 2, "mean": 1.0, "history": [4.0, 5.0, 6.0]},
    ]
    history = history_from_lines("run-x", lines, [9, 2, 5, 2])
    assert history is not None
    assert history.run_id == "run-x"
    assert history.rounds.tolist() == [0, 2, 3]
    assert history.rounds.dtype == np.int64
    assert history.vertices.tolist() == [2, 5, 9]  # as the runner samples them: sorted, unique
    assert history.values.dtype == np.float64
    assert history.values[:2].tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    assert history.values[2, 0] == 7.0 and math.isnan(history.values[2, 1])  # null: no value


def test_history_from_lines_samples_every_vertex_without_a_list_and_none_without_history():
    lines = [{"round": 0, "history": [0.5, 0.25]}, {"round": 4, "history": [0.5, 0.5]}]
    history = history_from_lines("run-y", lines, None)
    assert history is not None
    assert history.vertices.tolist() == [0, 1]
    assert history.values.shape == (2, 2)
    assert history_from_lines("run-z", [{"round": 0, "mean": 1.0}, {"round": 1}], None) is None
    assert history_from_lines("run-z", [], [0, 1]) is None


def test_a_history_that_disagrees_with_its_vertices_is_rejected():
    lines = [{"round": 0, "history": [1.0, 2.0]}, {"round": 1, "history": [1.0]}]
    with pytest.raises(
        InvalidInput,
        match=r"round 1 of run r holds 1 values, expected one per sampled vertex \(2\)",
    ):
        history_from_lines("r", lines, None)
    with pytest.raises(InvalidInput, match=r"shape \(2, 3\)"):
        RunHistory(
            "r", np.array([0, 1], dtype=np.int64), np.arange(3, dtype=np.int64), np.zeros((3, 2))
        )
    with pytest.raises(InvalidInput, match="ascending"):
        RunHistory("r", np.array([1, 0], dtype=np.int64), np.arange(2), np.zeros((2, 2)))


# -- graph.gexf ------------------------------------------------------------------------------


def test_gexf_is_version_1_3_and_reads_back_with_one_value_spell_per_sampled_round(drawing):
    history = averaging_history()
    data = gexf_bytes(drawing, history, graph_name="ba-50")
    text = data.decode()
    assert 'xmlns="http://gexf.net/1.3"' in text and 'version="1.3"' in text
    graph_tag = re.search(r"<graph [^>]*>", text)
    assert graph_tag is not None
    assert 'mode="dynamic"' in graph_tag.group() and 'timeformat="double"' in graph_tag.group()

    graph = nx.read_gexf(io.BytesIO(data), version="1.3")
    assert graph.graph["name"] == "ba-50"
    assert graph.number_of_nodes() == N
    assert graph.number_of_edges() == len(drawing.sources)
    ends = [*ROUNDS[1:].tolist(), int(ROUNDS[-1]) + 1]
    for v in range(N):
        node = graph.nodes[str(v)]
        assert node["label"] == drawing.labels[v]
        assert node["value"] == [
            (history.values[i, v], float(r), float(end))
            for i, (r, end) in enumerate(zip(ROUNDS.tolist(), ends, strict=True))
        ]
        assert node["community"] == int(drawing.attributes["community"][v])
        assert isinstance(node["community"], int)
        for name in ("degree", "clustering", "core", "pagerank"):
            assert node[name] == pytest.approx(drawing.attributes[name][v])
        position = node["viz"]["position"]
        assert position["x"] == pytest.approx(drawing.x[v] * POSITION_SCALE, abs=0.01)
        assert position["y"] == pytest.approx(drawing.y[v] * POSITION_SCALE, abs=0.01)
    sizes = {v: graph.nodes[str(v)]["viz"]["size"] for v in range(N)}
    hub = max(range(N), key=lambda v: drawing.attributes["degree"][v])
    leaf = min(range(N), key=lambda v: drawing.attributes["degree"][v])
    assert sizes[hub] > sizes[leaf]


def test_gexf_gives_vertices_the_run_did_not_sample_no_value(drawing):
    history = averaging_history(np.array([1, 4, 30], dtype=np.int64))
    graph = nx.read_gexf(io.BytesIO(gexf_bytes(drawing, history, graph_name="g")), version="1.3")
    sampled = {v for v in range(N) if "value" in graph.nodes[str(v)]}
    assert sampled == {1, 4, 30}
    assert len(graph.nodes["30"]["value"]) == len(ROUNDS)


def test_a_history_of_vertices_the_drawing_lacks_is_rejected(drawing):
    history = averaging_history(np.array([3, N], dtype=np.int64))
    with pytest.raises(InvalidInput, match=re.escape(f"drawing has vertices 0..{N - 1}")):
        gexf_bytes(drawing, history, graph_name="g")
    with pytest.raises(InvalidInput, match=r"history\.vertices"):
        frames.frames_png(drawing, history, rumor=False, title="g")


# -- frames and animation --------------------------------------------------------------------


def test_every_sampled_round_gets_a_640_by_640_frame_and_the_gif_animates_them(drawing):
    pngs = frames.frames_png(drawing, averaging_history(), rumor=False, title="ba-50 · average")
    assert list(pngs) == ROUNDS.tolist()
    for png in pngs.values():
        assert decoded(png).size == frames.FRAME_PIXELS == (640, 640)
    assert len(set(pngs.values())) == len(ROUNDS)  # the colours and corner text change

    gif = Image.open(io.BytesIO(frames.animation_gif(list(pngs.values()))))
    assert gif.format == "GIF"
    assert gif.n_frames == len(pngs)
    assert gif.info["loop"] == 0  # forever
    durations = []
    for frame in ImageSequence.Iterator(gif):
        assert frame.size == (640, 640)
        durations.append(frame.info["duration"])
    assert durations == [frames.FRAME_MS] * (len(pngs) - 1) + [frames.LAST_FRAME_MS]


def test_rumor_frames_colour_the_informed_vertices(drawing):
    pngs = frames.frames_png(drawing, rumor_history(), rumor=True, title="ba-50 · rumor")
    assert list(pngs) == ROUNDS.tolist()
    informed = [pixels_of(pngs[int(r)], frames.INFORMED_COLOUR) for r in ROUNDS]
    uninformed = [pixels_of(pngs[int(r)], frames.UNINFORMED_COLOUR) for r in ROUNDS]
    # more of the picture turns informed round by round (the legend keeps a swatch of each)
    assert informed == sorted(informed) and informed[0] < informed[-1]
    assert uninformed == sorted(uninformed, reverse=True) and uninformed[-1] < uninformed[0]
    assert decoded(pngs[0]).size == (640, 640)


def test_vertices_the_run_did_not_sample_are_grey(drawing):
    everyone = frames.frames_png(drawing, averaging_history(), rumor=False, title="g")
    some = frames.frames_png(
        drawing, averaging_history(np.arange(0, N, 5, dtype=np.int64)), rumor=False, title="g"
    )
    assert pixels_of(some[0], frames.UNSAMPLED_COLOUR) > 10 * max(
        1, pixels_of(everyone[0], frames.UNSAMPLED_COLOUR)
    )


def test_frames_beyond_max_frames_are_thinned_evenly_keeping_the_first_and_last():
    rounds = list(range(0, 5000, 7))
    kept = frames.frame_rounds(rounds)
    assert len(kept) == frames.MAX_FRAMES
    assert kept[0] == 0 and kept[-1] == rounds[-1]
    assert kept == sorted(set(kept))
    gaps = np.diff(kept)
    assert gaps.max() - gaps.min() <= 7  # evenly: gaps differ by at most one sampled round
    few = list(range(frames.MAX_FRAMES))
    assert frames.frame_rounds(few) == few
    assert frames.frame_rounds(np.arange(frames.MAX_FRAMES + 1)) == [
        *range(frames.MAX_FRAMES - 1),
        frames.MAX_FRAMES,
    ]


def test_frames_png_draws_only_the_thinned_rounds(drawing, monkeypatch):
    monkeypatch.setattr(frames, "MAX_FRAMES", 3)
    pngs = frames.frames_png(drawing, averaging_history(), rumor=False, title="g")
    assert list(pngs) == [0, 4, 9]


def test_the_corner_says_the_round_and_the_spread_or_the_informed_share():
    values = np.array([1.0, 0.9969, np.nan])
    assert frames.corner_text(12, values, rumor=False) == "round 12 · spread 3.1e-03"
    informed = np.array([1.0] * 9 + [0.0] * 11)
    assert frames.corner_text(12, informed, rumor=True) == "round 12 · informed 45%"
    assert frames.corner_text(3, np.array([np.nan]), rumor=False) == "round 3 · spread -"


def test_the_colour_scale_spans_the_whole_run_and_widens_a_single_value():
    assert frames.value_limits(np.array([[0.5, np.nan], [3.0, -1.0]])) == (-1.0, 3.0)
    assert frames.value_limits(np.array([[2.0, 2.0]])) == (1.0, 3.0)
    assert frames.value_limits(np.array([[0.0]])) == (-0.5, 0.5)
    assert frames.value_limits(np.array([[np.nan]])) == (0.0, 1.0)


def test_an_animation_needs_a_frame():
    with pytest.raises(InvalidInput, match="at least one frame"):
        frames.animation_gif([])
