"""Similarity transforms between point sets (Umeyama), in 2-D and 3-D, and affine helpers."""

from __future__ import annotations

import numpy as np

from synthvid.errors import InputError
from synthvid.types import Affine, check_affine


def umeyama(src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None,
            scale: bool = True) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares similarity ``dst ≈ s R src + t`` (Umeyama, PAMI 1991), for N x D point sets (D = 2 or 3).

    Args:
        src, dst: N x D arrays of corresponding points.
        weights: optional N non-negative weights.
        scale: estimate the scale (else s = 1).

    Returns:
        (s, R, t): scale, D x D rotation (det +1), D translation.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[0] < 2:
        raise InputError(f"umeyama needs two N x D point sets of the same shape, got {src.shape} and {dst.shape}")
    n, d = src.shape
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    mu_s, mu_d = w @ src, w @ dst
    xs, xd = src - mu_s, dst - mu_d
    cov = (xd * w[:, None]).T @ xs  # D x D
    u, sig, vt = np.linalg.svd(cov)
    sign = np.ones(d)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[-1] = -1
    rot = u @ np.diag(sign) @ vt
    var_s = float((w * (xs ** 2).sum(1)).sum())
    s = float((sig * sign).sum() / var_s) if scale and var_s > 0 else 1.0
    t = mu_d - s * rot @ mu_s
    return s, rot, t


def similarity_matrix(src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None) -> Affine:
    """2 x 3 similarity matrix mapping 2-D ``src`` points onto ``dst`` points (least squares)."""
    s, rot, t = umeyama(np.asarray(src)[:, :2], np.asarray(dst)[:, :2], weights)
    return np.hstack([s * rot, t[:, None]]).astype(np.float32)


def invert_affine(matrix: Affine) -> Affine:
    """Inverse of a 2 x 3 affine transform."""
    m = check_affine(matrix).astype(np.float64)
    inv = np.linalg.inv(np.vstack([m, [0.0, 0.0, 1.0]]))
    return inv[:2].astype(np.float32)


def compose_affine(second: Affine, first: Affine) -> Affine:
    """The affine that applies ``first`` and then ``second``."""
    a = np.vstack([np.asarray(second, np.float64), [0, 0, 1]])
    b = np.vstack([np.asarray(first, np.float64), [0, 0, 1]])
    return (a @ b)[:2].astype(np.float32)


def transform_points(points: np.ndarray, matrix: Affine) -> np.ndarray:
    """Apply a 2 x 3 affine to the x, y columns of N x D points (other columns are scaled by the affine's scale)."""
    pts = np.asarray(points, dtype=np.float32)
    m = np.asarray(matrix, dtype=np.float32)
    out = pts.copy()
    out[:, :2] = pts[:, :2] @ m[:, :2].T + m[:, 2]
    if pts.shape[1] > 2:
        out[:, 2:] = pts[:, 2:] * affine_scale(m)
    return out


def affine_scale(matrix: Affine) -> float:
    """Isotropic scale of an affine (sqrt of |det|): output pixels per input pixel."""
    m = np.asarray(matrix, dtype=np.float64)
    return float(np.sqrt(abs(np.linalg.det(m[:2, :2]))))
