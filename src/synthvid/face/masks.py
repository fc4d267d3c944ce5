"""Masks from landmarks: the face hull, face components, and per-pixel loss weights.

(Feathering lives with blending: :func:`synthvid.composite.blend.feather_mask`.)
"""

from __future__ import annotations

import cv2
import numpy as np

from synthvid.errors import InputError
from synthvid.face import landmarks as L
from synthvid.types import Landmarks, Mask, check_landmarks


def polygon_mask(points: np.ndarray, shape: tuple[int, int], convex: bool = True) -> Mask:
    """Filled polygon (its convex hull when ``convex``) of N x 2 pixel points, float32 H x W in {0, 1}.

    Drawn at 4x sub-pixel precision so small crops get accurate edges.
    """
    h, w = shape
    pts = np.ascontiguousarray(np.asarray(points)[:, :2], dtype=np.float32)
    if convex:
        pts = cv2.convexHull(pts).reshape(-1, 2)
    mask = np.zeros((h, w), dtype=np.uint8)
    if len(pts) >= 3:
        cv2.fillPoly(mask, [np.round(pts * 4).astype(np.int32)], 255, lineType=cv2.LINE_AA, shift=2)
    return mask.astype(np.float32) / 255.0


def face_hull_mask(points: Landmarks, shape: tuple[int, int]) -> Mask:
    """Convex hull of the face outline (forehead to chin, cheek to cheek)."""
    pts = check_landmarks(points)
    return polygon_mask(pts[list(L.FACE_OVAL)], shape)


def component_masks(points: Landmarks, shape: tuple[int, int]) -> dict[str, Mask]:
    """Masks of the eyes (with brows) and the mouth, slightly grown, for weighting losses."""
    pts = check_landmarks(points)
    h, w = shape
    iod = max(float(np.linalg.norm(pts[L.RIGHT_EYE_OUTER, :2] - pts[L.LEFT_EYE_OUTER, :2])), 1.0)
    grow = max(1, int(round(iod * 0.08)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
    eyes = np.maximum(polygon_mask(pts[list(L.RIGHT_EYE + L.RIGHT_EYEBROW)], (h, w)),
                      polygon_mask(pts[list(L.LEFT_EYE + L.LEFT_EYEBROW)], (h, w)))
    mouth = polygon_mask(pts[list(L.LIPS_OUTER)], (h, w))
    return {"eyes": cv2.dilate(eyes, kernel), "mouth": cv2.dilate(mouth, kernel)}


def loss_weights(points: Landmarks, shape: tuple[int, int], eyes: float = 3.0, mouth: float = 3.0,
                 face: float = 1.0, background: float = 0.2) -> Mask:
    """Per-pixel loss weights: ``background`` outside the face hull, ``face`` inside, ``eyes``/``mouth`` on them.

    Returns float32 H x W (not limited to [0, 1]).
    """
    if min(eyes, mouth, face, background) < 0:
        raise InputError("loss weights must be non-negative")
    hull = face_hull_mask(points, shape)
    parts = component_masks(points, shape)
    weights = background + (face - background) * hull
    weights = np.maximum(weights, eyes * parts["eyes"])
    return np.maximum(weights, mouth * parts["mouth"]).astype(np.float32)
