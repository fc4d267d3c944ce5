"""Mouth and jaw shape in the pose-free (frontal) face, and its PCA.

The shape is the (x, y) of the 40 lip points and the 19 lower face-outline points of the frontal landmarks
(canonical units: head pose and size are already removed). Speakers differ in where their mouth sits, so shapes
are compared as offsets from the speaker's own mean shape.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from synthvid.face import landmarks as L

JAW = (323, 361, 288, 397, 365, 379, 378, 400, 377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93)
POINTS = tuple(L.LIPS_OUTER) + tuple(L.LIPS_INNER) + JAW
LIP_COUNT = len(L.LIPS_OUTER) + len(L.LIPS_INNER)
# positions inside POINTS of the points used for mouth opening and width
_INNER_TOP = [POINTS.index(i) for i in (82, 13, 312)]
_INNER_BOTTOM = [POINTS.index(i) for i in (87, 14, 317)]
_CORNERS = [POINTS.index(L.MOUTH_RIGHT), POINTS.index(L.MOUTH_LEFT)]


def mouth_shape(frontal: np.ndarray) -> np.ndarray:
    """(..., 59, 2) lip and jaw points of frontal landmarks (..., 478, 2 or 3)."""
    return np.asarray(frontal)[..., list(POINTS), :2].astype(np.float32)


def opening(shape: np.ndarray) -> np.ndarray:
    """Inner-lip gap over mouth width for (..., 59, 2) shapes."""
    s = np.asarray(shape)
    gap = np.linalg.norm(s[..., _INNER_TOP, :] - s[..., _INNER_BOTTOM, :], axis=-1).mean(-1)
    return gap / np.maximum(width(s), 1e-6)


def width(shape: np.ndarray) -> np.ndarray:
    s = np.asarray(shape)
    return np.linalg.norm(s[..., _CORNERS[0], :] - s[..., _CORNERS[1], :], axis=-1)


def signed_opening(shape: np.ndarray) -> np.ndarray:
    """Like :func:`opening`, but the inner lips' vertical gap with its sign (negative: the lips overlap), so that
    it changes linearly when a shape moves along a fixed direction."""
    s = np.asarray(shape)
    gap = (s[..., _INNER_BOTTOM, 1] - s[..., _INNER_TOP, 1]).mean(-1)
    return gap / np.maximum(width(s), 1e-6)


MIN_REFERENCE = 20  # frames of the target's own mouths needed to take its opening range from them
RANGE = (0.01, 0.99)  # quantiles of the target's openings used: a mis-tracked frame does not set the limits
BANDWIDTH = 0.25  # smoothing of the predicted openings' distribution, x their standard deviation
MIN_SPREAD = 0.05  # a target whose openings span less than this (1st-99th percentile) shows no speaking range


def _smooth_cdf(values: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Kernel-smoothed empirical CDF of ``values`` evaluated at ``at``: equal values get equal ranks, and a near-
    constant stretch (a pause, a held vowel) stays near constant instead of being spread over the ranks."""
    from scipy.special import ndtr  # noqa: PLC0415

    v = np.sort(np.asarray(values, np.float64))
    h = max(BANDWIDTH * float(v.std()), 1e-6)
    grid = np.linspace(v[0] - 4 * h, v[-1] + 4 * h, 512)
    # the CDF on a grid (512 x N sums), then interpolated: utterances of any length cost the same per frame
    step = max(len(v) // 4096, 1)
    sample = v[::step]
    cdf = ndtr((grid[:, None] - sample[None, :]) / h).mean(1)
    return np.interp(at, grid, cdf)


def match_opening(shapes: np.ndarray, reference: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """``shapes`` (T, 59, 2) moved so that their mouth openings have the range of ``reference`` (the target's own
    tracked mouths, N x 59 x 2), keeping their order in time.

    A speech filter regresses to the mean: its mouths hover half open and never close, where a real speaker's
    lips meet in pauses and on p, b and m (8-19% of the frames of the benchmark's four clips). Each predicted
    opening is replaced by the reference's opening at the same quantile, and the shape is moved along the target's
    own opening direction (the least-squares change of its 59 points per unit of opening) by exactly as much: lips,
    jaw and chin together, as the target moves them.

    The quantile of a predicted opening is read from ``predicted`` (M x 59 x 2: what the same model predicts for
    the target's own footage, from its own sound), which makes the mapping one fixed monotone curve per target,
    through a smoothed distribution, so equal openings map to equal ones. Returned unchanged when the reference
    or ``predicted`` is too short, or the reference's mouth hardly moves (a target that does not speak).
    """
    s = np.asarray(shapes, np.float32)
    ref = np.asarray(reference, np.float64)
    if len(s) == 0 or len(ref) < MIN_REFERENCE or len(predicted) < MIN_REFERENCE:
        return s
    o_ref = signed_opening(ref)
    centred = o_ref - o_ref.mean()
    lo, hi = np.quantile(o_ref, RANGE)
    if float(centred @ centred) < 1e-8 or hi - lo < MIN_SPREAD:
        return s
    direction = (centred @ (ref - ref.mean(0)).reshape(len(ref), -1) / float(centred @ centred)).reshape(len(POINTS), 2)
    per_unit = float((direction[_INNER_BOTTOM, 1] - direction[_INNER_TOP, 1]).mean())  # gap change per unit step
    if abs(per_unit) < 1e-6:
        return s
    o = signed_opening(s).astype(np.float64)
    q = np.clip(_smooth_cdf(signed_opening(np.asarray(predicted)), o), *RANGE)
    wanted = np.maximum(np.quantile(o_ref, q), 0.0)  # never past closed: the lips do not cross
    step = (wanted - o) * width(s) / per_unit
    return (s + step[:, None, None] * direction[None]).astype(np.float32)


def landmark_distance(pred: np.ndarray, real: np.ndarray, lips_only: bool = True) -> float:
    """Mean point distance between (T, 59, 2) shapes, normalised by the real mouth width (LMD)."""
    n = LIP_COUNT if lips_only else len(POINTS)
    d = np.linalg.norm(np.asarray(pred)[:, :n] - np.asarray(real)[:, :n], axis=-1).mean(-1)
    return float(np.mean(d / np.maximum(width(real), 1e-6)))


@dataclasses.dataclass(frozen=True)
class ShapePCA:
    """Principal components of shape offsets; coefficients are scaled to unit variance."""

    mean: np.ndarray  # (118,)
    components: np.ndarray  # (K, 118), orthonormal rows
    sd: np.ndarray  # (K,)

    @classmethod
    def fit(cls, offsets: np.ndarray, k: int, mean: np.ndarray | None = None) -> ShapePCA:
        x = np.asarray(offsets, np.float64).reshape(len(offsets), -1)
        mu = x.mean(0) if mean is None else np.asarray(mean, np.float64).reshape(-1)
        _, s, vt = np.linalg.svd(x - mu, full_matrices=False)
        k = min(k, len(s))
        sd = np.maximum(s[:k] / np.sqrt(max(len(x) - 1, 1)), 1e-6)
        return cls(mu.astype(np.float32), vt[:k].astype(np.float32), sd.astype(np.float32))

    @property
    def k(self) -> int:
        return len(self.sd)

    def encode(self, shapes: np.ndarray) -> np.ndarray:
        x = np.asarray(shapes, np.float32).reshape(len(shapes), -1)
        return ((x - self.mean) @ self.components.T) / self.sd

    def decode(self, coefs: np.ndarray) -> np.ndarray:
        c = np.asarray(coefs, np.float32)
        return ((c * self.sd) @ self.components + self.mean).reshape(len(c), len(POINTS), 2)

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}_mean": self.mean, f"{prefix}_components": self.components, f"{prefix}_sd": self.sd}

    @classmethod
    def from_arrays(cls, d: dict[str, np.ndarray], prefix: str) -> ShapePCA:
        return cls(*(np.asarray(d[f"{prefix}_{n}"], np.float32) for n in ("mean", "components", "sd")))
