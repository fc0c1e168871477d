"""Seed ``kind: Simulation`` resources as simulation specs.

The seed simulator's resources must run unchanged (docs/design.md, Purpose), so a ``Simulation`` is
translated into the native spec and checked by the same code; errors found there are renamed
back to the resource's own paths (``repetitions`` → ``spec.repetitions``), because the user
wrote the resource, not the translation. Defaults are those of the seed's CRD: algorithm
``default``, one repetition, random initialization.

The seed selected its graphs from the cluster by label; here they are the ``kind: Graph`` files
under a directory the caller names (``graphs_dir``), searched recursively, or — for a resource
read from a cluster — the Graph resources the caller read there (``graph_resources``), which
become inline graphs so the submitted spec carries everything its runs need. ``graphs_dir``
obeys the caller's :class:`~gossipsim.common.graphs.inputs.GraphInputs` like any path in a spec:
outside the operator's roots it is refused (field ``graphs_dir``). The seed had no
execution settings; a top-level ``gossipsim`` mapping beside ``spec`` may give the native ones
(``seed``, ``shards``, ``max_rounds`` …), so a resource stays valid for the seed's CRD.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from gossipsim.common.errors import InvalidInput
from gossipsim.common.graphs.inputs import LOCAL_INPUTS, GraphInputs
from gossipsim.common.graphs.source_seed_resource import SEED_API_VERSION
from gossipsim.common.spec.algorithm_grid import PARAMETER_KEYS
from gossipsim.common.spec.checks import check_keys

__all__ = ["is_seed_resource", "seed_field", "seed_graph_source", "translate_seed_simulation"]

SEED_SPEC_KEYS = (
    "graphSelector",
    "algorithm",
    "repetitions",
    *PARAMETER_KEYS,
    "randomInitialization",
    "visualize",
    "simulationProperties",  # free-form notes in the seed's CRD; accepted and ignored
)

SETTINGS_KEYS = ("seed", "mode", "max_rounds", "stop", "epsilon", "history", "shards")
_RESOURCE_KEYS = ("apiVersion", "kind", "metadata", "spec", "status", "gossipsim")

# Native field path → the seed resource's path; the first matching prefix wins.
_SEED_FIELDS = (
    *((key, f"gossipsim.{key}") for key in SETTINGS_KEYS),
    ("graphs", "spec.graphSelector"),
    ("algorithms[0]", "spec.algorithm"),
    ("parameters", "spec"),
    ("repetitions", "spec.repetitions"),
    ("initialization", "spec.randomInitialization"),
    ("visualize", "spec.visualize"),
    ("name", "metadata.name"),
)


def is_seed_resource(doc: Mapping[str, Any]) -> bool:
    """A Kubernetes-style resource rather than a native spec (which has neither key)."""
    return "apiVersion" in doc or "kind" in doc


def translate_seed_simulation(
    doc: Mapping[str, Any],
    graphs_dir: str | Path | None,
    *,
    graph_resources: Iterable[Mapping[str, Any]] | None = None,
    inputs: GraphInputs = LOCAL_INPUTS,
) -> dict[str, Any]:
    """The native spec that runs what a seed ``Simulation`` resource describes.

    The graphs are selected among ``graph_resources`` when given (inline graphs), else among
    the files under ``graphs_dir``, which must lie inside ``inputs``' roots (when it has any).
    """
    if doc.get("apiVersion") != SEED_API_VERSION:
        raise InvalidInput(
            f"apiVersion is {doc.get('apiVersion')!r}; a seed resource has {SEED_API_VERSION!r}",
            field="apiVersion",
        )
    if doc.get("kind") != "Simulation":
        raise InvalidInput(
            f"kind is {doc.get('kind')!r}; submit a 'Simulation' resource or a simulation spec"
            " (a mapping with graphs and algorithms)",
            field="kind",
        )
    check_keys(doc, _RESOURCE_KEYS, "")
    settings = doc.get("gossipsim") or {}
    if not isinstance(settings, Mapping):
        raise InvalidInput(f"must be a mapping of settings, got {settings!r}", field="gossipsim")
    check_keys(settings, SETTINGS_KEYS, "gossipsim")
    metadata = doc.get("metadata")
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    if not isinstance(name, str) or not name:
        raise InvalidInput("a Simulation resource needs a non-empty name", field="metadata.name")
    spec = doc.get("spec")
    if not isinstance(spec, Mapping):
        raise InvalidInput("a Simulation resource needs a spec mapping", field="spec")
    check_keys(spec, SEED_SPEC_KEYS, "spec")
    algorithm = spec.get("algorithm", "default")
    if not isinstance(algorithm, str):
        raise InvalidInput(
            f"must be one seed algorithm name such as 'default', got {algorithm!r}",
            field="spec.algorithm",
        )
    random_init = spec.get("randomInitialization", True)
    if not isinstance(random_init, bool):
        raise InvalidInput(
            f"must be true or false, got {random_init!r}", field="spec.randomInitialization"
        )
    native: dict[str, Any] = {
        **settings,
        "name": name,
        "graphs": _graph_selection(spec.get("graphSelector"), graphs_dir, graph_resources, inputs),
        "algorithms": [algorithm],
        "repetitions": spec.get("repetitions", 1),
        "initialization": "random_int" if random_init else "graph",
        "visualize": spec.get("visualize", False),
    }
    parameters = {key: spec[key] for key in PARAMETER_KEYS if spec.get(key) is not None}
    if parameters:
        native["parameters"] = parameters
    return native


def seed_field(path: str | None) -> str | None:
    """Where in the seed resource a native field path came from."""
    if path is None:
        return None
    for native, seed in _SEED_FIELDS:
        if path == native or path.startswith((native + ".", native + "[")):
            return seed if native == "graphs" else seed + path[len(native) :]
    return path


def seed_graph_source(resource: Mapping[str, Any]) -> dict[str, Any]:
    """A seed ``kind: Graph`` resource as an inline graph source (name, adjacency, values)."""
    metadata = resource.get("metadata")
    spec = resource.get("spec")
    spec = spec if isinstance(spec, Mapping) else {}
    source: dict[str, Any] = {
        "name": metadata.get("name") if isinstance(metadata, Mapping) else None,
        "adjacencyList": spec.get("adjacencyList"),
    }
    if spec.get("valueList") not in (None, ""):
        source["valueList"] = spec["valueList"]
    return source


def _graph_selection(
    selector: object,
    graphs_dir: str | Path | None,
    graph_resources: Iterable[Mapping[str, Any]] | None,
    inputs: GraphInputs,
) -> list[dict[str, Any]]:
    if not isinstance(selector, Mapping):
        raise InvalidInput(
            "a Simulation needs graphSelector: {matchLabels: {label: value}}",
            field="spec.graphSelector",
        )
    check_keys(selector, ("matchLabels",), "spec.graphSelector")
    labels = selector.get("matchLabels") or {}
    if not isinstance(labels, Mapping):
        raise InvalidInput(
            f"must map label names to values, got {labels!r}",
            field="spec.graphSelector.matchLabels",
        )
    if graph_resources is not None:
        wanted = {str(key): str(value) for key, value in labels.items()}
        selected = [
            seed_graph_source(resource)
            for resource in graph_resources
            if _labels_match(resource, wanted)
        ]
        if not selected:
            raise InvalidInput(
                f"selects no Graph resource: none has the labels {wanted}",
                field="spec.graphSelector.matchLabels",
            )
        return sorted(selected, key=lambda source: str(source["name"]))
    if graphs_dir is None:
        raise InvalidInput(
            "a seed Simulation selects Graph resources by label; name the directory that holds"
            " them (graphs_dir, or --graphs on the command line)",
            field="spec.graphSelector",
        )
    directory = Path(graphs_dir).expanduser()
    inputs.check_inside(directory, shown=str(graphs_dir), field="graphs_dir")
    return [{"resources": str(directory.resolve()), "selector": dict(labels)}]


def _labels_match(resource: Mapping[str, Any], wanted: Mapping[str, str]) -> bool:
    metadata = resource.get("metadata")
    labels = metadata.get("labels") if isinstance(metadata, Mapping) else None
    labels = labels if isinstance(labels, Mapping) else {}
    return all(str(labels.get(key)) == value for key, value in wanted.items())
