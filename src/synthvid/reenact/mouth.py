"""Mouth interiors for re-rendered faces.

When a closed mouth is warped open, the gap between the lips holds only stretched lip pixels. For a single photo
there is nothing better to copy from, so :func:`paint_interior` synthesises a plausible interior inside the
inner-lip contour: a dark cavity lit from the front, an upper row of teeth that shows more as the mouth opens,
and a lower row when it opens wide, coloured after the face's own lighting. (For a video target, see
:mod:`synthvid.reenact.retrieve`: the interior is taken from the target's own frames.)
"""

from __future__ import annotations

import cv2
import numpy as np

from synthvid.face import landmarks as L
from synthvid.face.masks import polygon_mask
from synthvid.types import Frame

MIN_OPENING = 0.04  # inner-lip gap / mouth width below which the lips are treated as closed


def inner_lip_polygon(points: np.ndarray) -> np.ndarray:
    return np.asarray(points)[list(L.LIPS_INNER), :2].astype(np.float32)


def _box(poly: np.ndarray, shape: tuple[int, int], pad: float) -> tuple[int, int, int, int]:
    lo, hi = poly.min(0), poly.max(0)
    p = (hi - lo).max() * pad + 3
    h, w = shape
    return (max(int(lo[0] - p), 0), max(int(lo[1] - p), 0), min(int(hi[0] + p) + 1, w), min(int(hi[1] + p) + 1, h))


def paint_interior(frame: Frame, points: np.ndarray, teeth: bool = True) -> Frame:
    """``frame`` with a synthesised mouth interior inside the inner-lip contour of ``points`` (478 x 2+ pixels).

    A closed mouth (inner-lip gap under :data:`MIN_OPENING` of its width) is returned unchanged.
    """
    pts = np.asarray(points, dtype=np.float32)
    if L.mouth_opening(pts) < MIN_OPENING:
        return frame
    poly = inner_lip_polygon(pts)
    x0, y0, x1, y1 = _box(poly, frame.shape[:2], 0.15)
    if x1 - x0 < 3 or y1 - y0 < 3:
        return frame
    crop = frame[y0:y1, x0:x1].astype(np.float32)
    local = poly - (x0, y0)
    h, w = crop.shape[:2]
    inside = polygon_mask(local, (h, w), convex=False)
    if inside.sum() < 4:
        return frame
    outer = polygon_mask(pts[list(L.LIPS_OUTER), :2] - (x0, y0), (h, w), convex=False)
    lips = (outer > 0.5) & (inside < 0.5)
    lip_rgb = crop[lips].mean(0) if lips.any() else np.array([150.0, 80.0, 80.0])
    light = float(np.clip(crop[lips].mean() / 130.0, 0.4, 1.0)) if lips.any() else 1.0

    width = float(np.linalg.norm(pts[L.MOUTH_RIGHT, :2] - pts[L.MOUTH_LEFT, :2]))
    top = _contour_y(local, True, w)
    bottom = _contour_y(local, False, w)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    cx = (pts[L.MOUTH_RIGHT, 0] + pts[L.MOUTH_LEFT, 0]) / 2 - x0
    u = (xs - cx) / max(width / 2, 1.0)  # -1 .. 1 from corner to corner
    gap = np.maximum(bottom - top, 1.0)[None, :]
    v = (ys - top[None, :]) / gap  # 0 at the upper inner lip, 1 at the lower

    # Cavity: dark, warm, darkest at the back (middle) and toward the corners.
    depth = np.clip(1 - 0.55 * np.abs(u) ** 2, 0, 1) * np.clip(np.sin(np.pi * np.clip(v, 0, 1)), 0, 1)
    cavity = (lip_rgb * 0.30)[None, None, :] * (1 - 0.6 * depth[..., None])
    img = cavity
    if teeth:
        opening = L.mouth_opening(pts)
        # Teeth in the mouth's shade: off-white, mixed with the lips' colour and dimmed to the face's lighting.
        tooth = (0.7 * np.array([215.0, 208.0, 192.0]) + 0.3 * lip_rgb) * light
        upper_h = min(0.065 * width, 0.45 * float(np.median(bottom - top))) if opening > 0.06 else 0.0
        span = np.clip(1 - (np.abs(u) / 0.62) ** 4, 0, 1)  # teeth fade out well before the corners
        dy = ys - top[None, :]
        up = np.clip((upper_h - dy) / max(upper_h * 0.25, 1.0), 0, 1) * span * (upper_h > 0)
        lower_h = 0.45 * upper_h if opening > 0.22 else 0.0
        dyl = bottom[None, :] - ys
        low = np.clip((lower_h - dyl) / max(lower_h * 0.3, 1.0), 0, 1) * span * (lower_h > 0)
        # Shading: teeth darker toward the corners and the gum line; faint gaps between teeth.
        shade = (0.75 + 0.25 * np.cos(np.clip(u, -1, 1) * np.pi / 2)) * (1 - 0.08 * (np.cos(u * np.pi * 3.2) > 0.97))
        t = np.clip(up + low, 0, 1)[..., None]
        img = img * (1 - t) + (tooth[None, None, :] * shade[..., None]) * t
    img = cv2.GaussianBlur(img, (0, 0), max(width * 0.006, 0.5))
    alpha = cv2.GaussianBlur(inside, (0, 0), max(width * 0.008, 0.6))[..., None] * (inside[..., None] > 0.02)
    out = frame.copy()
    out[y0:y1, x0:x1] = np.clip(crop * (1 - alpha) + img * alpha, 0, 255).astype(np.uint8)
    return out


def _contour_y(local: np.ndarray, upper: bool, width: int) -> np.ndarray:
    """y of the upper (or lower) inner-lip contour at every column of the crop (interpolated, held at the ends)."""
    n = len(L.LIPS_INNER)
    half = local[: n // 2 + 1] if upper else np.concatenate([local[n // 2:], local[:1]])
    order = np.argsort(half[:, 0])
    xs, ys = half[order, 0], half[order, 1]
    cols = np.arange(width, dtype=np.float32)
    return np.interp(cols, xs, ys).astype(np.float32)
