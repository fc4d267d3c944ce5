"""Keeping a portrait's background still while the head moves.

A warp has to stretch something between the moving head and the fixed border of its region. Without help that is
the whole background around the head: a flag's stars or a window's bars bend as the head turns, and the
self-reenactment error doubles on such clips. Here the person is found once per portrait (MediaPipe selfie
segmentation, the model inside the wheel) and the warp's motion is faded out with the distance from the person:
full on the person, none beyond a band of :data:`BAND` face sizes around them. The stretch the warp needs is then
confined to that band, next to the silhouette where the head's own motion hides it.

(Layering the person over an inpainted background plate was tried first: it leaves no stretch at all, but the
segmentation's soft, slightly misplaced edge showed as a halo around the hair as soon as the head moved.)
"""

from __future__ import annotations

import cv2
import numpy as np

from synthvid.face.detect import mediapipe, quiet_native_stderr
from synthvid.reenact.warp import WarpMap
from synthvid.types import Frame

BAND = 0.1  # width of the band around the person over which the head's motion fades out, in face sizes
MIN_JACOBIAN = 0.05  # the faded map may shrink no area in the band below this (0: folded over)
WIDEN, WIDEN_STEPS = 1.5, 6  # a band that folds is widened by this factor, up to 5 times (7.6x); beyond that the
# head's motion is not faded at all (the plain warp)
FAR = 1e6  # "distance" everywhere when there is no person at all
PERSON = 0.5  # mask value from which a pixel is the person's


def person_mask(image: Frame) -> np.ndarray:
    """H x W float32 in [0, 1]: how much each pixel belongs to a person (MediaPipe selfie segmentation, general
    model)."""
    mp = mediapipe()
    with quiet_native_stderr(), mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0) as seg:
        result = seg.process(np.ascontiguousarray(image))
    mask = result.segmentation_mask
    if mask is None:
        return np.zeros(image.shape[:2], np.float32)
    mask = np.asarray(mask, np.float32)
    if mask.shape != image.shape[:2]:
        mask = cv2.resize(mask, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
    return np.clip(mask, 0.0, 1.0)


def distance_from_person(mask: np.ndarray) -> np.ndarray:
    """Pixels from each pixel to the nearest pixel of the person (``mask >= PERSON``); 0 on the person."""
    outside = (mask < PERSON).astype(np.uint8)
    if outside.all():
        return np.full(mask.shape, FAR, np.float32)
    return cv2.distanceTransform(outside, cv2.DIST_L2, 5)


def motion_weight(distance: np.ndarray, band: float) -> np.ndarray:
    """1 on the person, falling smoothly (smoothstep) to 0 at ``band`` pixels from them."""
    t = np.clip(distance / max(band, 1.0), 0.0, 1.0)
    return (1.0 - t * t * (3.0 - 2.0 * t)).astype(np.float32)


class StillBackground:
    """Restricts a portrait's warps to the person and a band around them.

    Args:
        image: the portrait, H x W x 3 uint8.
        face_size: size of its face in pixels (the band scales with it; default: the extent of ``face``).
        mask: its person mask (default: :func:`person_mask`).
        face: the face's landmarks (N x 2 or 3, pixels): their hull always counts as the person, so a
            segmentation that misses the face (a painting, a mask, a cartoon) cannot freeze the head.
    """

    def __init__(self, image: Frame, face_size: float | None = None, mask: np.ndarray | None = None,
                 face: np.ndarray | None = None) -> None:
        if face_size is None:
            if face is None:
                raise ValueError("StillBackground needs the face's size or its landmarks")
            face_size = float(np.ptp(np.asarray(face)[:, :2], axis=0).max())
        self.mask = person_mask(image) if mask is None else np.clip(np.asarray(mask, np.float32), 0.0, 1.0)
        if self.mask.shape != image.shape[:2]:
            raise ValueError(f"mask is {self.mask.shape}, image {image.shape[:2]}")
        if face is not None:
            pts = np.ascontiguousarray(np.asarray(face, np.float32)[:, :2])
            cv2.fillConvexPoly(self.mask, cv2.convexHull(pts).round().astype(np.int32), 1.0)
        self.distance = distance_from_person(self.mask)
        self.band = BAND * float(face_size)
        self.last_band = self.band  # the band the last :meth:`restrict` used (inf: not faded)
        self._last_step = 0

    def restrict(self, warp: WarpMap) -> WarpMap:
        """``warp`` with its motion faded out away from the person: unchanged on the person, none beyond the band.

        A band too narrow for the motion folds the picture over (fading a displacement ``s`` that points away from
        the person over a band ``b`` scales areas by about ``1 - 1.5 s / b``): the band is widened by
        :data:`WIDEN` until no area in it shrinks below :data:`MIN_JACOBIAN`, and given up (the plain warp) if
        even the widest folds.

        The weight follows the output pixel's own distance from the person. (Following the nearer of it and the
        point it samples lets the head's leading edge move fully, but drags the background next to it along:
        self-reenactment L1 0.0886 -> 0.0924 on wda_aoc, 0.0356 -> 0.0367 on obama_clip1.)
        """
        x0, y0, x1, y1 = warp.box
        gx = np.arange(x0, x1, dtype=np.float32)[None, :]
        gy = np.arange(y0, y1, dtype=np.float32)[:, None]
        dx, dy = warp.map_x - gx, warp.map_y - gy
        dist = self.distance[y0:y1, x0:x1]
        # Consecutive frames move alike: start one step below the last frame's band (fewer tries, and the band
        # changes little from frame to frame).
        for k in range(max(self._last_step - 1, 0), WIDEN_STEPS):
            band = self.band * WIDEN ** k
            wgt = motion_weight(dist, band)
            map_x, map_y = gx + wgt * dx, gy + wgt * dy
            if _unfolded(map_x, map_y, (wgt > 0) & (wgt < 1)):
                self.last_band, self._last_step = band, k
                return WarpMap(warp.box, map_x, map_y)
        self.last_band, self._last_step = float("inf"), WIDEN_STEPS
        return warp


def _unfolded(map_x: np.ndarray, map_y: np.ndarray, fading: np.ndarray) -> bool:
    """Whether the map keeps every area in the fading region above :data:`MIN_JACOBIAN` (checked on that region's
    bounding box only)."""
    rows, cols = np.flatnonzero(fading.any(1)), np.flatnonzero(fading.any(0))
    if len(rows) == 0:
        return True
    sub = (slice(max(rows[0] - 1, 0), rows[-1] + 2), slice(max(cols[0] - 1, 0), cols[-1] + 2))
    jac = _jacobian(map_x[sub], map_y[sub])
    return bool(jac[fading[sub]].min() >= MIN_JACOBIAN)


def _jacobian(map_x: np.ndarray, map_y: np.ndarray) -> np.ndarray:
    """Determinant of the map's Jacobian at every pixel (1: no change of area; <= 0: folded over)."""
    xy, xx = np.gradient(map_x)
    yy, yx = np.gradient(map_y)
    return xx * yy - xy * yx
