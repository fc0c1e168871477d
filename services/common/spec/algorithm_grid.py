"""The ``algorithms`` and the ``parameters`` grid of a spec, and which parameter applies where.

An algorithm is a seed name (``default``, ``weighted_factor_complex_memory`` …), which means
the seed's semantics, or a mapping of ``rule``, ``selection``, ``memory``, ``mode``, ``order``
and optionally a seed ``name`` to start from; the spec's ``mode`` completes a mapping that
gives none, never a seed name. Each is checked by resolving it (:func:`resolve_algorithm`),
and each parameter value by resolving the default algorithm with it, so a negative ``factor``
is refused at its own index of the grid.

An algorithm's ``key`` is its part of a run id: its label, plus the options the label does not
show (mode and order; all given options when a seed name makes the label), so two different
algorithms never share one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gossipsim.common.errors import AlgorithmError, InvalidInput
from gossipsim.common.model.algorithms import Algorithm, Memory, resolve_algorithm
from gossipsim.common.spec.checks import check_keys, check_list, check_number, refield

__all__ = [
    "PARAMETER_KEYS",
    "PARAMETER_USERS",
    "AlgorithmEntry",
    "parse_algorithms",
    "parse_parameters",
]

PARAMETER_KEYS = ("factor", "priorPartnerFactor", "weightingParamA")
PARAMETER_USERS = {
    "factor": "it weights peer selection of the weighted_factor strategies",
    "priorPartnerFactor": "it is the prior-partner penalty of the memory variants",
    "weightingParamA": "it blends a centrality into the centrality strategies' weights",
}
"""What each parameter does, for the error that says no algorithm of a spec uses it."""
_OPTION_KEYS = ("rule", "selection", "memory", "mode", "order")
_MODE = ("mode", "order")


@dataclass(frozen=True, slots=True, kw_only=True)
class AlgorithmEntry:
    """One algorithm as submitted (``spec``, JSON-able) and as resolved (default parameters)."""

    spec: dict[str, Any]
    algorithm: Algorithm
    key: str  # its part of a run id

    @property
    def label(self) -> str:
        return self.algorithm.label

    def uses(self, parameter: str) -> bool:
        """Whether ``parameter`` changes what this algorithm does (docs/design.md, Execution
        semantics: peer selection)."""
        if parameter == "factor":
            return "WEIGHTED" in self.algorithm.selection.name
        if parameter == "priorPartnerFactor":
            return self.algorithm.memory is not Memory.NONE
        return self.algorithm.selection.centrality is not None


def parse_algorithms(raw: object, mode: str | None) -> tuple[AlgorithmEntry, ...]:
    items = check_list(raw, "algorithms", "seed names or {rule, selection, …} mappings")
    entries: list[AlgorithmEntry] = []
    for index, item in enumerate(items):
        entry = _algorithm(item, mode, f"algorithms[{index}]")
        for earlier, other in enumerate(entries):
            if other.algorithm == entry.algorithm:
                raise InvalidInput(f"repeats algorithms[{earlier}]", field=f"algorithms[{index}]")
        entries.append(entry)
    return tuple(entries)


def _algorithm(item: object, mode: str | None, path: str) -> AlgorithmEntry:
    """A seed name, or a mapping that the spec's ``mode`` completes when it gives none."""
    if isinstance(item, str):
        algorithm = _resolve(path, item, {}, name_field=path)
        return AlgorithmEntry(spec={"name": item}, algorithm=algorithm, key=algorithm.label)
    if not isinstance(item, Mapping):
        raise InvalidInput(
            f"must be a seed name or a mapping {{rule, selection, memory, mode, order, name}},"
            f" got {item!r}",
            field=path,
        )
    check_keys(item, ("name", *_OPTION_KEYS), path)
    for key, value in item.items():
        if not isinstance(value, str) or not value:
            raise InvalidInput(f"must be a non-empty string, got {value!r}", field=f"{path}.{key}")
    options = {key: item[key] for key in _OPTION_KEYS if key in item}
    if mode is not None and "mode" not in options:
        options["mode"] = mode
    name = item.get("name")
    algorithm = _resolve(path, name, options, name_field=f"{path}.name")
    spec = {"name": name} if name else {}
    spec |= {key: getattr(algorithm, key).name.lower() for key in options}
    # The label names rule, selection and memory unless a seed name stands for them.
    explicit = [spec[key] for key in _OPTION_KEYS if key in options and (name or key in _MODE)]
    return AlgorithmEntry(
        spec=spec, algorithm=algorithm, key=".".join([algorithm.label, *explicit])
    )


def _resolve(path: str, name: str | None, options: dict[str, Any], name_field: str) -> Algorithm:
    try:
        return resolve_algorithm(name, **options)
    except AlgorithmError as exc:
        where = name_field if exc.field == "algorithm" else f"{path}.{exc.field}"
        raise refield(exc, where) from exc


def parse_parameters(raw: object) -> dict[str, tuple[float, ...]]:
    if not isinstance(raw, Mapping):
        raise InvalidInput(
            f"must map {', '.join(PARAMETER_KEYS)} to a number or a list of numbers",
            field="parameters",
        )
    check_keys(raw, PARAMETER_KEYS, "parameters")
    grid: dict[str, tuple[float, ...]] = {}
    for key in PARAMETER_KEYS:
        if raw.get(key) is None:
            continue
        path = f"parameters.{key}"
        listed = isinstance(raw[key], list | tuple)
        values = check_list(raw[key], path, "numbers") if listed else [raw[key]]
        checked: list[float] = []
        for index, value in enumerate(values):
            where = f"{path}[{index}]" if listed else path
            number = check_number(value, where)
            try:
                resolve_algorithm(None, **{key: number})
            except AlgorithmError as exc:
                raise refield(exc, where) from exc
            if number in checked:
                raise InvalidInput(f"lists {value!r} twice", field=where)
            checked.append(number)
        grid[key] = tuple(checked)
    return grid
