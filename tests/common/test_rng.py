"""Counter-based draws: uniform, and a pure function of their coordinates."""

from __future__ import annotations

import numpy as np

from gossipsim.common.model.rng import STREAM_INIT, STREAM_SELECT, draw_units, round_key, run_key
from gossipsim.common.model.rng_kernels import draw_unit, shuffled_order


def test_draws_are_uniform_and_streams_independent():
    key = round_key(run_key(1, "run"), 3)
    a = draw_units(key, 200_000, STREAM_SELECT)
    b = draw_units(key, 200_000, STREAM_INIT)
    assert abs(a.mean() - 0.5) < 0.005 and abs(a.var() - 1 / 12) < 0.002
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.01
    assert np.array_equal(a, draw_units(key, 200_000, STREAM_SELECT))


def test_shuffled_order_is_a_permutation_that_changes_every_round():
    first = shuffled_order(round_key(7, 1), 1000)
    second = shuffled_order(round_key(7, 2), 1000)
    assert sorted(first.tolist()) == list(range(1000))
    assert not np.array_equal(first, second)


def test_run_keys_differ_by_seed_and_run():
    assert len({run_key(s, r) for s in range(5) for r in ("a", "b", "c")}) == 15


def test_numpy_and_numba_draws_agree_bit_for_bit():
    key = round_key(run_key(3, "x"), 5)
    units = draw_units(key, 500, STREAM_SELECT)
    assert all(units[v] == draw_unit(key, v, STREAM_SELECT) for v in range(500))
