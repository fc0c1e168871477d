"""Hostile specs given to `gossipsim run`: each is refused with exit 2 and the field named,
nothing runs, and no secret and no content of a file the spec names appears anywhere."""

from __future__ import annotations

import bz2
import gzip
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from gossipsim.cli import main as cli
from tests.security.conftest import CANARY, assert_no_canary

CYCLE = {"generator": "cycle_graph", "params": {"n": 12}}


def spec_with(**changes: Any) -> dict[str, Any]:
    """A small valid spec with ``changes`` applied (None removes a key)."""
    spec: dict[str, Any] = {
        "name": "hostile",
        "graphs": [CYCLE],
        "algorithms": ["default"],
        "repetitions": 1,
        "max_rounds": 50,
    }
    spec.update(changes)
    return {key: value for key, value in spec.items() if value is not None}


def graph(source: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return spec_with(graphs=[source], **changes)


def generator(name: str, **params: Any) -> dict[str, Any]:
    return graph({"generator": name, "params": params, "seed": 1})


@dataclass(frozen=True)
class Case:
    """A spec (a mapping written as YAML, or raw text) and the words its refusal must hold."""

    spec: Callable[[Path], dict[str, Any] | str]
    words: tuple[str, ...]
    suffix: str = ".yaml"


def canary_file(tmp: Path, name: str, text: str) -> str:
    """A file whose content carries the canary, as secrets in a host file would."""
    path = tmp / name
    path.write_text(text.replace("SECRET", CANARY))
    return str(path)


ALIAS_BOMB = "\n".join(
    ["a: &a [x, x, x, x, x, x, x, x, x]"]
    + [
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]"
        for i in range(9)
    ]
    + ["name: bomb", "graphs: [*j]"]
)

CASES: dict[str, Case] = {
    # --- files whose content must never come back ----------------------------------------
    "environ-as-edgelist": Case(
        lambda tmp: graph({"file": "/proc/self/environ", "format": "edgelist"}), ("graphs[0]",)
    ),
    "environ-as-adjlist": Case(
        lambda tmp: graph({"file": "/proc/self/environ", "format": "adjlist"}), ("graphs[0]",)
    ),
    "passwd-as-edgelist": Case(
        lambda tmp: graph({"file": "/etc/passwd", "format": "edgelist"}), ("graphs[0]",)
    ),
    "canary-edgelist-bad-line": Case(
        lambda tmp: graph({"file": canary_file(tmp, "g.edgelist", "1 2\nSECRET\n2 3\n")}),
        ("graphs[0]", "line 2"),
    ),
    "canary-csv-bad-line": Case(
        lambda tmp: graph({"file": canary_file(tmp, "g.csv", "a,b\n1,2\nSECRET\n")}),
        ("graphs[0]",),
    ),
    "canary-adjlist-isolated-labels": Case(
        lambda tmp: graph({"file": canary_file(tmp, "g.adjlist", "1 2\n2 3\nSECRET\n")}),
        ("graphs[0]", "isolated"),
    ),
    "canary-graphml": Case(
        lambda tmp: graph({"file": canary_file(tmp, "g.graphml", "<graphml><SECRET></graphml>")}),
        ("graphs[0]",),
    ),
    "canary-gexf": Case(
        lambda tmp: graph({"file": canary_file(tmp, "g.gexf", "<gexf>SECRET</gexf")}),
        ("graphs[0]",),
    ),
    "canary-gml": Case(
        lambda tmp: graph({"file": canary_file(tmp, "g.gml", "graph [ SECRET ")}), ("graphs[0]",)
    ),
    "canary-seed-resource": Case(
        lambda tmp: graph({"resource": canary_file(tmp, "r.yaml", "kind: Graph\nspec: SECRET\n")}),
        ("graphs[0]",),
    ),
    "canary-values": Case(lambda tmp: graph({**CYCLE, "valueList": "1,2,SECRET"}), ("valueList",)),
    "directory-as-file": Case(
        lambda tmp: graph({"file": "/etc", "format": "edgelist"}), ("graphs[0]",)
    ),
    # --- documents that cost before any check ----------------------------------------------
    "yaml-alias-bomb": Case(lambda tmp: ALIAS_BOMB, ("alias",)),
    "yaml-nested-1000": Case(lambda tmp: "a: " + "[" * 1000 + "]" * 1000, ("nest",)),
    "json-nested-1000": Case(
        lambda tmp: '{"a": ' + "[" * 1000 + "]" * 1000 + "}", ("nest",), suffix=".json"
    ),
    "yaml-duplicate-key": Case(lambda tmp: "name: a\nname: b\ngraphs: []\n", ("twice",)),
    "json-duplicate-key": Case(
        lambda tmp: '{"name": "a", "name": "b"}', ("twice",), suffix=".json"
    ),
    "yaml-nan-epsilon": Case(
        lambda tmp: yaml.safe_dump(spec_with()) + "epsilon: .nan\n", ("finite",)
    ),
    "yaml-inf-epsilon": Case(
        lambda tmp: yaml.safe_dump(spec_with()) + "epsilon: .inf\n", ("finite",)
    ),
    "json-nan-epsilon": Case(
        lambda tmp: json.dumps(spec_with())[:-1] + ', "epsilon": NaN}', ("finite",), suffix=".json"
    ),
    "int-over-64-bits": Case(lambda tmp: spec_with(seed=2**70), ("64 bits",)),
    # --- graphs that could never run ---------------------------------------------------------
    "one-vertex": Case(lambda tmp: graph({"adjacency": ["0"]}), ("graphs[0]",)),
    "self-loop-only": Case(lambda tmp: graph({"adjacency": ["0 0"]}), ("graphs[0]",)),
    "no-edges": Case(lambda tmp: generator("empty_graph", n=5), ("graphs[0]",)),
    "more-shards-than-vertices": Case(
        lambda tmp: generator("cycle_graph", n=5) | {"shards": 8}, ("shards", "5 vertices")
    ),
    "shards-1024": Case(
        lambda tmp: generator("cycle_graph", n=5000) | {"shards": 1024}, ("shards",)
    ),
    # --- generators whose size must be known before they build -------------------------------
    "barbell": Case(lambda tmp: generator("barbell_graph", m1=200_000, m2=10), ("graphs[0]",)),
    "turan": Case(lambda tmp: generator("turan_graph", n=200_000, r=3), ("graphs[0]",)),
    "kneser": Case(lambda tmp: generator("kneser_graph", n=60, k=20), ("graphs[0]",)),
    "random-cograph": Case(lambda tmp: generator("random_cograph", n=40), ("graphs[0]",)),
    "navigable-small-world": Case(
        lambda tmp: generator("navigable_small_world_graph", n=5000, dim=3), ("graphs[0]",)
    ),
    "lollipop": Case(lambda tmp: generator("lollipop_graph", m=200_000, n=10), ("graphs[0]",)),
    "hkn-harary": Case(
        lambda tmp: generator("hkn_harary_graph", k=100_000, n=200_000), ("graphs[0]",)
    ),
    "k-out-10M": Case(
        lambda tmp: generator("random_k_out_graph", n=10_000_000, k=10),
        ("graphs[0]", "over the limit"),
    ),
    "unknown-generator": Case(lambda tmp: generator("__import__", module="os"), ("graphs[0]",)),
    "dotted-generator": Case(lambda tmp: generator("os.system", command="id"), ("graphs[0]",)),
    # --- files that cost more than they weigh ------------------------------------------------
    "gzip-bomb": Case(lambda tmp: graph({"file": _gzip_bomb(tmp)}), ("graphs[0]",)),
    "bz2-bomb": Case(lambda tmp: graph({"file": _bz2_bomb(tmp)}), ("graphs[0]",)),
    # --- settings that cost --------------------------------------------------------------------
    "history-over-cap": Case(
        lambda tmp: (
            generator("cycle_graph", n=300_000)
            | {"history": {"every": 1, "vertices": 300_000}, "max_rounds": 1000}
        ),
        ("history",),
    ),
    "runs-over-limit": Case(lambda tmp: spec_with(repetitions=10**9), ("repetitions",)),
    "max-rounds-huge": Case(lambda tmp: spec_with(max_rounds=10**12), ("max_rounds",)),
    "object-key-escape": Case(lambda tmp: graph({"object": "../state/x.json"}), ("object",)),
    "object-key-absolute": Case(lambda tmp: graph({"object": "/etc/passwd"}), ("object",)),
}


def _gzip_bomb(tmp: Path) -> str:
    """A few hundred KB that inflate to far more than the byte cap: lines of an edge list.
    One compressed MiB repeated: readers take concatenated streams as one file."""
    path = tmp / "bomb.edgelist.gz"
    path.write_bytes(gzip.compress(b"1 2\n" * 262_144, compresslevel=9) * 300)
    return str(path)


def _bz2_bomb(tmp: Path) -> str:
    path = tmp / "bomb.edgelist.bz2"
    path.write_bytes(bz2.compress(b"3 4\n" * 262_144, compresslevel=9) * 300)
    return str(path)


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_spec_is_refused_without_leaking(name, tmp_path, canary, capfd, monkeypatch):
    case = CASES[name]
    monkeypatch.setenv("GOSSIPSIM_MAX_FILE_BYTES", str(64 * 1024 * 1024))
    content = case.spec(tmp_path)
    spec_path = tmp_path / f"spec{case.suffix}"
    spec_path.write_text(content if isinstance(content, str) else yaml.safe_dump(content))
    out = tmp_path / "out"
    code = cli.main(["run", str(spec_path), "--out", str(out), "--json"])
    captured = capfd.readouterr()
    assert code == 2, captured.err + captured.out
    said = captured.err + captured.out
    for words in case.words:
        assert words in said, said
    assert not (out / "simulations").exists() or not any((out / "simulations").iterdir())
    assert_no_canary([captured.out, captured.err], [out])
