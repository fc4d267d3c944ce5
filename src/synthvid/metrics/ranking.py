"""How well scores separate two classes (real vs manipulated), and how sure a small test set lets us be of it.

* :func:`roc_auc` is the area under the ROC curve: the chance that a randomly chosen positive (a fake) scores
  above a randomly chosen negative (a real), ties counting half (the Mann-Whitney statistic).
* :func:`auc_interval` is a percentile bootstrap interval of it, resampling the negatives and the positives
  separately (each with replacement). With a handful of test videos the interval is wide: one real video moves the
  AUC by 1 / (reals x fakes), and which videos happen to be in the set moves it far more.
* :func:`auc_difference_interval` compares two detectors scored on the *same* items: each bootstrap draw resamples
  the items once and recomputes both AUCs, so what the two have in common (an easy or a hard video) cancels. An
  interval that contains 0 means the test set cannot tell the two apart.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from synthvid.errors import InputError

_CHUNK = 1 << 24


def _scores(x: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(x, np.float64)
    if a.ndim != 1:
        raise InputError(f"{name} must be a 1-D sequence of scores, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise InputError(f"{name} holds a score that is not a finite number")
    return a


def _auc_rows(neg: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """AUC of every row pair: ``neg`` R x N, ``pos`` R x P -> R values (in chunks of rows: at most ~16 M
    comparisons at a time, so frame-level sets stay small in memory)."""
    rows = max(1, _CHUNK // (neg.shape[1] * pos.shape[1]))
    out = np.empty(len(neg))
    for i in range(0, len(neg), rows):
        n, p = neg[i:i + rows, None, :], pos[i:i + rows, :, None]
        out[i:i + rows] = (p > n).sum(axis=(1, 2)) + 0.5 * (p == n).sum(axis=(1, 2))
    return out / (neg.shape[1] * pos.shape[1])


def roc_auc(negatives: Sequence[float] | np.ndarray, positives: Sequence[float] | np.ndarray) -> float:
    """P(positive score > negative score), ties counting half; NaN when either set is empty."""
    n, p = _scores(negatives, "negatives"), _scores(positives, "positives")
    if not len(n) or not len(p):
        return float("nan")
    return float(_auc_rows(n[None], p[None])[0])


def _check_level(level: float, reps: int) -> None:
    if not 0.0 < level < 1.0:
        raise InputError(f"level must lie strictly between 0 and 1, got {level}")
    if reps < 100:
        raise InputError(f"reps must be at least 100, got {reps}")


def _draws(rng: np.random.Generator, n: int, reps: int) -> np.ndarray:
    return rng.integers(n, size=(reps, n))


def auc_interval(negatives: Sequence[float] | np.ndarray, positives: Sequence[float] | np.ndarray,
                 level: float = 0.9, reps: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval (``level``, e.g. 0.9 -> 5th to 95th percentile) of :func:`roc_auc`."""
    _check_level(level, reps)
    n, p = _scores(negatives, "negatives"), _scores(positives, "positives")
    if not len(n) or not len(p):
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    aucs = _auc_rows(n[_draws(rng, len(n), reps)], p[_draws(rng, len(p), reps)])
    lo, hi = np.percentile(aucs, [50 * (1 - level), 50 * (1 + level)])
    return float(lo), float(hi)


def auc_difference_interval(negatives_a: Sequence[float] | np.ndarray, positives_a: Sequence[float] | np.ndarray,
                            negatives_b: Sequence[float] | np.ndarray, positives_b: Sequence[float] | np.ndarray,
                            level: float = 0.9, reps: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """Paired bootstrap of AUC(a) - AUC(b) for two detectors scored on the same items, in the same order.

    Returns (difference on the full set, interval low, interval high)."""
    _check_level(level, reps)
    na, pa = _scores(negatives_a, "negatives_a"), _scores(positives_a, "positives_a")
    nb, pb = _scores(negatives_b, "negatives_b"), _scores(positives_b, "positives_b")
    if na.shape != nb.shape or pa.shape != pb.shape:
        raise InputError(f"a paired comparison needs both detectors' scores on the same items: negatives "
                         f"{len(na)} vs {len(nb)}, positives {len(pa)} vs {len(pb)}")
    if not len(na) or not len(pa):
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    ni, pi = _draws(rng, len(na), reps), _draws(rng, len(pa), reps)
    diff = _auc_rows(na[ni], pa[pi]) - _auc_rows(nb[ni], pb[pi])
    lo, hi = np.percentile(diff, [50 * (1 - level), 50 * (1 + level)])
    return roc_auc(na, pa) - roc_auc(nb, pb), float(lo), float(hi)
