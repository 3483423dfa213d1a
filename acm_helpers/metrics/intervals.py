"""Intervals and tests for the metrics engine, vectorized over numpy arrays.

Why these methods: counts in provider-level monthly cells are often small and rates can sit near
0% or 100%, where the textbook Wald interval misbehaves. So: Wilson score intervals for rates
(``statsmodels.stats.proportion.proportion_confint(method="wilson")``), distribution-free exact
order-statistic intervals for medians, t intervals for means, exact (Garwood) Poisson intervals
for counts, a delta-method (linearization) interval for ratios of sums, Newcombe's hybrid score
interval for differences of proportions and the Katz log interval for their ratios. Every function
takes and returns arrays, so a whole metric table is handled in one call; NaN marks "no interval".
"""

from __future__ import annotations

import numpy as np

# float(scipy.stats.norm.ppf(0.975)), written out (tests check it): scipy.stats and statsmodels
# are imported by the functions that use them, on first call, not by every process that
# imports the engine. Together they cost about 1 s of CPU to import, and most processes (a
# packet's kernel, a no-op refresh, the dashboard's kernels) never call them.
Z95 = 1.959963984540054
EXACT_MEDIAN_MAX_N = 20_000  # exact binomial ranks up to this n, normal approximation above


def _arr(x) -> np.ndarray:
    return np.asarray(x, dtype="float64")


def wilson(x, n, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval (95% by default) for ``x`` successes of ``n`` (NaN where n is 0).

    statsmodels' ``proportion_confint(x, n, alpha, method="wilson")``, operation for operation
    (tests compare them bit for bit), without importing statsmodels and scipy.stats (0.6 s of
    CPU in a process that needs nothing else of them).
    """
    x, n = _arr(x), _arr(n)
    ok = (n > 0) & (x >= 0) & (x <= n)
    lo = np.full(x.shape, np.nan)
    hi = np.full(x.shape, np.nan)
    if ok.any():
        count, nobs = x[ok], n[ok]
        crit = _upper_z(alpha / 2.0)
        crit2 = crit**2
        q_ = count / nobs
        denom = 1 + crit2 / nobs
        center = (q_ + crit2 / (2 * nobs)) / denom
        dist = crit * np.sqrt(q_ * (1.0 - q_) / nobs + crit2 / (4.0 * nobs**2))
        dist /= denom
        lo[ok] = np.clip(center - dist, 0, 1)
        hi[ok] = np.clip(center + dist, 0, 1)
    return lo, hi


# scipy.stats.norm.isf(q), the upper quantile statsmodels' Wilson interval uses, for the usual q
# (tests check it; it differs from Z95 = norm.ppf(0.975) in the last bit)
_UPPER_Z = {0.025: 1.9599639845400545}


def _upper_z(q: float) -> float:
    """The standard normal's upper ``q`` quantile, as ``scipy.stats.norm.isf(q)`` gives it."""
    if q in _UPPER_Z:
        return _UPPER_Z[q]
    from scipy import special

    return float(-special.ndtri(q))


def poisson_exact(k) -> tuple[np.ndarray, np.ndarray]:
    """Exact (Garwood) 95% interval for a Poisson count ``k``."""
    from scipy import stats

    k = _arr(k)
    lo = np.where(k > 0, stats.chi2.ppf(0.025, 2 * k) / 2, 0.0)
    hi = stats.chi2.ppf(0.975, 2 * k + 2) / 2
    return np.where(np.isnan(k), np.nan, lo), hi


def t_interval(mean, sd, n) -> tuple[np.ndarray, np.ndarray]:
    """95% t interval for a mean from its summary statistics (NaN when n < 2)."""
    from scipy import stats

    mean, sd, n = _arr(mean), _arr(sd), _arr(n)
    ok = n >= 2
    half = np.full(mean.shape, np.nan)
    half[ok] = stats.t.ppf(0.975, n[ok] - 1) * sd[ok] / np.sqrt(n[ok])
    return mean - half, mean + half


def median_ranks(n) -> tuple[np.ndarray, np.ndarray]:
    """1-based ranks (l, u) of the order statistics bounding a 95% interval for a median.

    Exact: ``l`` is the smallest k with P(Bin(n, 1/2) <= k) >= 0.025, so the interval
    [x_(l), x_(n-l+1)] covers the median with probability at least 95%. No interval (0, 0) when
    n is too small (n <= 5). Above ``EXACT_MEDIAN_MAX_N`` the normal approximation is used.
    """
    n = np.asarray(n, dtype="int64")
    small = n <= EXACT_MEDIAN_MAX_N
    lo = np.floor(n / 2 - Z95 * np.sqrt(n) / 2)
    lo[small] = _binomial_half_lower(n[small])
    lo = lo.astype("int64")
    lo = np.where(lo >= 1, lo, 0)
    hi = np.where(lo >= 1, n - lo + 1, 0)
    return lo, hi


def _binomial_half_lower(n: np.ndarray) -> np.ndarray:
    """The smallest k with P(Bin(n, 1/2) <= k) >= 0.025, for each n: ``scipy.stats.binom.ppf
    (0.025, n, 0.5)`` (tests compare every n up to ``EXACT_MEDIAN_MAX_N``), found from the
    normal approximation with scipy.special's binomial CDF, without importing scipy.stats
    (0.25 s of CPU against 0.9 s)."""
    from scipy import special

    k = np.maximum(np.floor(n / 2 - Z95 * np.sqrt(n) / 2) - 3, 0)  # at or below the answer
    while True:  # step down while the CDF at k already reaches 0.025 (never more than once)
        down = (k > 0) & (special.bdtr(k, n, 0.5) >= 0.025)
        if not down.any():
            break
        k = np.where(down, np.maximum(k - 4, 0), k)
    while True:  # then up to the first k where it does (a few steps)
        up = special.bdtr(k, n, 0.5) < 0.025
        if not up.any():
            return k
        k = np.where(up, k + 1, k)


def ratio_of_sums(n, sx, sy, sxx, syy, sxy) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Value, 95% low and high of R = sum(x) / sum(y) by the delta method (linearization).

    Var(R) ~= n * s_d^2 / (sum y)^2 with s_d^2 = sum((x_i - R y_i)^2) / (n - 1), the usual
    survey-sampling ratio estimator interval. Returns the standard error in place of the interval
    when callers need it via :func:`ratio_se`.
    """
    r, se = ratio_se(n, sx, sy, sxx, syy, sxy)
    return r, r - Z95 * se, r + Z95 * se


def ratio_se(n, sx, sy, sxx, syy, sxy) -> tuple[np.ndarray, np.ndarray]:
    """R = sum(x)/sum(y) and its delta-method standard error (NaN when undefined)."""
    n, sx, sy, sxx, syy, sxy = map(_arr, (n, sx, sy, sxx, syy, sxy))
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(sy != 0, sx / sy, np.nan)
        ss = np.maximum(sxx - 2 * r * sxy + r * r * syy, 0.0)
        sd2 = np.where(n > 1, ss / (n - 1), np.nan)
        se = np.sqrt(n * sd2) / np.abs(sy)
    return r, se


def normal_sf(z) -> np.ndarray:
    """P(Z > z) for a standard normal: ``scipy.stats.norm.sf(z)`` (tests compare them bit for
    bit), as scipy.special's ``ndtr(-z)``, without importing scipy.stats (0.25 s against 0.9 s)."""
    from scipy import special

    return special.ndtr(-_arr(z))


def two_proportion_z(x1, n1, x2, n2) -> np.ndarray:
    """Two-sided p-value of the pooled two-proportion z test (as statsmodels' proportions_ztest)."""
    x1, n1, x2, n2 = map(_arr, (x1, n1, x2, n2))
    with np.errstate(divide="ignore", invalid="ignore"):
        p = (x1 + x2) / (n1 + n2)
        se = np.sqrt(p * (1 - p) * (1 / n1 + 1 / n2))
        z = (x1 / n1 - x2 / n2) / se
        pval = 2 * normal_sf(np.abs(z))
    # identical proportions of 0% or 100% (se = 0): no evidence of a change
    return np.where((se == 0) & (x1 / n1 == x2 / n2), 1.0, pval)


def welch_p(m1, s1, n1, m2, s2, n2) -> np.ndarray:
    """Two-sided p-value of Welch's t test from summary statistics."""
    from scipy import stats

    m1, s1, n1, m2, s2, n2 = map(_arr, (m1, s1, n1, m2, s2, n2))
    with np.errstate(divide="ignore", invalid="ignore"):
        v1, v2 = s1**2 / n1, s2**2 / n2
        t = (m1 - m2) / np.sqrt(v1 + v2)
        df = (v1 + v2) ** 2 / (v1**2 / (n1 - 1) + v2**2 / (n2 - 1))
        return 2 * stats.t.sf(np.abs(t), df)


def poisson_p(k1, k2) -> np.ndarray:
    """Two-sided exact conditional test that two Poisson counts share one rate (equal exposure):
    k1 given k1 + k2 is Binomial(k1 + k2, 1/2)."""
    from scipy import stats

    k1, k2 = _arr(k1), _arr(k2)
    n = k1 + k2
    lo = stats.binom.cdf(k1, n, 0.5)
    hi = stats.binom.sf(k1 - 1, n, 0.5)
    return np.where(n > 0, np.minimum(1.0, 2 * np.minimum(lo, hi)), np.nan)


def z_p(d, se) -> np.ndarray:
    """Two-sided p-value of a difference ``d`` with standard error ``se`` (normal)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return 2 * normal_sf(np.abs(_arr(d) / _arr(se)))


def newcombe_difference(
    x1, n1, x2, n2, alpha: float = 0.05
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """p1 - p2 and its Newcombe hybrid score interval (method 10), from Wilson intervals."""
    x1, n1, x2, n2 = map(_arr, (x1, n1, x2, n2))
    l1, u1 = wilson(x1, n1, alpha)
    l2, u2 = wilson(x2, n2, alpha)
    with np.errstate(divide="ignore", invalid="ignore"):
        p1, p2 = x1 / n1, x2 / n2
    d = p1 - p2
    low = d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return d, low, high


def katz_ratio(x1, n1, x2, n2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """p1 / p2 and the Katz log 95% interval (NaN when either count is 0)."""
    x1, n1, x2, n2 = map(_arr, (x1, n1, x2, n2))
    ok = (x1 > 0) & (x2 > 0) & (n1 > 0) & (n2 > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(ok, (x1 / n1) / (x2 / n2), np.nan)
        se = np.sqrt(1 / x1 - 1 / n1 + 1 / x2 - 1 / n2)
    return r, r * np.exp(-Z95 * se), r * np.exp(Z95 * se)


def welch_difference(
    m1, s1, n1, m2, s2, n2, alpha: float = 0.05
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """m1 - m2 and its Welch t interval (95% by default)."""
    from scipy import stats

    m1, s1, n1, m2, s2, n2 = map(_arr, (m1, s1, n1, m2, s2, n2))
    with np.errstate(divide="ignore", invalid="ignore"):
        v1, v2 = s1**2 / n1, s2**2 / n2
        df = (v1 + v2) ** 2 / (v1**2 / (n1 - 1) + v2**2 / (n2 - 1))
        half = stats.t.ppf(1 - alpha / 2, df) * np.sqrt(v1 + v2)
    d = m1 - m2
    return d, d - half, d + half


def mean_ratio(m1, s1, n1, m2, s2, n2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """m1 / m2 with a delta-method interval on the log scale (NaN unless both means > 0)."""
    m1, s1, n1, m2, s2, n2 = map(_arr, (m1, s1, n1, m2, s2, n2))
    ok = (m1 > 0) & (m2 > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(ok, m1 / m2, np.nan)
        se = np.sqrt(s1**2 / (n1 * m1**2) + s2**2 / (n2 * m2**2))
    return r, r * np.exp(-Z95 * se), r * np.exp(Z95 * se)


def binomial_two_sided(k, n, p) -> np.ndarray:
    """Exact two-sided binomial p-value (doubling the smaller tail), vectorized."""
    from scipy import stats

    k, n, p = _arr(k), _arr(n), _arr(p)
    lo = stats.binom.cdf(k, n, p)
    hi = stats.binom.sf(k - 1, n, p)
    return np.where((n > 0) & (p > 0) & (p < 1), np.minimum(1.0, 2 * np.minimum(lo, hi)), np.nan)
