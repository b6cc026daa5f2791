"""The statistics of `ab-report`: Welch from summaries, and CUPED from aggregates."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy import stats

from serving.ab_report import _cuped, welch


def test_welch_matches_scipy_on_raw_samples() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(1.0, 1.0, 400), rng.normal(1.2, 2.0, 300)
    diff, lo, hi, t, p = welch(a.mean(), a.var(ddof=1), len(a), b.mean(), b.var(ddof=1), len(b))
    ref = stats.ttest_ind(b, a, equal_var=False)
    assert diff == pytest.approx(b.mean() - a.mean())
    assert t == pytest.approx(ref.statistic) and p == pytest.approx(ref.pvalue)
    ci = ref.confidence_interval(0.95)
    assert (lo, hi) == (pytest.approx(ci.low), pytest.approx(ci.high))


def test_welch_small_and_constant_samples() -> None:
    assert np.isnan(welch(1.0, 0.0, 1, 2.0, 0.0, 5)[4])  # n < 2: no test
    assert welch(1.0, 0.0, 10, 1.0, 0.0, 10)[4] == 1.0  # identical constants


def _agg(x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    return {"requests": len(y), "clicks_mean": y.mean(), "clicks_var": y.var(ddof=1),
            "x_clicks_mean": x.mean(), "x_clicks_var": x.var(ddof=1),
            "xy_clicks_cov": np.cov(x, y, ddof=1)[0, 1]}


def test_cuped_equals_the_adjusted_samples_and_narrows_the_ci() -> None:
    rng = np.random.default_rng(1)
    n = 2000
    x_a, x_b = rng.normal(2, 1, n), rng.normal(2, 1, n)  # pre-period user propensity
    y_a = x_a + rng.normal(0, 0.5, n)
    y_b = x_b + 0.05 + rng.normal(0, 0.5, n)
    x, y = np.concatenate([x_a, x_b]), np.concatenate([y_a, y_b])
    theta = np.cov(x, y, ddof=1)[0, 1] / x.var(ddof=1)
    adj_a, adj_b = y_a - theta * (x_a - x.mean()), y_b - theta * (x_b - x.mean())
    cmp = _cuped("clicks_per_search", _agg(x_a, y_a), _agg(x_b, y_b), _agg(x, y), "A", "B", 0.05)
    ref = stats.ttest_ind(adj_b, adj_a, equal_var=False)
    assert cmp.cuped and cmp.diff == pytest.approx(adj_b.mean() - adj_a.mean())
    assert cmp.p == pytest.approx(ref.pvalue, rel=1e-6)
    plain = welch(y_a.mean(), y_a.var(ddof=1), n, y_b.mean(), y_b.var(ddof=1), n)
    assert cmp.ci_high - cmp.ci_low < 0.6 * (plain[2] - plain[1])  # var(Y|X) ≪ var(Y)
    assert cmp.significant and not plain[4] < 0.05
