"""Sweeps: a list where a spec takes one number runs every value of it.

Researchers vary one thing at a time and compare, so any number of a spec may be given as a
list, and the spec expands to the Cartesian product of its lists:

- a graph generator's parameter or ``seed`` (``params: {p: [0.01, 0.1]}``): the graph item
  becomes one graph per combination, named after it (``ws-500.p=0.1``), so every graph
  configuration has a readable name of its own in run ids and tables;
- ``max_rounds``, ``epsilon`` and the source vertex of ``initialization`` (these
  :data:`SETTING_AXES` multiply every run);
- the algorithm parameters of ``parameters`` (:mod:`.algorithm_grid`), which multiply only the
  algorithms that use them.

A parameter that is a list by nature (the block ``sizes`` of a stochastic block model, a degree
sequence) is never a sweep (:func:`~gossipsim.common.graphs.source_generator.is_list_parameter`):
a list there is the one value. The swept values of a run are recorded in its plan
(``RunPlan.sweep``), and the results tables have a ``param_<name>`` column for each.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from gossipsim.common.errors import InvalidInput
from gossipsim.common.graphs.source_generator import is_list_parameter

__all__ = [
    "MAX_GRAPH_CONFIGURATIONS",
    "SETTING_AXES",
    "expand_graph_item",
    "format_value",
    "product",
    "swept_values",
]

MAX_GRAPH_CONFIGURATIONS = 1_000
"""Most graphs a spec may expand to: each is built when the spec is checked."""

SETTING_AXES = ("max_rounds", "epsilon", "source")
"""The execution settings that may be swept, in the order they appear in run ids."""


def format_value(value: float) -> str:
    """A swept value as it appears in names and run ids: integers without a decimal point
    (``n=500``), other numbers as Python writes them (``p=0.1``, ``epsilon=1e-05``)."""
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


def swept_values(raw: object, field: str) -> tuple[Any, ...] | None:
    """The values of a swept field, or None when ``raw`` is one value (not a list).

    The list must not be empty and must not repeat a value (two runs would share an id);
    each value is checked by whoever takes it."""
    if not isinstance(raw, list | tuple):
        return None
    if not raw:
        raise InvalidInput("an empty list sweeps nothing; give one value or several", field=field)
    seen: list[Any] = []
    for index, value in enumerate(raw):
        if isinstance(value, list | tuple | Mapping):
            raise InvalidInput(
                f"a swept value must be a number, got a {type(value).__name__}",
                field=f"{field}[{index}]",
            )
        if value in seen:
            raise InvalidInput(f"lists {value!r} twice", field=f"{field}[{index}]")
        seen.append(value)
    return tuple(raw)


def product(axes: Mapping[str, Sequence[Any]]) -> Iterator[dict[str, Any]]:
    """Every combination of the axes' values, in the order the axes are given."""
    keys = list(axes)
    for values in itertools.product(*(axes[key] for key in keys)):
        yield dict(zip(keys, values, strict=True))


def expand_graph_item(item: object, field: str) -> list[tuple[object, dict[str, Any]]]:
    """A graph item with lists among its generator's numbers, as one item per combination
    and the values that made it; any other item as it is (with no values).

    The expanded items are named ``<name>.<key>=<value>…`` in the order the keys are written,
    where ``<name>`` is the item's own name, or the generator's when it has none."""
    if not isinstance(item, Mapping) or "generator" not in item:
        return [(item, {})]
    generator = item["generator"]
    params = item.get("params")
    axes: dict[str, tuple[Any, ...]] = {}
    if isinstance(params, Mapping):
        for key, raw in params.items():
            if isinstance(generator, str) and is_list_parameter(generator, str(key)):
                continue
            values = swept_values(raw, f"{field}.params.{key}")
            if values is not None:
                axes[str(key)] = values
    seed_values = swept_values(item.get("seed"), f"{field}.seed")
    if seed_values is not None:
        axes["seed"] = seed_values
    if not axes:
        return [(item, {})]
    base = item.get("name") or (generator if isinstance(generator, str) else "graph")
    expanded: list[tuple[object, dict[str, Any]]] = []
    for combination in product(axes):
        swept_params = {k: v for k, v in combination.items() if k != "seed"}
        suffix = ".".join(f"{key}={format_value(value)}" for key, value in combination.items())
        one: dict[str, Any] = {**item, "name": f"{base}.{suffix}"}
        if isinstance(params, Mapping):
            one["params"] = {**params, **swept_params}
        if "seed" in combination:
            one["seed"] = combination["seed"]
        expanded.append((one, combination))
    return expanded
