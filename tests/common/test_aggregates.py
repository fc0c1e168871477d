"""Exact aggregates: the same bits whatever the grouping of vertices into shards."""

from __future__ import annotations

import math

import numpy as np

from gossipsim.common.model.aggregates import Aggregates
from gossipsim.node.exact_sums import aggregates_of


def test_merged_shard_aggregates_equal_the_whole_bit_for_bit():
    values = np.random.default_rng(1).normal(size=10_007) * 1e6
    whole = aggregates_of(values, values, np.ones_like(values))
    for shards in (2, 4, 7):
        merged = Aggregates.empty()
        for part in np.array_split(values, shards):
            merged = merged.merge(aggregates_of(part, part, np.ones_like(part)))
        assert merged == whole
    assert whole.total == math.fsum(values)
    assert whole.mean == math.fsum(values) / len(values)
    assert math.isclose(whole.variance, float(np.var(values)), rel_tol=1e-12)


def test_extreme_and_tiny_values_are_summed_exactly():
    values = np.array([1e150, 5e-324, -1e150, 2.5, -0.0])
    aggregates = aggregates_of(values, values, values)
    assert aggregates.total == 2.5  # 5e-324 is below half an ulp of 2.5
    assert aggregates.sum_scaled > (5 << 1127) // 2  # but it is kept exactly
