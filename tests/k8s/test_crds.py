"""Our CRDs (k8s/crds) accept what they must and refuse what they must not.

Each CRD's ``openAPIV3Schema`` is checked to be structural (the API server refuses others),
then used as a JSON Schema (Draft 4, see tests/k8s/manifests.py) to validate: the example
GossipSimulations in k8s/examples, every file of the earlier simulator's resources (the
subset in examples/seed-crs and the full set at GOSSIPSIM_FIXTURES, unchanged), the status
the scheduler's watcher writes, and invalid resources, which must be refused. The CRD's
fields are compared with the native spec's (services/common/spec/), so the two cannot drift
apart.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
import yaml

from gossipsim.common.graphs.sources import _COMMON_KEYS, _FORM_KEYS, _FORMS
from gossipsim.common.model.algorithms import Mode
from gossipsim.common.model.initial_values import Initialization
from gossipsim.common.spec.algorithm_grid import PARAMETER_KEYS
from gossipsim.common.spec.seed_simulation import SEED_SPEC_KEYS, SETTINGS_KEYS
from gossipsim.common.spec.simulation_spec import STOP_CONDITIONS, TOP_KEYS, parse_spec
from gossipsim.scheduler.kubernetes_status import Progress, progress_of_rejection, status_for
from tests.k8s.manifests import (
    FORMATS,
    K8S,
    MAX_OBJECT_BYTES,
    draft4_schema,
    find,
    metadata_problems,
    schema_at,
    structural_problems,
)


def test_crds_are_structural_and_their_columns_point_at_fields(k8s_base, k8s_crds):
    for crd in k8s_crds.values():
        assert structural_problems(crd.schema) == [], crd.kind
        jsonschema.Draft4Validator.check_schema(draft4_schema(crd.schema))
    for obj in k8s_base:
        if obj["kind"] != "CustomResourceDefinition":
            continue
        for version in obj["spec"]["versions"]:
            schema = version["schema"]["openAPIV3Schema"]
            for column in version.get("additionalPrinterColumns", []):
                assert schema_at(schema, column["jsonPath"]) is not None, column


def test_gossipsimulation_reads_like_a_progress_report(k8s_base):
    crd = find(k8s_base, "CustomResourceDefinition", "gossipsimulations.gossipsim.io")
    assert crd["spec"]["scope"] == "Namespaced"
    (version,) = crd["spec"]["versions"]
    assert version["subresources"] == {"status": {}}
    columns = [c["name"] for c in version["additionalPrinterColumns"] if not c.get("priority")]
    assert columns == ["Phase", "Succeeded", "Failed", "Total", "Age", "Results"]
    status = version["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]
    assert status["phase"]["enum"] == [
        "Pending", "Running", "Succeeded", "Failed", "Cancelled", "Rejected",
    ]  # fmt: skip
    expected = {"runsTotal", "runsSucceeded", "runsFailed", "startedAt", "finishedAt", "results"}
    assert expected | {"simulationId", "observedGeneration", "conditions"} <= set(status)


def test_seed_simulation_has_the_same_status_as_a_gossipsimulation(k8s_crds):
    statuses = [
        crd.schema["properties"]["status"]
        for (api_version, kind), crd in k8s_crds.items()
        if kind in ("GossipSimulation", "Simulation")
    ]
    assert len(statuses) == 2 and statuses[0] == statuses[1]
    (graph,) = [crd for (_, kind), crd in k8s_crds.items() if kind == "Graph"]
    assert "status" not in graph.schema["properties"]


def test_crd_spec_has_exactly_the_native_specs_fields(k8s_crds):
    """The CRD follows services/common/spec*.py: a field added there must be added here."""
    spec = k8s_crds[("gossipsim.io/v1alpha1", "GossipSimulation")].schema["properties"]["spec"]
    fields = spec["properties"]
    assert set(fields) == set(TOP_KEYS)
    graph_keys = set(_FORMS) | set(_COMMON_KEYS) | set().union(*_FORM_KEYS.values())
    assert set(fields["graphs"]["items"]["properties"]) == graph_keys | {"resources", "selector"}
    assert set(fields["parameters"]["properties"]) == set(PARAMETER_KEYS)
    # a name or {single_source: {vertex: …}}: typed by the scheduler's check, named here
    named = fields["initialization"]["description"]
    assert all(i.value in named for i in Initialization)
    assert set(fields["mode"]["enum"]) == {m.name.lower() for m in Mode}
    assert set(fields["stop"]["enum"]) == set(STOP_CONDITIONS)
    seed = k8s_crds[("gossip.io/v1", "Simulation")].schema["properties"]
    assert set(seed["spec"]["properties"]) == set(SEED_SPEC_KEYS)
    assert set(seed["gossipsim"]["properties"]) == set(SETTINGS_KEYS)


@pytest.mark.parametrize("path", sorted((K8S / "examples").glob("*.yaml")), ids=lambda p: p.name)
def test_example_resources_validate_and_are_valid_specs(k8s_crds, path):
    (doc,) = [d for d in yaml.safe_load_all(path.read_text()) if d]
    crd = k8s_crds[(doc["apiVersion"], doc["kind"])]
    errors = [e.message for e in crd.validator().iter_errors(doc)]
    assert errors == [] and metadata_problems(doc) == []
    assert "namespace" not in doc["metadata"]  # applied with -n, wherever gossipsim runs
    spec = parse_spec(doc["spec"])  # what the scheduler will do with it
    assert spec.runs_total > 0


@pytest.mark.parametrize("fixture", ["seed_crs", "full_seed_crs"])
def test_every_seed_fixture_validates_unchanged(k8s_crds, request, fixture):
    """Every file of the earlier simulator's resources would be accepted by our CRDs."""
    seed_crs = request.getfixturevalue(fixture)
    files = sorted(seed_crs.rglob("*.yaml"))
    assert files, f"no seed resources under {seed_crs}"
    kinds: dict[str, int] = {}
    problems = []
    validators = {key: crd.validator() for key, crd in k8s_crds.items()}
    for path in files:
        for doc in yaml.load_all(path.read_text(), Loader=getattr(yaml, "CSafeLoader", None)):
            if doc is None:
                continue
            key = (doc.get("apiVersion"), doc.get("kind"))
            if key not in validators:
                problems.append(f"{path}: no CRD for {key}")
                continue
            kinds[doc["kind"]] = kinds.get(doc["kind"], 0) + 1
            problems += [
                f"{path}: {e.json_path}: {e.message}" for e in validators[key].iter_errors(doc)
            ]
            problems += [f"{path}: {p}" for p in metadata_problems(doc)]
            if len(json.dumps(doc)) > MAX_OBJECT_BYTES:
                problems.append(f"{path}: larger than etcd stores")
    assert not problems, "\n".join(problems[:20])
    assert set(kinds) == {"Graph", "Simulation"}


def _merge_patched(status: dict[str, Any]) -> dict[str, Any]:
    """What a merge patch of ``status`` leaves: null values delete their keys."""
    return {key: value for key, value in status.items() if value is not None}


@pytest.mark.parametrize(
    "progress",
    [
        None,
        Progress(phase="Running", runs_total=30, runs_succeeded=4, started_at="2025-01-31T12:00"),
        Progress(phase="Succeeded", runs_total=3, runs_succeeded=3, results="s3://b/sim/",
                 started_at="2025-01-31T12:00:00+00:00", finished_at="2025-01-31T12:05:00"),
        Progress(phase="Failed", runs_total=3, runs_succeeded=2, runs_failed=1, results="s3://x"),
        Progress(phase="Cancelled", runs_total=3, runs_succeeded=1),
        progress_of_rejection("spec.repetitions", "must be an integer in 1..10,000; got 0"),
    ],
    ids=["pending", "running", "succeeded", "failed", "cancelled", "rejected"],
)  # fmt: skip
def test_the_status_the_scheduler_writes_fits_the_crd(k8s_crds, progress):
    status = _merge_patched(
        status_for(progress, simulation_id="sweep-0123456789", generation=2, previous={})
    )
    for kind in ("GossipSimulation", "Simulation"):
        (crd,) = [crd for (_, crd_kind), crd in k8s_crds.items() if crd_kind == kind]
        schema = draft4_schema(crd.schema["properties"]["status"])
        validator = jsonschema.Draft4Validator(schema, format_checker=FORMATS)
        assert [e.message for e in validator.iter_errors(status)] == []


_GOOD_SIMULATION = {
    "apiVersion": "gossipsim.io/v1alpha1",
    "kind": "GossipSimulation",
    "metadata": {"name": "ok"},
    "spec": {
        "graphs": [{"generator": "cycle_graph", "params": {"n": 10}}],
        "algorithms": ["default"],
    },
}
_GOOD_GRAPH = {
    "apiVersion": "gossip.io/v1",
    "kind": "Graph",
    "metadata": {"name": "g", "labels": {"series": "s"}},
    "spec": {"adjacencyList": ["0 1,", "1,"], "valueList": "3,4"},
}
_GOOD_SEED_SIMULATION = {
    "apiVersion": "gossip.io/v1",
    "kind": "Simulation",
    "metadata": {"name": "s"},
    "spec": {"graphSelector": {"matchLabels": {"series": "s"}}, "factor": [1.0, 2]},
}


def _changed(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    doc = json.loads(json.dumps(doc))
    *parents, last = path.split(".")
    node = doc
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return doc


_DELETE = object()


def test_good_resources_validate(k8s_crds):
    for doc in (_GOOD_SIMULATION, _GOOD_GRAPH, _GOOD_SEED_SIMULATION):
        crd = k8s_crds[(doc["apiVersion"], doc["kind"])]
        assert list(crd.validator().iter_errors(doc)) == []


@pytest.mark.parametrize(
    ("doc", "path", "value"),
    [
        (_GOOD_SIMULATION, "spec.repetitions", "five"),
        (_GOOD_SIMULATION, "spec.repetitions", 0),
        (_GOOD_SIMULATION, "spec.repetition", 5),  # misspelt: unknown fields are refused
        (_GOOD_SIMULATION, "spec.graphs", []),
        (_GOOD_SIMULATION, "spec.algorithms", _DELETE),
        (_GOOD_SIMULATION, "spec.mode", "parallel"),
        (_GOOD_SIMULATION, "spec.graph_realizations", "sometimes"),
        (_GOOD_SIMULATION, "spec.parameters", {"factor": 2.0}),
        (_GOOD_SIMULATION, "spec.graphs.0.generatr", "x"),
        (_GOOD_SIMULATION, "status", {"phase": "Done"}),
        (_GOOD_SIMULATION, "status", {"startedAt": "yesterday"}),
        (_GOOD_SIMULATION, "status", {"conditions": [{"type": "Completed", "status": "True"}]}),
        (_GOOD_GRAPH, "spec.adjacencyList", "0 1,\n1,"),
        (_GOOD_GRAPH, "spec.adjacencyList", _DELETE),
        (_GOOD_GRAPH, "spec.graphProperties", {"nodeCount": 20}),
        (_GOOD_SEED_SIMULATION, "spec.factor", ["2"]),
        (_GOOD_SEED_SIMULATION, "spec.repetitions", 2.5),
        (_GOOD_SEED_SIMULATION, "spec.graphSelector", _DELETE),
        (_GOOD_SEED_SIMULATION, "spec.randomInitialization", "false"),
    ],
)
def test_invalid_resources_are_refused(k8s_crds, doc, path, value):
    bad = _changed(doc, path, value)
    crd = k8s_crds[(bad["apiVersion"], bad["kind"])]
    assert list(crd.validator().iter_errors(bad)), f"{path}={value!r} was accepted"
