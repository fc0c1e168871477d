"""Per-round aggregates of vertex values, exact and therefore independent of sharding.

Why exact sums: a float sum depends on the order of its terms, so shard-partial sums added
by the runner would differ in their last bits between 1, 2 or 7 shards, and results must be
bit-identical (docs/design.md, Execution semantics). Each shard instead sums its values
exactly as one big integer (every float64 is ``mantissa * 2**exponent``; mantissas are
accumulated per exponent in int64, split in two halves so they cannot overflow), the runner
adds the integers, and only the final mean and variance are rounded — once, correctly. The
shard side (numba) is :mod:`gossipsim.node.exact_sums`; this module only merges and reads, so
the runner never imports numba.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SCALE_BITS = 1127  # every finite double times 2**1127 is an integer (1074 + 53)


def scaled_to_float(scaled: int, divisor: int = 1) -> float:
    """Correctly rounded ``scaled / 2**1127 / divisor`` (Python int division rounds exactly)."""
    return scaled / (divisor << SCALE_BITS)


def int_to_bytes(value: int) -> bytes:
    """Signed big integer as bytes, for the wire."""
    return value.to_bytes((value.bit_length() + 8) // 8 or 1, "big", signed=True)


def int_from_bytes(data: bytes) -> int:
    return int.from_bytes(data, "big", signed=True) if data else 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Aggregates:
    """What one round looks like, over all vertices (or one shard's vertices).

    ``values`` are what a user watches converge: the vertex value, or for push-sum the
    estimate s/w. ``mass`` is Σ x (push-sum: Σ s) and ``weight`` Σ w, which averaging
    rules must conserve.
    """

    count: int
    sum_scaled: int
    sum_squares_scaled: int
    minimum: float
    maximum: float
    mass_scaled: int
    weight_scaled: int

    @classmethod
    def empty(cls) -> Aggregates:
        return cls(
            count=0,
            sum_scaled=0,
            sum_squares_scaled=0,
            minimum=math.inf,
            maximum=-math.inf,
            mass_scaled=0,
            weight_scaled=0,
        )

    def merge(self, other: Aggregates) -> Aggregates:
        """Combine two disjoint sets of vertices; exact, so the grouping does not matter."""
        return Aggregates(
            count=self.count + other.count,
            sum_scaled=self.sum_scaled + other.sum_scaled,
            sum_squares_scaled=self.sum_squares_scaled + other.sum_squares_scaled,
            minimum=min(self.minimum, other.minimum),
            maximum=max(self.maximum, other.maximum),
            mass_scaled=self.mass_scaled + other.mass_scaled,
            weight_scaled=self.weight_scaled + other.weight_scaled,
        )

    @property
    def mean(self) -> float:
        return scaled_to_float(self.sum_scaled, self.count) if self.count else math.nan

    @property
    def variance(self) -> float:
        """Population variance, from exact integers: (n Σv² − (Σv)²) / n²."""
        if not self.count:
            return math.nan
        n = self.count
        numerator = n * self.sum_squares_scaled * (1 << SCALE_BITS) - self.sum_scaled**2
        return max(numerator, 0) / (n * n << (2 * SCALE_BITS))

    @property
    def total(self) -> float:
        return scaled_to_float(self.sum_scaled)

    @property
    def mass(self) -> float:
        return scaled_to_float(self.mass_scaled)

    @property
    def weight(self) -> float:
        return scaled_to_float(self.weight_scaled)

    def to_dict(self) -> dict[str, float | int]:
        """The telemetry form of a round: plain floats, as written to rounds.jsonl."""
        return {
            "count": self.count,
            "mean": self.mean,
            "variance": self.variance,
            "min": self.minimum,
            "max": self.maximum,
            "sum": self.total,
            "mass": self.mass,
            "weight": self.weight,
        }
