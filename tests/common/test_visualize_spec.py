"""``visualize`` in a spec: how it parses, and the history and drawing settings it gives runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gossipsim.common.errors import InvalidInput, SpecProblems
from gossipsim.common.messaging.messages import RunStart, SimulationId, decode, encode
from gossipsim.common.spec.plan_checks import (
    MAX_HISTORY_SAMPLES,
    PLAN_FIELDS,
    SPEC_FIELDS,
    SettingsFields,
    check_settings_for_graph,
)
from gossipsim.common.spec.run_plan import Visualization
from gossipsim.common.spec.simulation_spec import expand_runs, load_spec_file, parse_spec

PATH_30 = {"name": "path-30", "generator": "path_graph", "params": {"n": 30}}
PATH_2500 = {"name": "path-2500", "generator": "path_graph", "params": {"n": 2500}}
PATH_2000 = {"name": "path-2000", "generator": "path_graph", "params": {"n": 2000}}


def spec(**fields: Any) -> dict[str, Any]:
    """A small valid native spec with ``fields`` replaced."""
    return {"name": "drawn", "graphs": [PATH_30], "algorithms": ["default"], **fields}


def refusal(doc: dict[str, Any]) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        parse_spec(doc)
    return caught.value


def seed_resource(seed_crs: Path, **changes: Any) -> dict[str, Any]:
    """The seed's series1-default Simulation, selecting the 20-vertex test series."""
    doc = load_spec_file(seed_crs / "simulations" / "series1" / "series1-default.yaml")
    doc["spec"]["graphSelector"]["matchLabels"] = {"series": "test-series"}
    doc["spec"].update(changes)
    return doc


# --- parsing ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (True, Visualization()),
        (False, None),
        (None, None),  # an empty YAML value: the default
        ({}, Visualization()),  # a mapping turns it on, every key at its default
        ({"every": 5}, Visualization(every=5)),
        (
            {"every": 2, "max_vertices": 20_000, "layout": "kamada_kawai"},
            Visualization(every=2, max_vertices=20_000, layout="kamada_kawai"),
        ),
    ],
)
def test_visualize_parses_true_false_or_a_mapping(raw: object, expected: object) -> None:
    assert parse_spec(spec(visualize=raw)).visualize == expected


def test_visualize_true_has_the_documented_defaults() -> None:
    parsed = parse_spec(spec(visualize=True)).visualize
    assert parsed is not None
    assert (parsed.every, parsed.max_vertices, parsed.layout) == (1, 2000, "spring")


def test_visualize_is_off_when_left_out() -> None:
    parsed = parse_spec(spec())
    assert parsed.visualize is None
    assert all(run.settings.visualize is None for run in expand_runs(parsed).values())


@pytest.mark.parametrize(
    ("raw", "field", "words"),
    [
        ("yes", "visualize", "true or false, or a mapping"),
        (1, "visualize", "true or false, or a mapping"),
        ({"evry": 2}, "visualize.evry", "allowed: every, max_vertices, layout"),
        ({"every": 0}, "visualize.every", "1..1,000,000"),
        ({"every": 1.5}, "visualize.every", "integer"),
        ({"every": True}, "visualize.every", "integer"),
        ({"max_vertices": 0}, "visualize.max_vertices", "1..20,000"),
        ({"max_vertices": 20_001}, "visualize.max_vertices", "1..20,000"),
        ({"layout": "force"}, "visualize.layout", "spring, kamada_kawai, spectral, circular"),
        ({"layout": "sprng"}, "visualize.layout", "did you mean 'spring'"),
    ],
)
def test_a_bad_visualize_names_its_field(raw: object, field: str, words: str) -> None:
    error = refusal(spec(visualize=raw))
    assert not isinstance(error, SpecProblems)
    assert error.field == field
    assert words in str(error)


def test_every_bad_visualize_field_is_reported_at_once() -> None:
    error = refusal(spec(visualize={"every": 0, "max_vertices": -1, "layout": "x"}))
    assert isinstance(error, SpecProblems)
    assert [problem.field for problem in error.problems] == [
        "visualize.every",
        "visualize.max_vertices",
        "visualize.layout",
    ]


# --- the settings of runs ---------------------------------------------------------------


def test_a_drawable_graph_samples_every_vertex_every_k_rounds() -> None:
    parsed = parse_spec(spec(visualize={"every": 4, "layout": "circular"}, max_rounds=40))
    (graph,) = parsed.graphs
    settings = parsed.settings_for(graph)
    assert settings.visualize == Visualization(every=4, layout="circular")
    assert (settings.history_every, settings.history_vertices) == (4, None)
    runs = expand_runs(parsed).values()
    assert {run.settings for run in runs} == {settings}


def test_a_graph_too_large_to_draw_samples_no_history() -> None:
    parsed = parse_spec(spec(graphs=[PATH_30, PATH_2500], visualize=True))
    small, large = parsed.graphs
    assert parsed.visualize is not None
    assert parsed.visualize.not_drawn(large.vertices) is not None
    too_large = parsed.settings_for(large)
    assert (too_large.history_every, too_large.history_vertices) == (0, None)
    assert too_large.visualize == Visualization()  # the collector says why it is not drawn
    drawn = parsed.settings_for(small)
    assert (drawn.history_every, drawn.history_vertices) == (1, None)
    by_graph = {run.graph.name: run.settings.history_every for run in expand_runs(parsed).values()}
    assert by_graph == {"path-30": 1, "path-2500": 0}


def test_raising_max_vertices_draws_a_larger_graph() -> None:
    parsed = parse_spec(spec(graphs=[PATH_2500], visualize={"max_vertices": 2500, "every": 10}))
    (graph,) = parsed.graphs
    assert parsed.settings_for(graph).history_every == 10


def test_swept_settings_keep_the_visualize_history() -> None:
    parsed = parse_spec(spec(visualize={"every": 3}, max_rounds=[30, 60]))
    runs = expand_runs(parsed).values()
    assert {(r.settings.max_rounds, r.settings.history_every) for r in runs} == {(30, 3), (60, 3)}
    assert {run.settings.visualize for run in runs} == {Visualization(every=3)}


# --- history and visualize --------------------------------------------------------------


@pytest.mark.parametrize("history", [{"every": 2}, {"every": 1, "vertices": 5}, {}])
def test_history_beside_visualize_is_refused(history: dict[str, Any]) -> None:
    error = refusal(spec(history=history, visualize={"every": 2}))
    assert error.field == "visualize"
    assert "every vertex every 2 round(s)" in str(error)
    assert "one or the other" in str(error)


def test_history_beside_visualize_false_is_accepted() -> None:
    parsed = parse_spec(spec(history={"every": 2, "vertices": 5}, visualize=False))
    settings = parsed.settings_for(parsed.graphs[0])
    assert (settings.history_every, settings.history_vertices, settings.visualize) == (
        2,
        (0, 1, 2, 3, 4),
        None,
    )


# --- the history caps -------------------------------------------------------------------


def test_the_history_cap_on_visualize_names_visualize_every() -> None:
    """2000 vertices in 10,001 rounds are 20,002,000 values, over the 10,000,000 a run keeps."""
    error = refusal(spec(graphs=[PATH_2000], visualize=True, max_rounds=10_000))
    assert error.field == "visualize.every"
    message = str(error)
    assert "20,002,000 values" in message and f"{MAX_HISTORY_SAMPLES:,}" in message
    assert "raise every (to at least 3 here)" in message
    assert "lower max_rounds" in message and "lower max_vertices below 2,000" in message


def test_the_every_the_cap_error_suggests_is_the_least_that_fits() -> None:
    assert parse_spec(spec(graphs=[PATH_2000], visualize={"every": 3}, max_rounds=10_000))
    error = refusal(spec(graphs=[PATH_2000], visualize={"every": 2}, max_rounds=10_000))
    assert error.field == "visualize.every"


def test_the_cap_does_not_apply_to_a_graph_that_is_not_drawn() -> None:
    doc = spec(graphs=[PATH_2000], visualize={"max_vertices": 1999}, max_rounds=10_000)
    (graph,) = parse_spec(doc).graphs
    assert parse_spec(doc).settings_for(graph).history_every == 0


def test_a_swept_max_rounds_over_the_cap_names_visualize_every() -> None:
    error = refusal(spec(graphs=[PATH_2000], visualize=True, max_rounds=[100, 10_000]))
    assert error.field == "visualize.every"


def test_the_seed_resource_names_its_own_visualize_field(seed_crs: Path) -> None:
    doc = seed_resource(seed_crs, visualize=True)
    doc["gossipsim"] = {"max_rounds": 1_000_000}  # 20 vertices x 1,000,001 rounds
    with pytest.raises(InvalidInput) as caught:
        parse_spec(doc, graphs_dir=seed_crs / "graphs")
    problems = caught.value.problems if isinstance(caught.value, SpecProblems) else [caught.value]
    assert {problem.field for problem in problems} == {"spec.visualize.every"}


@pytest.mark.parametrize(
    ("fields", "field"),
    [(SPEC_FIELDS, "visualize.every"), (PLAN_FIELDS, "plan.settings.visualize.every")],
)
def test_the_shared_check_names_visualize_for_spec_and_plan(
    fields: SettingsFields, field: str
) -> None:
    """The runner checks every run.start's plan the way the scheduler checks a spec."""
    parsed = parse_spec(spec(visualize=True, max_rounds=10_000))
    settings = parsed.settings_for(parsed.graphs[0])
    check_settings_for_graph(settings, graph_name="g", vertices=999, has_values=False)
    with pytest.raises(InvalidInput, match="raise every") as caught:
        check_settings_for_graph(
            settings, graph_name="g", vertices=1001, has_values=False, fields=fields
        )
    assert caught.value.field == field


# --- seed resources ---------------------------------------------------------------------


def test_a_seed_simulation_with_visualize_true_draws_with_the_defaults(seed_crs: Path) -> None:
    parsed = parse_spec(seed_resource(seed_crs, visualize=True), graphs_dir=seed_crs / "graphs")
    assert parsed.visualize == Visualization()
    runs = list(expand_runs(parsed).values())
    assert len(runs) == 10 * 10  # ten 20-vertex graphs, ten repetitions
    assert {run.settings.visualize for run in runs} == {Visualization()}
    assert {(r.settings.history_every, r.settings.history_vertices) for r in runs} == {(1, None)}


def test_a_seed_simulation_with_visualize_false_draws_nothing(seed_crs: Path) -> None:
    parsed = parse_spec(seed_resource(seed_crs), graphs_dir=seed_crs / "graphs")
    assert parsed.visualize is None
    assert all(run.settings.history_every == 0 for run in expand_runs(parsed).values())


@pytest.mark.parametrize(
    ("visualize", "history", "field"),
    [
        ("yes", None, "spec.visualize"),
        ({"layout": "tree"}, None, "spec.visualize.layout"),
        (True, {"every": 2}, "spec.visualize"),
    ],
)
def test_seed_visualize_errors_use_the_resource_paths(
    seed_crs: Path, visualize: object, history: dict[str, Any] | None, field: str
) -> None:
    doc = seed_resource(seed_crs, visualize=visualize)
    if history is not None:
        doc["gossipsim"] = {"history": history}
    with pytest.raises(InvalidInput) as caught:
        parse_spec(doc, graphs_dir=seed_crs / "graphs")
    assert caught.value.field == field


# --- on the wire ------------------------------------------------------------------------


def test_a_run_start_with_visualize_settings_round_trips() -> None:
    parsed = parse_spec(spec(visualize={"every": 7, "max_vertices": 500, "layout": "spectral"}))
    run_id, plan = next(iter(expand_runs(parsed).items()))
    start = RunStart(simulation_id=SimulationId("drawn-0123456789"), run_id=run_id, plan=plan)
    decoded = decode(encode(start))
    assert decoded == start
    assert isinstance(decoded, RunStart)
    assert decoded.plan.settings.visualize == Visualization(
        every=7, max_vertices=500, layout="spectral"
    )


def test_a_run_start_with_a_bad_layout_is_refused_at_its_path() -> None:
    parsed = parse_spec(spec(visualize=True))
    run_id, plan = next(iter(expand_runs(parsed).items()))
    start = RunStart(simulation_id=SimulationId("drawn-0123456789"), run_id=run_id, plan=plan)
    forged = encode(start).replace(b'"layout":"spring"', b'"layout":"tree"')
    with pytest.raises(InvalidInput) as caught:
        decode(forged)
    assert caught.value.field == "plan.settings.visualize.layout"
