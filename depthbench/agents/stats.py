"""95% confidence intervals for benchmark metrics: Wilson for success rates, bootstrap for bounded means (SPL).

scipy has no Wilson interval for a plain proportion and its `bootstrap` is slow for many small calls, so both are
written out here (a few lines each, formulas cited).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats

Z95 = 1.959963984540054  # standard normal 97.5% quantile


def wilson_interval(successes: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (Wilson 1927; Brown, Cai & DasGupta 2001, eq. 4)."""
    if n <= 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def bootstrap_mean_interval(
    values: Sequence[float], *, resamples: int = 2000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean (Efron & Tibshirani 1993, ch. 13); deterministic given `seed`."""
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        return (float("nan"), float("nan"))
    if data.size == 1 or np.all(data == data[0]):
        return (float(data[0]), float(data[0]))
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)
    alpha = (1.0 - level) / 2
    return (float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha)))


def t_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """Student-t interval of the mean, used across seeds (few samples, roughly normal seed means)."""
    data = np.asarray(values, dtype=np.float64)
    if data.size < 2:
        value = float(data[0]) if data.size else float("nan")
        return (value, value)
    half = stats.t.ppf(0.5 + level / 2, df=data.size - 1) * data.std(ddof=1) / math.sqrt(data.size)
    return (float(data.mean() - half), float(data.mean() + half))


# Per-episode 0/1 outcomes of the task contract: proportions, so they get Wilson intervals. Everything else (SPL,
# Soft-SPL, distances, counts) is a bounded or unbounded mean and gets a bootstrap interval, even when all values are 0.
INDICATOR_METRICS = frozenset({"success", "dropped", "collision_failure", "timeout"})


def summarize(values: Sequence[float], *, indicator: bool, seed: int = 0) -> dict[str, object]:
    """Mean, 95% CI and method for one metric over episodes: Wilson for 0/1 indicators, bootstrap otherwise."""
    data = [float(v) for v in values]
    n = len(data)
    mean = sum(data) / n if n else float("nan")
    if indicator:
        if any(v not in (0.0, 1.0) for v in data):
            raise ValueError("an indicator metric must be 0 or 1 in every episode")
        lo, hi = wilson_interval(sum(data), n)
        method = "wilson"
    else:
        lo, hi = bootstrap_mean_interval(data, seed=seed)
        method = "bootstrap"
    return {"mean": mean, "ci95": [lo, hi], "n": n, "method": method}


def ratio_interval(
    numerator: Sequence[float], denominator: Sequence[float], *, resamples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """Bootstrap interval of mean(numerator) / mean(denominator), resampling both samples independently.

    Used for success normalized to the teacher (student SR / teacher SR) and the robustness drop.
    """
    num = np.asarray(numerator, dtype=np.float64)
    den = np.asarray(denominator, dtype=np.float64)
    if num.size == 0 or den.size == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    num_means = num[rng.integers(0, num.size, size=(resamples, num.size))].mean(axis=1)
    den_means = den[rng.integers(0, den.size, size=(resamples, den.size))].mean(axis=1)
    valid = den_means > 0
    if not valid.any():
        return (float("nan"), float("nan"))
    ratios = num_means[valid] / den_means[valid]
    return (float(np.quantile(ratios, 0.025)), float(np.quantile(ratios, 0.975)))


def difference_interval(successes_a: float, n_a: int, successes_b: float, n_b: int) -> tuple[float, float]:
    """95% interval of p_a - p_b for two proportions: Newcombe's hybrid score interval from the two Wilson intervals
    (Newcombe 1998, method 10), via statsmodels. Used for the robustness drop SR_clean - SR_noisy; it treats the two
    samples as independent, which is conservative when both evaluations ran the same episodes."""
    from statsmodels.stats.proportion import confint_proportions_2indep

    low, high = confint_proportions_2indep(successes_a, n_a, successes_b, n_b, method="newcomb", compare="diff")
    return (float(low), float(high))
