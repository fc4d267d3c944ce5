"""Alignment: a similarity transform of the stable landmarks onto the canonical face, giving square crops at any
resolution, and the inverse to paste back.

The crop geometry is set by ``coverage``: the fraction of the crop's side spanned by the canonical face outline
(forehead top to chin), centred on the outline. Smaller coverage = more context around the face.
"""

from __future__ import annotations

import cv2
import numpy as np

from synthvid.errors import InputError
from synthvid.face import landmarks as L
from synthvid.face.canonical import canonical_face
from synthvid.face.geometry import affine_scale, compose_affine, invert_affine, similarity_matrix
from synthvid.types import Affine, Frame, Landmarks, check_frame, check_landmarks


def _outline_box() -> tuple[np.ndarray, float]:
    oval = canonical_face()[list(L.FACE_OVAL), :2]
    lo, hi = oval.min(0), oval.max(0)
    return (lo + hi) / 2, float((hi - lo).max())


def template_points(size: int, coverage: float) -> np.ndarray:
    """Where the stable canonical points lie in a ``size`` x ``size`` crop: len(STABLE) x 2 pixels."""
    if size < 8 or not 0.05 <= coverage <= 1.5:
        raise InputError(f"crop size must be >= 8 and coverage in [0.05, 1.5], got {size} and {coverage}")
    centre, extent = _outline_box()
    scale = coverage * size / extent
    return (canonical_face()[list(L.STABLE), :2] - centre) * scale + size / 2


def alignment_matrix(points: Landmarks, size: int, coverage: float) -> Affine:
    """The 2 x 3 frame -> crop similarity putting the face's stable landmarks on the canonical template."""
    pts = check_landmarks(points)
    if len(pts) < L.NUM_LANDMARKS - 10:
        raise InputError(f"alignment needs the 478 MediaPipe landmarks, got {len(pts)}")
    return similarity_matrix(pts[list(L.STABLE), :2], template_points(size, coverage))


def rescale_crop_matrix(matrix: Affine, size: int, coverage: float, new_size: int, new_coverage: float) -> Affine:
    """Turn a crop matrix made for (size, coverage) into the one for (new_size, new_coverage), same centre."""
    k = (new_size * new_coverage) / (size * coverage)
    shift = np.array([[k, 0, new_size / 2 - k * size / 2], [0, k, new_size / 2 - k * size / 2]], dtype=np.float32)
    return compose_affine(shift, matrix)


def warp_face(frame: Frame, matrix: Affine, size: int) -> Frame:
    """The ``size`` x ``size`` crop of ``frame`` under ``matrix`` (frame -> crop), anti-aliased when shrinking.

    Shrinking a large face by more than 2x with a plain bilinear warp aliases (sparkling skin, stair-stepped
    edges), so the region the crop reads is first halved with Gaussian pyramid steps (cheap, filtered) until the
    remaining reduction is at most 2x, and the matrix adjusted.
    """
    check_frame(frame)
    m = np.asarray(matrix, dtype=np.float32)
    scale = affine_scale(m)
    if scale < 0.5:
        # Only the region the crop reads from is reduced (bounded cost for large frames).
        inv = cv2.invertAffineTransform(m)
        corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], dtype=np.float32)
        src = corners @ inv[:, :2].T + inv[:, 2]
        h, w = frame.shape[:2]
        x0, y0 = np.clip(np.floor(src.min(0)).astype(int) - 4, 0, [w, h])
        x1, y1 = np.clip(np.ceil(src.max(0)).astype(int) + 4, 0, [w, h])
        if x1 - x0 >= 4 and y1 - y0 >= 4:
            region = frame[y0:y1, x0:x1]
            halvings = 0
            while scale * 2 ** halvings < 0.5 and min(region.shape[:2]) >= 8:
                region = cv2.pyrDown(region)
                halvings += 1
            # pyrDown maps pixel centre x to (x - 0.5) / 2 - 0.5 + 0.5 = x / 2 (OpenCV keeps corners aligned
            # as ceil(n/2) samples): frame (x0 + u) -> region u / 2**halvings.
            k = 1.0 / 2 ** halvings
            to_region = np.array([[k, 0, -x0 * k], [0, k, -y0 * k]], dtype=np.float32)
            m = compose_affine(m, invert_affine(to_region))
            frame = region
    return cv2.warpAffine(frame, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)


def align_face(frame: Frame, points: Landmarks, size: int, coverage: float) -> tuple[Frame, Affine]:
    """Aligned crop and its frame -> crop matrix."""
    matrix = alignment_matrix(points, size, coverage)
    return warp_face(frame, matrix, size), matrix
