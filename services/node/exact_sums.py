"""Exact sums of a shard's values (see :mod:`gossipsim.common.model.aggregates` for why exact).

Every float64 is ``mantissa * 2**exponent``; mantissas are accumulated per exponent in int64,
split into two 26-bit halves so they cannot overflow, then combined into one Python integer
scaled by 2**1127.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from gossipsim.common.model.aggregates import SCALE_BITS, Aggregates

_EXP_OFFSET = 1100  # frexp exponents of finite doubles lie in -1073..1024
_EXP_BUCKETS = 2130
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
        what = (
            "squares of vertex values overflow (|value| > 1e154)"
            if squares
            else ("vertex values are not finite numbers (the simulation diverged)")
        )
        raise ValueError(f"{non_finite} {what}")
    total = 0
    for bucket in np.flatnonzero(hi | lo):
        exponent = int(bucket) - _EXP_OFFSET
        mantissa_sum = (int(hi[bucket]) << _HALF_BITS) + int(lo[bucket])
        total += mantissa_sum << (exponent - 53 + SCALE_BITS)
    return total


def aggregates_of(
    values: np.ndarray, mass: np.ndarray, weight: np.ndarray | None = None
) -> Aggregates:
    """Aggregates of one shard's vertices: ``values`` watched, ``mass``/``weight`` conserved.

    ``weight=None`` means every weight is 1 (all rules but push-sum), summed without a pass.
    """
    if values.shape[0] == 0:
        return Aggregates.empty()
    total = exact_sum_scaled(values)
    return Aggregates(
        count=int(values.shape[0]),
        sum_scaled=total,
        sum_squares_scaled=exact_sum_scaled(values, squares=True),
        minimum=float(values.min()),
        maximum=float(values.max()),
        mass_scaled=total if mass is values else exact_sum_scaled(mass),
        weight_scaled=(
            values.shape[0] << SCALE_BITS if weight is None else exact_sum_scaled(weight)
        ),
    )
