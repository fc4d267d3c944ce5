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
MIN_JACOBIAN = 0.0  # the band is widened (x1.5, up to 4 times) until the faded map shrinks no area in it below this
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
        return np.full(mask.shape, np.inf, np.float32)
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
            hull = cv2.convexHull(np.asarray(face, np.float32)[:, :2]).round().astype(np.int32)
            cv2.fillConvexPoly(self.mask, hull, 1.0)
        self.distance = distance_from_person(self.mask)
        self.band = BAND * float(face_size)

    def restrict(self, warp: WarpMap) -> WarpMap:
        """``warp`` with its motion faded out away from the person: unchanged on the person, none beyond the band.
        A band too narrow for the motion would fold the picture over (the Jacobian of the map turns negative):
        it is widened until it does not."""
        x0, y0, x1, y1 = warp.box
        dist = self.distance[y0:y1, x0:x1]
        gx = np.arange(x0, x1, dtype=np.float32)[None, :]
        gy = np.arange(y0, y1, dtype=np.float32)[:, None]
        dx, dy = warp.map_x - gx, warp.map_y - gy
        band = self.band
        for attempt in range(5):
            wgt = motion_weight(dist, band)
            map_x, map_y = gx + wgt * dx, gy + wgt * dy
            fading = (wgt > 0) & (wgt < 1)
            if attempt == 4 or not fading.any() or _jacobian(map_x, map_y)[fading].min() >= MIN_JACOBIAN:
                break
            band *= 1.5
        return WarpMap(warp.box, map_x.astype(np.float32), map_y.astype(np.float32))


def _jacobian(map_x: np.ndarray, map_y: np.ndarray) -> np.ndarray:
    """Determinant of the map's Jacobian at every pixel (1: no change of area; <= 0: folded over)."""
    xy, xx = np.gradient(map_x)
    yy, yx = np.gradient(map_y)
    return xx * yy - xy * yx
