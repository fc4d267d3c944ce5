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
MIN_JACOBIAN = 0.2  # the faded map may shrink no area in the band below this (0: folded over)
WIDEN = (1.0, 1.5, 2.25)  # the band that keeps MIN_JACOBIAN is computed, then checked, and widened if need be;
# beyond the last try the head's motion is not faded at all (the plain warp)
FAR = 1e6  # "distance" where there is no person at all (finite, so that it interpolates)
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
        face_size: size of its face in pixels (the band scales with it).
        mask: its person mask (default: :func:`person_mask`).
        face: the face's landmarks (N x 2 or 3, pixels): their hull always counts as the person, so a
            segmentation that misses the face (a painting, a mask, a cartoon) cannot freeze the head.
    """

    def __init__(self, image: Frame, face_size: float, mask: np.ndarray | None = None,
                 face: np.ndarray | None = None) -> None:
        self.mask = person_mask(image) if mask is None else np.clip(np.asarray(mask, np.float32), 0.0, 1.0)
        if self.mask.shape != image.shape[:2]:
            raise ValueError(f"mask is {self.mask.shape}, image {image.shape[:2]}")
        if face is not None:
            pts = np.ascontiguousarray(np.asarray(face, np.float32)[:, :2])
            cv2.fillConvexPoly(self.mask, cv2.convexHull(pts).round().astype(np.int32), 1.0)
        self.distance = distance_from_person(self.mask)
        gy, gx = np.gradient(self.distance)
        self._away = (gx.astype(np.float32), gy.astype(np.float32))  # unit vectors away from the person
        self.band = BAND * float(face_size)
        self.last_band = self.band  # the band the last :meth:`restrict` used (inf: not faded)

    def restrict(self, warp: WarpMap) -> WarpMap:
        """``warp`` with its motion faded out away from the person: unchanged on the person, none beyond the band.

        The weight of an output pixel follows the nearer of itself and the point it samples, so the head's
        leading edge lands where the warp puts it instead of being squeezed into the band. A band too narrow for
        the motion would fold the picture over: the fade of a displacement ``s`` (its part pointing away from the
        person) over a band ``b`` scales areas by about ``1 - 1.5 s / b``, so the band is made wide enough for
        :data:`MIN_JACOBIAN`, checked, widened if need be, and given up (the plain warp) if that is not enough.
        """
        x0, y0, x1, y1 = warp.box
        box = (slice(y0, y1), slice(x0, x1))
        gx = np.arange(x0, x1, dtype=np.float32)[None, :]
        gy = np.arange(y0, y1, dtype=np.float32)[:, None]
        dx, dy = warp.map_x - gx, warp.map_y - gy
        sampled = cv2.remap(self.distance, warp.map_x, warp.map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        dist = np.minimum(self.distance[box], sampled)
        away = self._away[0][box] * dx + self._away[1][box] * dy
        widest = self.band * WIDEN[-1] * 4.0
        near = (dist > 0) & (dist < widest)
        s = float(away[near].max(initial=0.0))
        need = max(self.band, 1.5 * s / (1.0 - MIN_JACOBIAN))
        for k in WIDEN:
            band = need * k
            wgt = motion_weight(dist, band)
            map_x, map_y = gx + wgt * dx, gy + wgt * dy
            if _unfolded(map_x, map_y, (wgt > 0) & (wgt < 1)):
                self.last_band = band
                return WarpMap(warp.box, map_x, map_y)
        self.last_band = float("inf")
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
