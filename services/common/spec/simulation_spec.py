"""The simulation spec: what a user submits, checked whole before anything runs.

A spec is graphs × algorithms × a parameter grid × repetitions, with execution settings
(docs/design.md, Concepts). This module holds the whole and its settings; :mod:`.graph_list` and
:mod:`.algorithm_grid` check their sections, :mod:`.seed_simulation` translates a seed
``Simulation`` resource into a spec, and :func:`expand_runs` turns the whole into
run plans (:class:`~.run_plan.RunPlan`), the one place plans are built. Design decisions:

- Every error is an :class:`InvalidInput` whose ``field`` is the path of the culprit
  (``graphs[1].params.n``), because a rejected simulation must say where to look.
- Graphs are built once while checking, then dropped: a graph that cannot be built must
  reject the spec before any run is queued. The spec keeps a JSON-able ``source`` per graph
  (paths made absolute) from which each runner builds it again.
- A parameter multiplies only the runs of the algorithms that use it, so ``default`` beside a
  ``factor`` list runs once per repetition, not once per factor.
- Run ids are readable and derived from (graph, algorithm, parameters, repetition) alone, so
  they are the same in every process and every resubmission; ``hash()`` is never involved.
  Both ids are normalised to their alphabets where they are derived (:mod:`.ids`), and a spec
  whose run ids cannot fit (a graph name too long) is rejected at ``graphs``.
- The defaults of the execution settings are this parser's alone: each run gets a complete
  :class:`~.run_plan.ExecutionSettings`, and nothing downstream fills in a gap.
- ``visualize`` brings its own history (every vertex every ``every`` rounds, on the graphs
  small enough to draw), so it is refused beside ``history``: a run samples one history, and
  which one must not depend on a precedence rule a user would have to know.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gossipsim.common.documents import load_json_document, load_yaml_documents
from gossipsim.common.errors import InvalidInput, SpecProblems
from gossipsim.common.graphs.drawing import LAYOUTS, MAX_DRAWN_VERTICES
from gossipsim.common.graphs.inputs import LOCAL_INPUTS, GraphInputs
from gossipsim.common.graphs.limits import DEFAULT_LIMITS, GraphLimits, is_int
from gossipsim.common.model.algorithms import MAX_ROUNDS_LIMIT, Mode
from gossipsim.common.model.convergence import DEFAULT_EPSILON
from gossipsim.common.model.initial_values import Initialization
from gossipsim.common.spec.algorithm_grid import (
    PARAMETER_KEYS,
    PARAMETER_USERS,
    AlgorithmEntry,
    parse_algorithms,
    parse_parameters,
)
from gossipsim.common.spec.checks import (
    Problems,
    check_choice,
    check_int,
    check_keys,
    check_list,
    check_number,
    get,
    refield,
    safe_id,
)
from gossipsim.common.spec.graph_list import GraphEntry, parse_graphs
from gossipsim.common.spec.ids import (
    MAX_RUN_ID_LENGTH,
    RunId,
    SimulationId,
    check_run_id,
    check_simulation_id,
)
from gossipsim.common.spec.plan_checks import (
    MAX_HISTORY_VERTICES,
    SPEC_FIELDS,
    check_settings_for_graph,
)
from gossipsim.common.spec.run_plan import (
    DEFAULT_MAX_SHARDS,
    MAX_SEED,
    MAX_SHARDS,
    AlgorithmPlan,
    ExecutionSettings,
    GraphPlan,
    RunPlan,
    Visualization,
)
from gossipsim.common.spec.seed_simulation import (
    is_seed_resource,
    seed_field,
    translate_seed_simulation,
)
from gossipsim.common.spec.sweeps import product, swept_values

__all__ = [
    "AlgorithmEntry",
    "GraphEntry",
    "RunPlan",
    "SimulationSpec",
    "canonical_json",
    "expand_runs",
    "load_spec_file",
    "parse_spec",
    "simulation_id_for",
]

MAX_REPETITIONS = 10_000
MAX_RUNS = 1_000_000
STOP_CONDITIONS = {"converged": True, "max_rounds": False}
GRAPH_REALIZATIONS = ("fixed", "per_repetition")
TOP_KEYS = (
    "name", "seed", "graphs", "algorithms", "parameters", "repetitions", "mode", "max_rounds",
    "stop", "epsilon", "initialization", "history", "visualize", "shards", "graph_realizations",
)  # fmt: skip
VISUALIZE_KEYS = ("every", "max_vertices", "layout")


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulationSpec:
    """A checked spec. Every field is set by :func:`parse_spec`, which holds the defaults."""

    name: str
    seed: int
    graphs: tuple[GraphEntry, ...]
    algorithms: tuple[AlgorithmEntry, ...]
    parameters: dict[str, tuple[float, ...]]
    repetitions: int
    max_rounds: int
    until_converged: bool
    epsilon: float
    initialization: Initialization
    source_vertex: int | None  # single_source: the informed vertex; None: a random one
    settings_axes: dict[str, tuple[Any, ...]]  # swept settings (sweeps.SETTING_AXES) by name
    graph_realizations: str  # fixed | per_repetition
    history_every: int  # the spec's ``history`` (never given beside ``visualize``)
    history_vertices: int | tuple[int, ...] | None  # the first k ids, these ids, or all
    visualize: Visualization | None  # None: no drawings
    shards: int
    warnings: tuple[str, ...] = ()  # what a user should know; nothing that stops a run

    def combinations(self, entry: AlgorithmEntry) -> Iterator[dict[str, float]]:
        """The parameter combinations ``entry`` runs with: only the parameters it uses."""
        keys = [key for key in PARAMETER_KEYS if key in self.parameters and entry.uses(key)]
        for values in itertools.product(*(self.parameters[key] for key in keys)):
            yield dict(zip(keys, values, strict=True))

    def setting_combinations(self) -> list[dict[str, Any]]:
        """Every combination of the swept settings (one empty one when none is swept)."""
        return list(product(self.settings_axes))

    @property
    def runs_total(self) -> int:
        per_graph = sum(
            math.prod(len(self.parameters[key]) for key in self.parameters if entry.uses(key))
            for entry in self.algorithms
        )
        settings = math.prod(len(values) for values in self.settings_axes.values())
        return len(self.graphs) * settings * per_graph * self.repetitions

    def settings_for(
        self, graph: GraphEntry, swept: Mapping[str, Any] | None = None
    ) -> ExecutionSettings:
        """The execution settings of a run on ``graph`` with the swept settings ``swept``, with
        the history it samples (:meth:`history_for`) and the spec's ``visualize``."""
        swept = swept or {}
        history_every, history_vertices = self.history_for(graph)
        return ExecutionSettings(
            max_rounds=swept.get("max_rounds", self.max_rounds),
            until_converged=self.until_converged,
            epsilon=swept.get("epsilon", self.epsilon),
            initialization=self.initialization,
            source_vertex=swept.get("source", self.source_vertex),
            history_every=history_every,
            history_vertices=history_vertices,
            shards=self.shards,
            visualize=self.visualize,
        )

    def history_for(self, graph: GraphEntry) -> tuple[int, tuple[int, ...] | None]:
        """``(every, vertex ids or None for all)`` sampled on ``graph``. With ``visualize``:
        every vertex every ``every`` rounds on a graph small enough to draw, nothing on a larger
        one (it gets no drawing, so its history would be a cost without a use). Otherwise the
        spec's ``history``, a count of vertices becoming the ids of that many (at most all)."""
        if self.visualize is not None:
            if self.visualize.not_drawn(graph.vertices) is None:
                return self.visualize.every, None
            return 0, None
        sampled = self.history_vertices
        if isinstance(sampled, int):
            return self.history_every, tuple(range(min(sampled, graph.vertices)))
        return self.history_every, sampled

    def graph_plan(self, graph: GraphEntry, repetition: int) -> GraphPlan:
        """The graph of one repetition: the same for every repetition, unless
        ``graph_realizations`` is ``per_repetition`` and the graph is drawn at random, when
        each repetition draws its own from a seed derived from the graph's and its number."""
        if self.graph_realizations == "fixed" or not graph.random:
            return GraphPlan(name=graph.name, source=graph.source)
        seed = realization_seed(graph.source.get("seed", 0), repetition)
        return GraphPlan(name=graph.name, source={**graph.source, "seed": seed})


def parse_spec(
    doc: Mapping[str, Any],
    *,
    base_dir: Path | None = None,
    graphs_dir: Path | None = None,
    limits: GraphLimits = DEFAULT_LIMITS,
    inputs: GraphInputs = LOCAL_INPUTS,
    max_shards: int = DEFAULT_MAX_SHARDS,
) -> SimulationSpec:
    """Check a spec (or a seed ``Simulation``) whole; raise :class:`InvalidInput` naming the field.

    ``base_dir`` resolves relative paths of a native spec (the spec file's directory);
    ``graphs_dir`` is where a seed Simulation's Graph resources are. ``inputs`` says which
    files may be read (the default, any file, is ``gossipsim run``'s; a service passes its
    operator's roots) and holds the graph objects fetched from the store. ``limits`` and
    ``max_shards`` are the deployment's (``GOSSIPSIM_MAX_*``).
    """
    if not isinstance(doc, Mapping):
        raise InvalidInput(f"a simulation spec must be a mapping, got {type(doc).__name__}")
    if not is_seed_resource(doc):
        return _parse_native(
            doc, base_dir=base_dir, limits=limits, inputs=inputs, max_shards=max_shards
        )
    # The seed simulator ignored parameters its algorithm does not use, and its resources must
    # run unchanged: they are dropped, not refused.
    native = translate_seed_simulation(doc, graphs_dir, inputs=inputs)
    try:
        return _parse_native(
            native,
            base_dir=None,
            limits=limits,
            inputs=inputs,
            max_shards=max_shards,
            unused_parameters="drop",
        )
    except SpecProblems as exc:
        raise SpecProblems([refield(p, seed_field(p.field)) for p in exc.problems]) from exc
    except InvalidInput as exc:
        raise refield(exc, seed_field(exc.field)) from exc


def expand_runs(spec: SimulationSpec) -> dict[RunId, RunPlan]:
    """Every run of ``spec`` by its id, in graph, setting, algorithm, parameter, repetition
    order.

    The runs of one graph and settings share one (immutable) settings object, the runs of one
    algorithm its plan, and with fixed realizations the runs of one graph its graph plan: a
    sweep of a million runs then costs a million small plans, not five million objects (and a
    history of 200,000 sampled ids is held once per graph)."""
    plans: dict[RunId, RunPlan] = {}
    algorithms = {id(entry): AlgorithmPlan.of(entry.algorithm) for entry in spec.algorithms}
    graph_plans: dict[tuple[int, int], GraphPlan] = {}
    settings: dict[tuple[int, tuple[tuple[str, Any], ...]], ExecutionSettings] = {}
    for graph, combo, entry, parameters, repetition, run_id in _runs(spec):
        key = (id(graph), tuple(combo.items()))
        if key not in settings:
            settings[key] = spec.settings_for(graph, combo)
        realization = repetition if spec.graph_realizations == "per_repetition" else 0
        if (id(graph), realization) not in graph_plans:
            graph_plans[id(graph), realization] = spec.graph_plan(graph, realization)
        plans[run_id] = RunPlan(
            graph=graph_plans[id(graph), realization],
            algorithm=algorithms[id(entry)],
            parameters=parameters,
            repetition=repetition,
            seed=spec.seed,
            settings=settings[key],
            sweep={**graph.sweep, **combo},
        )
    assert len(plans) == spec.runs_total, "run ids must be unique"
    return plans


def realization_seed(graph_seed: int, repetition: int) -> int:
    """The generator seed of a repetition's graph when each repetition draws its own: derived
    from the graph's seed and the repetition number (blake2b, 31 bits), so realizations are the
    same in every process and every resubmission, and two graphs seeded 1 and 2 do not share
    realizations as ``seed + repetition`` would make them."""
    digest = hashlib.blake2b(f"{graph_seed}:{repetition}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") & 0x7FFFFFFF


def run_id_for(graph: str, algorithm_key: str, parameters: Mapping[str, float], rep: int) -> RunId:
    """``<graph>.<algorithm>[.<parameter>=<value>…].r<repetition>`` in the run id alphabet;
    :class:`InvalidInput` if it comes out too long (only a long graph name can do that)."""
    parts = [graph, algorithm_key, *(f"{key}={value!r}" for key, value in parameters.items())]
    # an id starts with a letter or digit: a graph name like "_tmp" loses its leading marks
    head = safe_id(parts[0]).lstrip("._=-") or "graph"
    text = ".".join([head, *(safe_id(part) for part in parts[1:]), f"r{rep}"])
    if len(text) > MAX_RUN_ID_LENGTH:
        raise InvalidInput(
            f"the run id {text[:60]}… would be {len(text)} characters, over the limit of"
            f" {MAX_RUN_ID_LENGTH}; give graph {graph[:60]!r} a shorter name",
            field="graphs",
        )
    return check_run_id(text)


def canonical_json(doc: Mapping[str, Any]) -> bytes:
    """The document as JSON with keys sorted and no spacing: equal documents, equal bytes
    (what simulation ids and the scheduler's submission digests are made from)."""
    return json.dumps(
        _canonical(doc), sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    ).encode()


def simulation_id_for(spec_doc: Mapping[str, Any]) -> SimulationId:
    """``<name>-<10 hex>`` from the canonical JSON of the document: resubmitting is idempotent.
    The name is normalised to the simulation id alphabet (lower-case letters, digits, ``-``)."""
    digest = hashlib.blake2b(canonical_json(spec_doc), digest_size=16).hexdigest()[:10]
    name = spec_doc.get("name")
    metadata = spec_doc.get("metadata")
    if not isinstance(name, str) and isinstance(metadata, Mapping):
        name = metadata.get("name")
    slug = re.sub(r"[^a-z0-9]+", "-", str(name or "").lower()).strip("-")[:40].strip("-")
    return check_simulation_id(f"{slug or 'simulation'}-{digest}")


def load_spec_file(path: str | Path) -> dict[str, Any]:
    """A spec or seed resource from a YAML or JSON file; a native spec gets the file's name."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"no such spec file: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read the spec file {path}: {exc}") from None
    if text.lstrip().startswith(("{", "[")):
        doc = load_json_document(text, source=str(path))
    else:
        docs = [d for d in load_yaml_documents(text, source=str(path)) if d is not None]
        if len(docs) > 1:
            raise InvalidInput(f"{path} holds {len(docs)} YAML documents; expected one spec")
        doc = docs[0] if docs else None
    if not isinstance(doc, dict):
        raise InvalidInput(
            f"{path} must hold a mapping (a simulation spec or a seed Simulation resource),"
            f" got {'nothing' if doc is None else type(doc).__name__}"
        )
    if not is_seed_resource(doc) and doc.get("name") is None:
        doc["name"] = path.name.split(".", 1)[0] or "simulation"
    return doc


# --- checking ---------------------------------------------------------------------------


def _parse_native(
    doc: Mapping[str, Any],
    *,
    base_dir: Path | None,
    limits: GraphLimits,
    inputs: GraphInputs,
    max_shards: int,
    unused_parameters: str = "refuse",
) -> SimulationSpec:
    """Check every field, collecting the problems of all of them (:class:`Problems`), then
    what only the graphs can tell; raise them together. ``unused_parameters``: ``refuse`` a
    parameter no algorithm uses, or ``drop`` it (a seed resource)."""
    problems = Problems()
    attempt = problems.attempt
    attempt(lambda: check_keys(doc, TOP_KEYS, ""), None)
    name = attempt(lambda: _name(get(doc, "name", "simulation")), "simulation")
    stop = attempt(lambda: check_choice(get(doc, "stop", "converged"), "stop", STOP_CONDITIONS),
                   "converged")  # fmt: skip
    initialization, source, sources = attempt(
        lambda: _initialization(get(doc, "initialization", "auto")),
        (Initialization.AUTO, None, None),
    )
    mode = attempt(lambda: _mode(get(doc, "mode", None)), None)
    max_rounds, max_rounds_axis = attempt(lambda: _max_rounds(get(doc, "max_rounds", 1000)),
                                          (1000, None))  # fmt: skip
    epsilon, epsilon_axis = attempt(lambda: _epsilon(get(doc, "epsilon", DEFAULT_EPSILON)),
                                    (DEFAULT_EPSILON, None))  # fmt: skip
    history_every, history_vertices = attempt(lambda: _history(get(doc, "history", {})), (0, None))
    shards = attempt(lambda: _shards(get(doc, "shards", 1), max_shards), 1)
    seed = attempt(lambda: check_int(get(doc, "seed", 0), "seed", 0, MAX_SEED), 0)
    repetitions = attempt(
        lambda: check_int(get(doc, "repetitions", 1), "repetitions", 1, MAX_REPETITIONS), 1
    )
    visualize = attempt(lambda: _visualize(get(doc, "visualize", False)), None)
    if visualize is not None and get(doc, "history", None) is not None:
        problems.add(
            InvalidInput(
                f"visualize samples every vertex every {visualize.every} round(s) itself"
                " (visualize.every), so give one or the other: remove history, or visualize",
                field="visualize",
            )
        )
    realizations = attempt(
        lambda: check_choice(
            get(doc, "graph_realizations", "fixed"), "graph_realizations", GRAPH_REALIZATIONS
        ),
        "fixed",
    )
    algorithms = attempt(lambda: parse_algorithms(get(doc, "algorithms", None), mode), ())
    no_parameters: dict[str, tuple[float, ...]] = {}
    parameters = attempt(lambda: parse_parameters(get(doc, "parameters", {})), no_parameters)
    if algorithms and unused_parameters == "drop":
        parameters = {
            key: values
            for key, values in parameters.items()
            if any(entry.uses(key) for entry in algorithms)
        }
    elif algorithms:
        attempt(lambda: _check_parameters_used(parameters, algorithms), None)
    graphs = attempt(
        lambda: parse_graphs(
            get(doc, "graphs", None), base_dir=base_dir, limits=limits, shards=shards,
            inputs=inputs,
        ),
        None,
    )  # fmt: skip
    problems.raise_any()
    assert graphs is not None
    axes: dict[str, tuple[Any, ...] | None] = {
        "max_rounds": max_rounds_axis,
        "epsilon": epsilon_axis,
        "source": sources,
    }
    spec = SimulationSpec(
        name=name,
        seed=seed,
        repetitions=repetitions,
        max_rounds=max_rounds,
        shards=shards,
        until_converged=STOP_CONDITIONS[stop],
        epsilon=epsilon,
        initialization=initialization,
        source_vertex=source,
        settings_axes={key: values for key, values in axes.items() if values is not None},
        graph_realizations=realizations,
        history_every=history_every,
        history_vertices=history_vertices,
        visualize=visualize,
        algorithms=algorithms,
        parameters=parameters,
        graphs=graphs.entries,
        warnings=graphs.warnings,
    )
    _check_against_graphs(spec)
    return spec


def _name(raw: object) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidInput(f"must be a non-empty string, got {raw!r}", field="name")
    return raw


def _mode(raw: object) -> str | None:
    return None if raw is None else check_choice(raw, "mode", [m.name.lower() for m in Mode])


def _max_rounds(raw: object) -> tuple[int, tuple[int, ...] | None]:
    """One ``max_rounds``, or a list of them to sweep (the first stands for them all where one
    value is needed)."""
    values = swept_values(raw, "max_rounds")
    if values is None:
        return check_int(raw, "max_rounds", 1, MAX_ROUNDS_LIMIT), None
    checked = tuple(
        check_int(value, f"max_rounds[{index}]", 1, MAX_ROUNDS_LIMIT)
        for index, value in enumerate(values)
    )
    return checked[0], checked


def _epsilon(raw: object) -> tuple[float, tuple[float, ...] | None]:
    values = swept_values(raw, "epsilon")
    if values is None:
        return _one_epsilon(raw, "epsilon"), None
    checked = tuple(_one_epsilon(value, f"epsilon[{i}]") for i, value in enumerate(values))
    return checked[0], checked


def _one_epsilon(raw: object, field: str) -> float:
    epsilon = check_number(raw, field)
    if not 0.0 <= epsilon < 1.0:
        raise InvalidInput(f"must lie in [0, 1), got {raw!r}", field=field)
    return epsilon


def _initialization(
    raw: object,
) -> tuple[Initialization, int | None, tuple[int, ...] | None]:
    """A name, or ``{single_source: {vertex: V}}`` where V is a vertex id, a list of ids to
    sweep, or ``random`` (each run draws its source, as ``single_source`` alone does).
    Returns the initialization, the source vertex and the swept sources."""
    if not isinstance(raw, Mapping):
        choice = check_choice(raw, "initialization", [i.value for i in Initialization])
        return Initialization(choice), None, None
    check_keys(raw, ("single_source",), "initialization")
    if len(raw) != 1:
        raise InvalidInput("must be a name or {single_source: {vertex: …}}", field="initialization")
    options = get(raw, "single_source", {})
    field = "initialization.single_source"
    if not isinstance(options, Mapping):
        raise InvalidInput("must be a mapping {vertex: id | [ids] | random}", field=field)
    check_keys(options, ("vertex",), field)
    vertex = get(options, "vertex", "random")
    if vertex == "random":
        return Initialization.SINGLE_SOURCE, None, None
    values = swept_values(vertex, f"{field}.vertex")
    if values is None:
        return Initialization.SINGLE_SOURCE, _vertex(vertex, f"{field}.vertex"), None
    checked = tuple(_vertex(v, f"{field}.vertex[{i}]") for i, v in enumerate(values))
    return Initialization.SINGLE_SOURCE, checked[0], checked


def _vertex(raw: object, field: str) -> int:
    if not is_int(raw) or raw < 0:
        raise InvalidInput(f"must be a vertex id >= 0 or random, got {raw!r}", field=field)
    return int(raw)


def _check_parameters_used(
    parameters: Mapping[str, tuple[float, ...]], algorithms: tuple[AlgorithmEntry, ...]
) -> None:
    """A parameter no algorithm uses changes nothing: a user who sweeps ``factor`` beside
    ``default`` expects runs per factor that would never come. Refused by name."""
    problems = Problems()
    labels = ", ".join(entry.label for entry in algorithms)
    for key in parameters:
        if not any(entry.uses(key) for entry in algorithms):
            problems.add(
                InvalidInput(
                    f"no algorithm of this spec uses {key} ({PARAMETER_USERS[key]}); the"
                    f" algorithms are {labels}. Remove it, or add an algorithm that uses it",
                    field=f"parameters.{key}",
                )
            )
    problems.raise_any()


def _shards(raw: object, max_shards: int) -> int:
    """Node shards per run, at most the deployment's ``GOSSIPSIM_MAX_SHARDS``: each shard is
    a node process or pod of its own (~165 MiB), and a spec must not be able to ask for a
    thousand of them."""
    shards = check_int(raw, "shards", 1, MAX_SHARDS)
    if shards > max_shards:
        raise InvalidInput(
            f"{shards} shards asked for, over the limit of {max_shards}; use fewer (the"
            f" setting GOSSIPSIM_MAX_SHARDS raises the limit, up to {MAX_SHARDS:,})",
            field="shards",
        )
    return shards


def _visualize(raw: object) -> Visualization | None:
    """``true`` (the defaults), ``false`` (None), or ``{every, max_vertices, layout}`` where a
    missing key takes its default; the problems of every key are reported together."""
    if isinstance(raw, bool):
        return Visualization() if raw else None
    if not isinstance(raw, Mapping):
        raise InvalidInput(
            "must be true or false, or a mapping {every: k, max_vertices: n, layout: name},"
            f" got {raw!r}",
            field="visualize",
        )
    check_keys(raw, VISUALIZE_KEYS, "visualize")
    problems = Problems()
    defaults = Visualization()
    every = problems.attempt(
        lambda: check_int(
            get(raw, "every", defaults.every), "visualize.every", 1, MAX_ROUNDS_LIMIT
        ),
        defaults.every,
    )
    max_vertices = problems.attempt(
        lambda: check_int(
            get(raw, "max_vertices", defaults.max_vertices),
            "visualize.max_vertices",
            1,
            MAX_DRAWN_VERTICES,
        ),
        defaults.max_vertices,
    )
    layout = problems.attempt(
        lambda: check_choice(get(raw, "layout", defaults.layout), "visualize.layout", LAYOUTS),
        defaults.layout,
    )
    problems.raise_any()
    return Visualization(every=every, max_vertices=max_vertices, layout=layout)


def _history(raw: object) -> tuple[int, int | tuple[int, ...] | None]:
    if not isinstance(raw, Mapping):
        raise InvalidInput("must be a mapping {every: k, vertices: …}", field="history")
    check_keys(raw, ("every", "vertices"), "history")
    every = check_int(get(raw, "every", 0), "history.every", 0, MAX_ROUNDS_LIMIT)
    vertices = raw.get("vertices")
    if vertices is None:
        return every, None
    if is_int(vertices):
        if vertices < 1:
            raise InvalidInput(f"a count must be >= 1, got {vertices}", field="history.vertices")
        return every, int(vertices)
    ids = check_list(vertices, "history.vertices", "vertex ids (or a count)")
    if len(ids) > MAX_HISTORY_VERTICES:
        raise InvalidInput(
            f"{len(ids):,} vertices listed, over the limit of {MAX_HISTORY_VERTICES:,} sampled"
            " per round",
            field="history.vertices",
        )
    seen: set[int] = set()
    for index, vertex in enumerate(ids):
        if not is_int(vertex) or vertex < 0 or vertex in seen:
            raise InvalidInput(
                f"must be a vertex id >= 0 not listed before, got {vertex!r}",
                field=f"history.vertices[{index}]",
            )
        seen.add(int(vertex))
    return every, tuple(int(vertex) for vertex in ids)


def _check_against_graphs(spec: SimulationSpec) -> None:
    """What only the graphs can tell: the settings on each graph, with each combination of the
    swept settings (the same check the runner applies to every run.start,
    :mod:`.plan_checks`), and the number of runs. Problems of all graphs are reported."""
    problems = Problems()
    combos = spec.setting_combinations()
    for graph in spec.graphs:
        for combo in combos:
            problems.attempt(
                lambda: check_settings_for_graph(
                    spec.settings_for(graph, combo),  # noqa: B023 (called at once)
                    graph_name=graph.name,  # noqa: B023
                    vertices=graph.vertices,  # noqa: B023
                    has_values=graph.has_values,  # noqa: B023
                    max_shards=MAX_SHARDS,  # the deployment's cap was applied to ``shards``
                    fields=SPEC_FIELDS,
                ),
                None,
            )
    problems.raise_any()
    if spec.runs_total > MAX_RUNS:
        raise InvalidInput(
            f"the spec expands to {spec.runs_total:,} runs, over the limit of {MAX_RUNS:,};"
            " use fewer graphs, algorithms, parameter or setting values, or repetitions",
            field="repetitions",
        )
    seen: set[str] = set()
    for *_, run_id in _runs(spec):
        if run_id in seen:
            raise InvalidInput(
                f"two runs would have the id {run_id!r}; rename a graph", field="graphs"
            )
        seen.add(run_id)


def _runs(
    spec: SimulationSpec,
) -> Iterator[tuple[GraphEntry, dict[str, Any], AlgorithmEntry, dict[str, float], int, RunId]]:
    combos = spec.setting_combinations()
    for graph in spec.graphs:
        for combo in combos:
            for entry in spec.algorithms:
                for parameters in spec.combinations(entry):
                    named = {**parameters, **combo}
                    for repetition in range(spec.repetitions):
                        run_id = run_id_for(graph.name, entry.key, named, repetition)
                        yield graph, combo, entry, parameters, repetition, run_id


def _canonical(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(key): _canonical(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    return value
