"""When a run has converged: one definition, used by node shards and by the runner."""

from __future__ import annotations

from gossipsim.common.model.aggregates import Aggregates
from gossipsim.common.model.algorithms import Rule

DEFAULT_EPSILON = 1e-6


def is_converged(rule: Rule, aggregates: Aggregates, epsilon: float = DEFAULT_EPSILON) -> bool:
    """min/max: all values equal; rumors: everyone informed; averaging: relative spread < ε.

    The relative spread is (max − min) / max(|max|, |min|); all-zero values count as converged.
    Only min and max enter, which are exact, so the answer is the same for any sharding.
    """
    if aggregates.count == 0:
        return True
    low, high = aggregates.minimum, aggregates.maximum
    if rule.is_rumor:
        return low == 1.0
    if rule.converges_exactly:
        return low == high
    scale = max(abs(low), abs(high))
    return scale == 0.0 or (high - low) <= epsilon * scale
