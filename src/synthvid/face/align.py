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
from synthvid.face.geometry import affine_scale, compose_affine, similarity_matrix
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
    edges), so the frame is first reduced with area averaging and the matrix adjusted.
    """
    check_frame(frame)
    m = np.asarray(matrix, dtype=np.float32)
    scale = affine_scale(m)
    if scale < 0.5:
        # Area-resize only the region the crop reads from (bounded cost for large frames).
        inv = cv2.invertAffineTransform(m)
        corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], dtype=np.float32)
        src = corners @ inv[:, :2].T + inv[:, 2]
        h, w = frame.shape[:2]
        x0, y0 = np.clip(np.floor(src.min(0)).astype(int) - 2, 0, [w, h])
        x1, y1 = np.clip(np.ceil(src.max(0)).astype(int) + 2, 0, [w, h])
        if x1 - x0 >= 2 and y1 - y0 >= 2:
            f = scale * 1.5  # keep a little above the target resolution for the final bilinear step
            region = frame[y0:y1, x0:x1]
            small = cv2.resize(region, (max(2, round((x1 - x0) * f)), max(2, round((y1 - y0) * f))),
                               interpolation=cv2.INTER_AREA)
            fx, fy = small.shape[1] / (x1 - x0), small.shape[0] / (y1 - y0)
            to_small = np.array([[fx, 0, -x0 * fx], [0, fy, -y0 * fy]], dtype=np.float32)
            m = compose_affine(m, np.linalg.inv(np.vstack([to_small, [0, 0, 1]]))[:2].astype(np.float32))
            frame = small
    return cv2.warpAffine(frame, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)


def align_face(frame: Frame, points: Landmarks, size: int, coverage: float) -> tuple[Frame, Affine]:
    """Aligned crop and its frame -> crop matrix."""
    matrix = alignment_matrix(points, size, coverage)
    return warp_face(frame, matrix, size), matrix
