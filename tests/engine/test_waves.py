"""Dependency waves reproduce the plain sequence's order of operations per vertex."""

from __future__ import annotations

import numpy as np

from gossipsim.runner.waves import sequential_waves


def plain_waves(initiators: np.ndarray, partners: np.ndarray, n: int) -> np.ndarray:
    last = np.full(n, -1)
    waves = []
    for i, j in zip(initiators.tolist(), partners.tolist(), strict=True):
        wave = max(last[i], last[j]) + 1
        waves.append(wave)
        last[i] = last[j] = wave
    return np.array(waves)


def test_waves_match_the_sequential_recurrence_and_are_disjoint():
    rng = np.random.default_rng(3)
    for n in (2, 10, 500, 5000):
        initiators = rng.permutation(n)
        partners = (initiators + 1 + rng.integers(0, n - 1, n)) % n
        waves = sequential_waves(initiators, partners)
        assert np.array_equal(waves, plain_waves(initiators, partners, n))
        for wave in np.unique(waves):
            touched = np.concatenate([initiators[waves == wave], partners[waves == wave]])
            assert len(np.unique(touched)) == len(touched)
