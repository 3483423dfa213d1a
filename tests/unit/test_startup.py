"""Start-up shortcuts checked for what they must not change: the Vega-Lite schema needs no IRI
checker (which processes skip, acm_helpers.core.imports), the literal z value is scipy's, and
the fonts file vl-convert reads names no system font directory (the processes that use them are
in tests/integration/test_startup_processes.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from acm_helpers.metrics import intervals
from acm_helpers.views import vega_svg


def test_vega_lite_schema_uses_no_iri_format():
    import altair as alt

    schema = json.dumps(alt.load_schema())
    formats = {f for f in ("iri", "iri-reference") if f'"format": "{f}"' in schema}
    assert formats == set()
    assert '"format": "uri-reference"' in schema  # the formats jsonschema still checks


def test_z95_is_scipys_quantile():
    from scipy import stats

    assert intervals.Z95 == float(stats.norm.ppf(0.975))


def test_fonts_conf_names_no_system_font_directory():
    conf = Path(vega_svg.fonts_conf()).read_text()
    assert "<dir>" in conf and "/usr/share/fonts" not in conf
    dirs = [
        line.split("<dir>")[1].split("</dir>")[0] for line in conf.splitlines() if "<dir>" in line
    ]
    assert dirs and not any(Path(d).exists() for d in dirs)


def test_wilson_is_statsmodels_bit_for_bit():
    from statsmodels.stats.proportion import proportion_confint

    n = np.concatenate([np.repeat(np.arange(1, 121), np.arange(1, 121) + 1), [10**6, 10**7]])
    x = np.concatenate([np.concatenate([np.arange(k + 1) for k in range(1, 121)]), [3, 10**7]])
    for alpha in (0.05, 0.1, 0.01):
        lo, hi = intervals.wilson(x, n, alpha=alpha)
        want_lo, want_hi = proportion_confint(x, n, alpha=alpha, method="wilson")
        assert np.array_equal(lo, want_lo) and np.array_equal(hi, want_hi)
    lo, hi = intervals.wilson([0, 5, 3], [0, 4, 10])  # n 0 and x > n: no interval
    assert np.isnan(lo[:2]).all() and np.isnan(hi[:2]).all() and not np.isnan(lo[2])


def test_upper_z_is_scipys():
    from scipy import stats

    for q in (0.025, 0.05, 0.005):
        assert intervals._upper_z(q) == float(stats.norm.isf(q))


def test_median_ranks_are_scipys_binomial_quantile_for_every_exact_n():
    from scipy import stats

    n = np.arange(0, intervals.EXACT_MEDIAN_MAX_N + 1)
    want = stats.binom.ppf(0.025, n, 0.5).astype("int64")
    assert np.array_equal(intervals._binomial_half_lower(n), want)
    lo, hi = intervals.median_ranks(np.array([5, 6, 100, 20_000, 20_001, 10**6]))
    assert lo.tolist()[:4] == [0, 1, int(want[100]), int(want[20_000])]
    assert lo[4] > 0 and hi.tolist()[:2] == [0, 6]


def test_normal_sf_is_scipys_bit_for_bit():
    from scipy import stats

    rng = np.random.default_rng(7)
    z = np.concatenate(
        [rng.normal(0, 3, 5000), np.linspace(-40, 40, 801), [0.0, -0.0, np.inf, -np.inf, np.nan]]
    )
    got, want = intervals.normal_sf(z), stats.norm.sf(z)
    assert np.array_equal(got, want, equal_nan=True)
