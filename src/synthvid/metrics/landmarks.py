"""Landmark-based measures: point error against a reference, temporal jitter, and mouth/eye opening series.

Landmarks follow the MediaPipe 478-point topology of :mod:`synthvid.face.landmarks` (468 mesh points are enough;
the iris points are not used). Only x and y enter the measures; a z column, when present, is ignored.
Distances are normalised by the inter-ocular distance (outer eye corners) so that they do not depend on face size.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from synthvid.errors import InputError
from synthvid.face.landmarks import eye_opening, inter_ocular_distance, mouth_opening
from synthvid.types import Landmarks, _describe, check_landmarks

Normalize = Literal["inter_ocular", "none"]

_MIN_POINTS = 468  # the mesh without the iris: every index the shape measures use lies below this
_MIN_IOD = 1e-6  # inter-ocular distances below this (in pixels) mean degenerate landmarks


def _check_mesh(points: Any, name: str) -> Landmarks:
    points = check_landmarks(points, name)
    if len(points) < _MIN_POINTS:
        raise InputError(f"{name} must hold MediaPipe face-mesh landmarks (at least {_MIN_POINTS} points), "
                         f"got {len(points)}")
    return points


def _check_sequence(sequence: Any, name: str, min_frames: int = 1) -> np.ndarray:
    """Return a T x N x D (D = 2 or 3) float32 landmark sequence; raise InputError on anything else."""
    if not isinstance(sequence, np.ndarray) or sequence.ndim != 3 or sequence.shape[2] not in (2, 3):
        raise InputError(f"{name} must be a T x N x 2/3 landmark sequence, got {_describe(sequence)}")
    if len(sequence) < min_frames:
        raise InputError(f"{name} needs at least {min_frames} frames, got {len(sequence)}")
    for t, frame in enumerate(sequence):
        _check_mesh(frame, f"{name}[{t}]")
    return sequence.astype(np.float32, copy=False)


def _normalizer(reference: Landmarks, normalize: str) -> float:
    """The divisor for distances measured against ``reference``: its inter-ocular distance, or 1 (pixels)."""
    if normalize == "none":
        return 1.0
    if normalize != "inter_ocular":
        raise InputError(f"normalize must be 'inter_ocular' or 'none', got {normalize!r}")
    iod = inter_ocular_distance(reference)
    if iod < _MIN_IOD:
        raise InputError(f"the reference landmarks' inter-ocular distance is {iod:.3g}: the eyes coincide")
    return iod


def landmark_distance(a: np.ndarray, b: np.ndarray, normalize: Normalize = "inter_ocular") -> float:
    """Mean Euclidean distance between corresponding points (x, y only), relative to the reference's eye distance.

    Args:
        a: landmarks under test, N x 2/3, or a T x N x 2/3 sequence.
        b: reference landmarks of the same shape (its inter-ocular distance is the normaliser).
        normalize: ``"inter_ocular"`` (divide by the inter-ocular distance of ``b``) or ``"none"`` (pixels).

    Returns:
        The mean point distance; for sequences, the mean of :func:`landmark_distance_sequence` over frames.
    """
    if isinstance(a, np.ndarray) and a.ndim == 3:
        return float(np.mean(landmark_distance_sequence(a, b, normalize)))
    a, b = _check_mesh(a, "a"), _check_mesh(b, "b")
    if a.shape[0] != b.shape[0]:
        raise InputError(f"a and b must have the same number of points, got {a.shape[0]} and {b.shape[0]}")
    scale = _normalizer(b, normalize)
    return float(np.linalg.norm(a[:, :2] - b[:, :2], axis=1).mean() / scale)


def landmark_distance_sequence(a: np.ndarray, b: np.ndarray, normalize: Normalize = "inter_ocular") -> np.ndarray:
    """Per-frame :func:`landmark_distance` of two landmark sequences.

    Args:
        a: T x N x 2/3 landmarks under test.
        b: T x N x 2/3 reference landmarks (each frame normalised by its own inter-ocular distance).
        normalize: ``"inter_ocular"`` or ``"none"``.

    Returns:
        float64 array of shape (T,).
    """
    a, b = _check_sequence(a, "a"), _check_sequence(b, "b")
    if a.shape[:2] != b.shape[:2]:
        raise InputError(f"a and b must have the same number of frames and points, got {a.shape} and {b.shape}")
    return np.array([landmark_distance(a_t, b_t, normalize) for a_t, b_t in zip(a, b)], dtype=np.float64)


def temporal_jitter(sequence: np.ndarray, normalize: Normalize = "inter_ocular") -> float:
    """High-frequency shake of a landmark track: mean size of the points' second temporal difference.

    Definition: for frames ``t = 1 .. T-2`` and points ``i``, the acceleration is
    ``acc[t, i] = p[t+1, i] - 2 p[t, i] + p[t-1, i]`` (x, y only); the jitter is the mean of ``||acc[t, i]||``
    over all ``t`` and ``i``, divided by the mean inter-ocular distance over all frames. Units are inter-ocular
    distances per frame^2, so the value depends on the frame rate: compare tracks at the same fps. A still face or
    one moving at constant velocity scores exactly 0; smooth, slow accelerations score little; independent
    per-frame noise of standard deviation ``s`` per coordinate (in IOD units) scores about ``sqrt(3 pi) s``
    (a 2-D Gaussian of variance ``6 s^2`` per axis has mean norm ``sqrt(6 s^2 * pi / 2)``).

    Args:
        sequence: T x N x 2/3 landmarks, T >= 3.
        normalize: ``"inter_ocular"`` (default) or ``"none"`` (pixels per frame^2).

    Returns:
        The jitter, >= 0.
    """
    sequence = _check_sequence(sequence, "sequence", min_frames=3)
    points = sequence[..., :2].astype(np.float64)  # T x N x 2
    acceleration = points[2:] - 2.0 * points[1:-1] + points[:-2]  # (T-2) x N x 2
    mean_acc = float(np.linalg.norm(acceleration, axis=-1).mean())
    if normalize == "none":
        return mean_acc
    if normalize != "inter_ocular":
        raise InputError(f"normalize must be 'inter_ocular' or 'none', got {normalize!r}")
    iod = float(np.mean([inter_ocular_distance(frame) for frame in sequence]))
    if iod < _MIN_IOD:
        raise InputError(f"the sequence's mean inter-ocular distance is {iod:.3g}: the eyes coincide")
    return mean_acc / iod


def opening_series(sequence: np.ndarray, kind: Literal["mouth", "eye"]) -> np.ndarray:
    """Per-frame mouth or eye opening of a landmark sequence.

    Args:
        sequence: T x N x 2/3 landmarks.
        kind: ``"mouth"`` (:func:`synthvid.face.landmarks.mouth_opening`, inner-lip gap / mouth width) or
            ``"eye"`` (:func:`synthvid.face.landmarks.eye_opening`, mean eye aspect ratio).

    Returns:
        float64 array of shape (T,).
    """
    measures = {"mouth": mouth_opening, "eye": eye_opening}
    if kind not in measures:
        raise InputError(f"kind must be 'mouth' or 'eye', got {kind!r}")
    sequence = _check_sequence(sequence, "sequence")
    return np.array([measures[kind](frame) for frame in sequence], dtype=np.float64)


def _check_series(series: Any, name: str) -> np.ndarray:
    if not isinstance(series, np.ndarray) or series.ndim != 1:
        raise InputError(f"{name} must be a 1-D array, got {_describe(series)}")
    if not (np.issubdtype(series.dtype, np.integer) or np.issubdtype(series.dtype, np.floating)):
        raise InputError(f"{name} must be numeric, got dtype {series.dtype}")
    series = series.astype(np.float64, copy=False)
    if not np.all(np.isfinite(series)):
        raise InputError(f"{name} contains NaN or infinite values")
    return series


def series_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two equally long series (e.g. driving vs. output mouth opening).

    Args:
        a, b: 1-D numeric arrays of the same length, at least 2.

    Returns:
        The correlation in [-1, 1]; ``nan`` when either series is constant (the correlation is undefined), so
        aggregate with ``np.nanmean`` or check ``math.isnan``.
    """
    a, b = _check_series(a, "a"), _check_series(b, "b")
    if len(a) != len(b):
        raise InputError(f"series must have the same length, got {len(a)} and {len(b)}")
    if len(a) < 2:
        raise InputError(f"series need at least 2 samples, got {len(a)}")
    if np.all(a == a[0]) or np.all(b == b[0]):
        return float("nan")
    da, db = a - a.mean(), b - b.mean()
    r = float(np.dot(da, db) / np.sqrt(np.dot(da, da) * np.dot(db, db)))
    return float(np.clip(r, -1.0, 1.0))
