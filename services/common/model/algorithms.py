"""What an algorithm is: an exchange rule × a peer-selection strategy × parameters.

The seed simulator named whole combinations (``weighted_factor_complex_memory``); gossipsim
keeps those names as aliases (:func:`resolve_algorithm`) so its resources run unchanged, and
lets a user combine any rule with any strategy otherwise.
"""

from __future__ import annotations

import difflib
import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gossipsim.common.errors import AlgorithmError


class Rule(enum.IntEnum):
    """How two vertices combine their values when they meet. Values are the wire codes."""

    MIN = 1
    MAX = 2
    AVERAGE = 3
    PUSH_SUM = 4
    RUMOR_PUSH = 5
    RUMOR_PULL = 6
    RUMOR_PUSH_PULL = 7

    @property
    def is_rumor(self) -> bool:
        return self in (Rule.RUMOR_PUSH, Rule.RUMOR_PULL, Rule.RUMOR_PUSH_PULL)

    @property
    def converges_exactly(self) -> bool:
        """min/max and rumors reach all-equal; averaging only gets within a tolerance."""
        return self not in (Rule.AVERAGE, Rule.PUSH_SUM)


class Selection(enum.IntEnum):
    """How an initiating vertex picks the neighbour it contacts."""

    UNIFORM = 1
    WEIGHTED_FACTOR = 2
    COMMUNITY_PROBABILITIES = 3
    COMMUNITY_BASED = 4
    BETWEENNESS_WEIGHTED = 5
    BETWEENNESS_COMMUNITY_PROBABILITIES = 6
    EIGENVECTOR_WEIGHTED = 7
    EIGENVECTOR_COMMUNITY_PROBABILITIES = 8
    HUB_SCORE_WEIGHTED = 9
    HUB_SCORE_COMMUNITY_PROBABILITIES = 10

    @property
    def centrality(self) -> str | None:
        """The networkx centrality a strategy blends in, if any."""
        for prefix in ("betweenness", "eigenvector", "hub_score"):
            if self.name.lower().startswith(prefix):
                return prefix
        return None

    @property
    def needs_communities(self) -> bool:
        return self is not Selection.UNIFORM


class Memory(enum.IntEnum):
    """Prior-partner penalty (docs/design.md, Execution semantics)."""

    NONE = 0
    MEMORY = 1  # multiply a partner's weight once, the first time it is contacted
    COMPLEX = 2  # multiply on every contact; restore all weights when the value changes


class Mode(enum.IntEnum):
    SEQUENTIAL = 1  # one exchange at a time, applied at once (the seed's and PeerSim's model)
    SYNCHRONOUS = 2  # all exchanges of a round from the round-start snapshot


class Order(enum.IntEnum):
    """Initiation order of a sequential round."""

    FIXED = 1  # ascending vertex id, every round (the seed simulator)
    SHUFFLED = 2  # a fresh random permutation every round (PeerSim's default)


_SEED_SELECTIONS = {
    "default": Selection.UNIFORM,
    "weighted_factor": Selection.WEIGHTED_FACTOR,
    "community_probabilities": Selection.COMMUNITY_PROBABILITIES,
    "community_based": Selection.COMMUNITY_BASED,
    "betweenness_weighted": Selection.BETWEENNESS_WEIGHTED,
    "betweenness_community_probabilities": Selection.BETWEENNESS_COMMUNITY_PROBABILITIES,
    "eigenvector_weighted": Selection.EIGENVECTOR_WEIGHTED,
    "eigenvector_community_probabilities": Selection.EIGENVECTOR_COMMUNITY_PROBABILITIES,
    "hub_score_weighted": Selection.HUB_SCORE_WEIGHTED,
    "hub_score_community_probabilities": Selection.HUB_SCORE_COMMUNITY_PROBABILITIES,
}
_MEMORY_SUFFIXES = {"_complex_memory": Memory.COMPLEX, "_memory": Memory.MEMORY}

MAX_ROUNDS_LIMIT = 1_000_000


@dataclass(frozen=True, slots=True, kw_only=True)
class Algorithm:
    """One fully specified algorithm; validated on construction.

    ``factor``: weight of neighbours outside the own community (weighted_factor strategies).
    ``prior_partner_factor``: the memory penalty. ``weighting_param_a``: the share ``a`` of the
    base weights when blending in a centrality (b = 1 − a).
    """

    rule: Rule = Rule.MIN
    selection: Selection = Selection.UNIFORM
    memory: Memory = Memory.NONE
    mode: Mode = Mode.SEQUENTIAL
    order: Order = Order.SHUFFLED
    factor: float = 1.0
    prior_partner_factor: float = 0.5
    weighting_param_a: float = 0.5
    name: str = field(default="")

    def __post_init__(self) -> None:
        if not math.isfinite(self.factor) or self.factor < 0:
            raise AlgorithmError(f"must be a finite number >= 0, got {self.factor}", field="factor")
        if not math.isfinite(self.prior_partner_factor) or self.prior_partner_factor < 0:
            raise AlgorithmError(
                f"must be a finite number >= 0, got {self.prior_partner_factor}",
                field="priorPartnerFactor",
            )
        if not 0.0 <= self.weighting_param_a <= 1.0:
            raise AlgorithmError(
                f"must lie in [0, 1], got {self.weighting_param_a}", field="weightingParamA"
            )

    @property
    def label(self) -> str:
        """The name results are grouped by: the seed alias if there is one."""
        if self.name:
            return self.name
        memory = {Memory.NONE: "", Memory.MEMORY: "_memory", Memory.COMPLEX: "_complex_memory"}
        return f"{self.rule.name.lower()}/{self.selection.name.lower()}{memory[self.memory]}"


def seed_algorithm_names() -> list[str]:
    """Every algorithm name the seed simulator accepted."""
    names = []
    for base in _SEED_SELECTIONS:
        names.append(base)
        if base != "community_based":
            names.extend(base + suffix for suffix in ("_memory", "_complex_memory"))
    return names


def parse_seed_name(name: str) -> tuple[Selection, Memory]:
    """Split a seed algorithm name into its strategy and memory variant."""
    for suffix, memory in _MEMORY_SUFFIXES.items():
        if name.endswith(suffix) and name[: -len(suffix)] in _SEED_SELECTIONS:
            return _SEED_SELECTIONS[name[: -len(suffix)]], memory
    if name in _SEED_SELECTIONS:
        return _SEED_SELECTIONS[name], Memory.NONE
    close = difflib.get_close_matches(name, seed_algorithm_names(), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    bases = ", ".join(_SEED_SELECTIONS)
    raise AlgorithmError(
        f"unknown algorithm {name!r}; {hint}seed names are one of {bases}, optionally "
        "followed by _memory or _complex_memory (not community_based); or give a mapping "
        "{rule, selection, memory, mode, order}",
        field="algorithm",
    )


def _enum_value(enum_type: type[enum.IntEnum], value: Any, field_name: str) -> Any:
    if isinstance(value, enum_type):
        return value
    try:
        return enum_type[str(value).upper()]
    except KeyError:
        known = ", ".join(member.name.lower() for member in enum_type)
        raise AlgorithmError(
            f"unknown value {value!r}; expected one of: {known}", field=field_name
        ) from None


def _number(params: Mapping[str, Any], key: str, default: float) -> float:
    value = params.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AlgorithmError(f"must be a number, got {value!r}", field=key)
    return float(value)


def resolve_algorithm(name: str | None = None, **options: Any) -> Algorithm:
    """Build an :class:`Algorithm` from a seed name and/or explicit options.

    A seed name (``default``, ``weighted_factor_complex_memory`` …) means the seed's
    semantics: the ``min`` rule, sequential mode, fixed order. Explicit ``rule``,
    ``selection``, ``memory``, ``mode`` and ``order`` options override it.
    """
    if name:
        selection, memory = parse_seed_name(name)
        base: dict[str, Any] = {
            "rule": Rule.MIN,
            "selection": selection,
            "memory": memory,
            "mode": Mode.SEQUENTIAL,
            "order": Order.FIXED,
        }
    else:
        base = {}
    for key, enum_type in (
        ("rule", Rule),
        ("selection", Selection),
        ("memory", Memory),
        ("mode", Mode),
        ("order", Order),
    ):
        if key in options:
            base[key] = _enum_value(enum_type, options[key], key)
    unknown = set(options) - {
        "rule",
        "selection",
        "memory",
        "mode",
        "order",
        "factor",
        "priorPartnerFactor",
        "weightingParamA",
    }
    if unknown:
        raise AlgorithmError(f"unknown option(s): {', '.join(sorted(unknown))}", field="algorithm")
    return Algorithm(
        **base,
        factor=_number(options, "factor", 1.0),
        prior_partner_factor=_number(options, "priorPartnerFactor", 0.5),
        weighting_param_a=_number(options, "weightingParamA", 0.5),
        name=name or "",
    )
