"""Tests for synthvid.metrics.ranking: ROC AUC and its bootstrap intervals."""

from __future__ import annotations

import numpy as np
import pytest

from synthvid.errors import InputError
from synthvid.metrics import auc_difference_interval, auc_interval, roc_auc


def test_roc_auc_known_values() -> None:
    assert roc_auc([0.1, 0.2], [0.8, 0.9]) == 1.0
    assert roc_auc([0.8, 0.9], [0.1, 0.2]) == 0.0
    assert roc_auc([0.5], [0.5]) == 0.5  # a tie counts half
    # 3 negatives x 2 positives: 0.4 beats 0.1 and 0.3 (2), 0.6 beats all three (3), 0.4 ties nothing -> 5/6
    assert roc_auc([0.1, 0.3, 0.5], [0.4, 0.6]) == pytest.approx(5 / 6)
    assert np.isnan(roc_auc([], [0.3]))


def test_roc_auc_matches_rank_statistic() -> None:
    rng = np.random.default_rng(3)
    neg, pos = rng.normal(0, 1, 40), rng.normal(0.8, 1, 30)
    ranks = np.argsort(np.argsort(np.concatenate([neg, pos]))) + 1  # no ties with continuous draws
    u = ranks[40:].sum() - 30 * 31 / 2
    assert roc_auc(neg, pos) == pytest.approx(u / (40 * 30))


def test_auc_interval_brackets_and_narrows_with_more_items() -> None:
    rng = np.random.default_rng(0)
    small = auc_interval(rng.normal(0, 1, 6), rng.normal(1, 1, 26), seed=1)
    large = auc_interval(rng.normal(0, 1, 600), rng.normal(1, 1, 600), seed=1)
    true = 0.7602  # P(N(1, 2) > 0) = Phi(1 / sqrt 2)
    assert small[0] < small[1] and large[0] < true < large[1]
    assert large[1] - large[0] < 0.5 * (small[1] - small[0])
    assert auc_interval([0.1, 0.2], [0.8, 0.9]) == (1.0, 1.0)  # perfectly separated in every resample


def test_auc_interval_is_seeded() -> None:
    neg, pos = [0.1, 0.4, 0.35, 0.2], [0.3, 0.8, 0.5]
    assert auc_interval(neg, pos, seed=5) == auc_interval(neg, pos, seed=5)


def test_paired_difference_cancels_shared_items() -> None:
    rng = np.random.default_rng(2)
    neg, pos = rng.normal(0, 1, 8), rng.normal(1, 1, 20)
    # detector b = a plus tiny noise: the paired interval is tight around 0, though each AUC alone is uncertain
    d, lo, hi = auc_difference_interval(neg, pos, neg + 1e-3 * rng.normal(size=8), pos + 1e-3 * rng.normal(size=20))
    a_lo, a_hi = auc_interval(neg, pos)
    assert lo <= d <= hi and lo <= 0.0 <= hi
    assert hi - lo < 0.2 * (a_hi - a_lo)
    # a detector that ranks every fake above every real against one that cannot separate them
    d, lo, hi = auc_difference_interval(neg, pos + 10.0, neg, np.full(20, np.median(neg)))
    assert d == pytest.approx(0.5) and lo > 0.2


def test_ranking_errors() -> None:
    with pytest.raises(InputError, match="1-D"):
        roc_auc(np.zeros((2, 2)), [1.0])
    with pytest.raises(InputError, match="finite"):
        roc_auc([0.1, float("nan")], [1.0])
    with pytest.raises(InputError, match="level"):
        auc_interval([0.1], [0.2], level=1.5)
    with pytest.raises(InputError, match="same items"):
        auc_difference_interval([0.1, 0.2], [0.5], [0.1], [0.5])
