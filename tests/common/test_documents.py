"""Hostile YAML and JSON documents are refused before anything walks them, naming the line."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from gossipsim.cli import main as cli
from gossipsim.common.documents import MAX_DEPTH, load_json_document, load_yaml_documents
from gossipsim.common.errors import GraphError, InvalidInput
from gossipsim.common.graphs.sources import load_graph
from gossipsim.common.spec.simulation_spec import load_spec_file

CANARY = "CANARY-7f3e-do-not-echo"

# The "billion laughs": 9 levels of 9 aliases, 565 bytes that expand to 9^9 strings.
ALIAS_BOMB = "\n".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [
        f"{chr(98 + k)}: &{chr(98 + k)} [" + ",".join([f"*{chr(97 + k)}"] * 9) + "]"
        for k in range(8)
    ]
)


def test_an_alias_bomb_is_refused_at_once() -> None:
    started = time.perf_counter()
    with pytest.raises(InvalidInput, match=r"spec.yaml, line \d+: .*aliases are not accepted"):
        load_yaml_documents(ALIAS_BOMB, source="spec.yaml")
    assert time.perf_counter() - started < 1.0


def test_a_single_alias_is_refused_too() -> None:
    with pytest.raises(InvalidInput, match=r"line 1: an anchor .* is used by an alias"):
        load_yaml_documents("a: &x 1\nb: *x\n", source="s.yaml")


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 5000])
def test_yaml_nested_too_deeply_is_refused(depth: int) -> None:
    """Past our limit, or past libyaml's own (1000 levels), with the same kind of message."""
    with pytest.raises(InvalidInput, match="nest"):
        load_yaml_documents("[" * depth + "]" * depth, source="s.yaml")


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 5000])
def test_json_nested_too_deeply_is_refused(depth: int) -> None:
    with pytest.raises(InvalidInput, match=f"nested deeper than {MAX_DEPTH} levels"):
        load_json_document("[" * depth + "]" * depth, source="s.json")


def test_nesting_up_to_the_limit_is_read() -> None:
    text = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert load_yaml_documents(text, source="s.yaml")[0] is not None
    assert load_json_document(text, source="s.json") is not None


def test_a_key_repeated_with_another_value_is_refused_naming_the_line() -> None:
    with pytest.raises(InvalidInput, match=r"s.yaml, line 3: a key appears twice"):
        load_yaml_documents("seed: 1\nname: x\nseed: 2\n", source="s.yaml")
    with pytest.raises(InvalidInput, match="line 2: a key appears twice"):
        load_yaml_documents("graphs:\n  - {seed: 1, seed: 2}\n", source="s.yaml")
    with pytest.raises(InvalidInput, match=r"s.json: a key appears twice"):
        load_json_document('{"seed": 1, "x": {"seed": 1}, "seed": 2}', source="s.json")


def test_a_key_repeated_with_the_same_value_is_accepted() -> None:
    """One of the earlier simulator's Graph resources repeats its valueList line."""
    text = 'spec:\n  valueList: "1,2,3"\n  valueList: "1,2,3"\n'
    assert load_yaml_documents(text, source="s.yaml") == [{"spec": {"valueList": "1,2,3"}}]
    assert load_json_document('{"a": [1, 2], "a": [1, 2]}', source="s.json") == {"a": [1, 2]}


@pytest.mark.parametrize("number", [".nan", ".NaN", ".inf", "-.inf", "+.Inf"])
def test_non_finite_yaml_numbers_are_refused(number: str) -> None:
    with pytest.raises(InvalidInput, match="line 1: numbers must be finite"):
        load_yaml_documents(f"epsilon: {number}\n", source="s.yaml")


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_json_numbers_are_refused(number: str) -> None:
    with pytest.raises(InvalidInput, match="numbers must be finite"):
        load_json_document(f'{{"epsilon": {number}}}', source="s.json")


@pytest.mark.parametrize("number", [str(2**64), str(-(2**63) - 1), "9" * 400])
def test_integers_outside_64_bits_are_refused(number: str) -> None:
    with pytest.raises(InvalidInput, match="integers must fit in 64 bits"):
        load_yaml_documents(f"seed: {number}\n", source="s.yaml")
    with pytest.raises(InvalidInput, match="integers must fit in 64 bits"):
        load_json_document(f'{{"seed": {number}}}', source="s.json")


def test_ordinary_documents_read_as_before() -> None:
    text = (
        "name: q\nseed: 42\nepsilon: 1.0e-4\nparams: {p: [0.1, 0.5]}\nbig: 18446744073709551615\n"
    )
    (document,) = load_yaml_documents(text, source="s.yaml")
    assert document == {
        "name": "q",
        "seed": 42,
        "epsilon": 1e-4,
        "params": {"p": [0.1, 0.5]},
        "big": 2**64 - 1,
    }
    assert load_json_document('{"a": [1, 2.5, null, true]}', source="s.json") == {
        "a": [1, 2.5, None, True]
    }


@pytest.mark.parametrize(
    "text",
    [
        f"name: x\nsecret: {CANARY}\ngraphs: [unclosed\n",
        f"name: x\n  secret: {CANARY}\n bad\n",
        f"{CANARY}: [1, 2\n",
        f"a: 1\n{CANARY}: 2\n{CANARY}: 3\n",
    ],
)
def test_parse_errors_name_the_line_but_never_repeat_the_text(text: str) -> None:
    with pytest.raises(InvalidInput, match=r"s.yaml(, line \d+)?:") as caught:
        load_yaml_documents(text, source="s.yaml")
    assert CANARY not in str(caught.value)


def test_json_parse_errors_never_repeat_the_text() -> None:
    with pytest.raises(InvalidInput, match=r"s.json, line 2: not valid JSON") as caught:
        load_json_document(f'{{"a": 1,\n "{CANARY}" 2}}', source="s.json")
    assert CANARY not in str(caught.value)


def test_a_spec_file_with_a_duplicate_key_is_refused(tmp_path: Path) -> None:
    spec = tmp_path / "dup.yaml"
    spec.write_text("name: dup\nrepetitions: 1\nrepetitions: 500\n")
    with pytest.raises(InvalidInput, match="line 3: a key appears twice"):
        load_spec_file(spec)


def test_gossipsim_run_refuses_an_alias_bomb_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "bomb.yaml"
    spec.write_text(ALIAS_BOMB + "\n")
    started = time.perf_counter()
    code = cli.main(["run", str(spec), "--out", str(tmp_path / "out")])
    assert code == 2
    assert time.perf_counter() - started < 5.0
    assert "aliases are not accepted" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_seed_graph_resource_with_a_duplicate_key_is_a_graph_error(tmp_path: Path) -> None:
    resource = tmp_path / "g.yaml"
    resource.write_text(
        "apiVersion: gossip.io/v1\nkind: Graph\nmetadata: {name: g}\n"
        'spec:\n  adjacencyList: ["0 1,", "1 2,"]\n  adjacencyList: ["0 2,"]\n'
    )
    with pytest.raises(GraphError, match="line 6: a key appears twice"):
        load_graph({"resource": str(resource)})
