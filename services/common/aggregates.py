"""Per-round aggregates of vertex values, exact and therefore independent of sharding.

Why exact sums: a float sum depends on the order of its terms, so shard-partial sums added
by the runner would differ in their last bits between 1, 2 or 7 shards, and DESIGN §4 wants
bit-identical results. Each shard instead sums its values exactly as one big integer
(every float64 is ``mantissa * 2**exponent``; mantissas are accumulated per exponent in int64,
split in two halves so they cannot overflow), the runner adds the integers, and only the
final mean and variance are rounded — once, correctly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

_EXP_OFFSET = 1100  # frexp exponents of finite doubles lie in -1073..1024
_EXP_BUCKETS = 2130
_SCALE_BITS = 1127  # every finite double times 2**1127 is an integer (1074 + 53)
_HALF_BITS = 26
_HALF_MASK = (1 << _HALF_BITS) - 1


@njit(cache=True)
def _exponent_buckets(values: np.ndarray, squares: bool) -> tuple[np.ndarray, np.ndarray, int]:
    hi = np.zeros(_EXP_BUCKETS, dtype=np.int64)
    lo = np.zeros(_EXP_BUCKETS, dtype=np.int64)
    non_finite = 0
    for k in range(values.shape[0]):
        v = values[k] * values[k] if squares else values[k]
        if not math.isfinite(v):
            non_finite += 1
            continue
        if v == 0.0:
            continue
        m, e = math.frexp(v)
        mant = np.int64(m * 9007199254740992.0)  # exact: |m| < 1 has 53 significant bits
        hi[e + _EXP_OFFSET] += mant >> _HALF_BITS
        lo[e + _EXP_OFFSET] += mant & _HALF_MASK
    return hi, lo, non_finite


def exact_sum_scaled(values: np.ndarray, *, squares: bool = False) -> int:
    """Σ values (or Σ values²) times 2**1127, as an exact Python integer.

    Raises ValueError on a NaN or infinity, which means the simulation diverged.
    """
    if values.shape[0] == 0:
        return 0
    hi, lo, non_finite = _exponent_buckets(np.ascontiguousarray(values, dtype=np.float64), squares)
    if non_finite:
        raise ValueError(f"{non_finite} vertex values are not finite numbers")
    total = 0
    for bucket in np.flatnonzero(hi | lo):
        exponent = int(bucket) - _EXP_OFFSET
        mantissa_sum = (int(hi[bucket]) << _HALF_BITS) + int(lo[bucket])
        total += mantissa_sum << (exponent - 53 + _SCALE_BITS)
    return total


def scaled_to_float(scaled: int, divisor: int = 1) -> float:
    """Correctly rounded ``scaled / 2**1127 / divisor`` (Python int division rounds exactly)."""
    return scaled / (divisor << _SCALE_BITS)


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
    def of(cls, values: np.ndarray, mass: np.ndarray, weight: np.ndarray) -> Aggregates:
        if values.shape[0] == 0:
            return cls.empty()
        return cls(
            count=int(values.shape[0]),
            sum_scaled=exact_sum_scaled(values),
            sum_squares_scaled=exact_sum_scaled(values, squares=True),
            minimum=float(values.min()),
            maximum=float(values.max()),
            mass_scaled=exact_sum_scaled(mass),
            weight_scaled=exact_sum_scaled(weight),
        )

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
        numerator = n * self.sum_squares_scaled * (1 << _SCALE_BITS) - self.sum_scaled**2
        return max(numerator, 0) / (n * n << (2 * _SCALE_BITS))

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
