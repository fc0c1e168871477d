"""Rounds to convergence summarised per configuration, honestly.

A run stopped by ``max_rounds`` before it converged did not take ``max_rounds`` rounds to
converge: averaging it in reports the cap as a result. So the mean, median, standard deviation
and 95% confidence interval are over converged runs only, beside how many converged; the mean
over every completed run is kept apart (``mean_rounds_all``) for those who want it.

The interval is Student's t for the mean, ``mean ± t(0.975, n-1) · s / √n`` with the sample
standard deviation ``s`` (scipy's quantile).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import scipy.stats


@dataclass(frozen=True, slots=True)
class RoundStatistics:
    """Rounds to convergence of one configuration's converged runs (NaN where undefined)."""

    converged: int
    mean: float
    median: float
    std: float  # sample standard deviation (n - 1)
    ci95_low: float
    ci95_high: float

    @classmethod
    def of(cls, rounds: Sequence[int]) -> RoundStatistics:
        """``rounds``: of the converged runs only."""
        n = len(rounds)
        if n == 0:
            return cls(0, math.nan, math.nan, math.nan, math.nan, math.nan)
        mean = statistics.fmean(rounds)
        median = float(statistics.median(rounds))
        if n == 1:
            return cls(1, mean, median, math.nan, math.nan, math.nan)
        std = statistics.stdev(rounds)
        half = float(scipy.stats.t.ppf(0.975, n - 1)) * std / math.sqrt(n)
        return cls(n, mean, median, std, mean - half, mean + half)
