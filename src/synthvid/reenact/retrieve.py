"""Mouth and eyes from the target's own frames (Face2Face's mouth retrieval, extended to the eyes).

While the target video is tracked, an aligned face crop of every usable frame is kept with its landmarks. For each
output frame and each part (mouth, right eye, left eye) the crop whose part shape in the pose-free frame is nearest
to the wanted one is chosen — with a temporal-coherence term that prefers continuing the previous choice, so teeth
and eyelids do not flicker — warped onto the new contour, and blended in with a feathered mask. A warp alone can
open a mouth or an eye but has no teeth or eyeball to show; these come from frames where the target really had
them. When the best match is the frame being rendered, nothing is pasted, nor is an eye whose opening is far from
the wanted one (:data:`EYE_MATCH`): the warped eye, its lids remapped, is then the better one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import cv2
import numpy as np

from synthvid.composite.blend import blend_feather
from synthvid.face import landmarks as L
from synthvid.face.align import alignment_matrix, warp_face
from synthvid.face.canonical import canonical_face
from synthvid.face.geometry import transform_points
from synthvid.face.masks import polygon_mask
from synthvid.reenact.mouth import MIN_OPENING
from synthvid.reenact.warp import Triangulation
from synthvid.types import Frame

CROP = 224  # aligned face crop size kept per target frame
COVERAGE = 0.7
MAX_FRAMES = 900  # memory bound (about 135 MB of crops); longer targets keep every k-th frame
SWITCH_COST = 0.6  # cost (in units of the median squared shape distance) of jumping to a non-consecutive frame
# An eye is pasted only when its opening (lid gap / eye width) is within this of the wanted one: a target that never
# shuts its eyes has no shut eye to give, and its nearest (half-open) one turned the driver's blinks into squints
# or winks; the lid remap of the warp shows them better.
EYE_MATCH = 0.08


def _near(center_idx: tuple[int, ...], radius: float) -> tuple[int, ...]:
    c = canonical_face()
    ctr = c[list(center_idx), :2].mean(0)
    brows = set(L.RIGHT_EYEBROW + L.LEFT_EYEBROW)
    return tuple(int(i) for i in np.flatnonzero(np.linalg.norm(c[:, :2] - ctr, axis=1) < radius) if i not in brows)


@dataclasses.dataclass(frozen=True)
class Part:
    """A face part that can be retrieved: its shape points, the points that steer its warp, its mask outline."""

    name: str
    shape: tuple[int, ...]  # landmarks describing its shape (pose-free, about their centre)
    warp: tuple[int, ...]  # landmarks mapping the retrieved crop onto the output
    outline: tuple[int, ...]  # closed contour of the pasted region (grown by ``grow`` x the part's width)
    grow: float


def parts() -> dict[str, Part]:
    eyes = {}
    for name, contour, iris in (("right_eye", L.RIGHT_EYE, (L.RIGHT_IRIS_CENTER, *L.RIGHT_IRIS)),
                                ("left_eye", L.LEFT_EYE, (L.LEFT_IRIS_CENTER, *L.LEFT_IRIS))):
        eyes[name] = Part(name, tuple(contour) + tuple(iris), _near(contour, 0.33), tuple(contour), 0.18)
    mouth_pts = tuple(L.LIPS_OUTER + L.LIPS_INNER)
    mouth = Part("mouth", mouth_pts, mouth_pts + (2, 164, 0, 17, 152, 57, 287, 212, 432, 202, 422),
                 tuple(L.LIPS_INNER), 0.12)
    return {"mouth": mouth, **eyes}


PARTS = parts()


def _eye_opening(points: np.ndarray, part: str) -> float:
    return L.eye_aspect(points, "right" if part == "right_eye" else "left")


def shape_descriptor(frontal: np.ndarray, part: Part) -> np.ndarray:
    """Pose-free shape of a part: its points (x, y) about their centre, canonical units, flattened."""
    p = np.asarray(frontal)[list(part.shape), :2].astype(np.float32)
    return (p - p.mean(0)).reshape(-1)


class PartBank:
    """Aligned face crops of a target video with their landmarks, for retrieving mouths and eyes."""

    def __init__(self) -> None:
        self.crops: list[Frame] = []
        self.points: list[np.ndarray] = []  # 478 x 2 landmarks in crop pixels
        self.frames: list[int] = []
        self._slot: dict[int, int] = {}  # frame index -> position in the bank
        self._shapes: dict[str, list[np.ndarray]] = {k: [] for k in PARTS}
        self._stacked: dict[str, np.ndarray] = {}
        self._prev: dict[str, int | None] = dict.fromkeys(PARTS)

    def __len__(self) -> int:
        return len(self.crops)

    def add(self, frame: Frame, landmarks: np.ndarray, frontal: np.ndarray, index: int) -> None:
        m = alignment_matrix(landmarks, CROP, COVERAGE)
        self.crops.append(warp_face(frame, m, CROP))
        # landmarks put pixel i's centre at i + 0.5, warpAffine and remap at i: points are kept in the crop's
        # index coordinates (else a part taken from a face k times smaller lands 0.5 (k - 1) px off)
        self.points.append(transform_points(np.asarray(landmarks)[:, :2] - 0.5, m))
        for name, part in PARTS.items():
            self._shapes[name].append(shape_descriptor(frontal, part))
        self._slot[index] = len(self.frames)
        self.frames.append(index)
        self._stacked = {}

    def _costs(self, part: str, frontal: np.ndarray, current: int | None) -> np.ndarray:
        if part not in self._stacked:
            self._stacked[part] = np.stack(self._shapes[part])
        d = ((self._stacked[part] - shape_descriptor(frontal, PARTS[part])) ** 2).sum(1)
        cost = d / max(float(np.median(d)), 1e-6)
        prev = self._prev[part]
        if prev is not None:
            jump = np.full(len(cost), SWITCH_COST)
            for k, c in ((prev, 0.15), (prev + 1, 0.0)):
                if 0 <= k < len(cost):
                    jump[k] = c
            cost = cost + jump
        if current in self._slot:
            cost[self._slot[current]] -= SWITCH_COST
        return cost

    def query(self, part: str, frontal: np.ndarray, current: int | None = None) -> int:
        """Index of the best crop for ``part`` shaped as in ``frontal``, continuing the previous pick when close;
        ``current``: frame index being rendered (its own crop is preferred, as pasting it changes nothing)."""
        self._prev[part] = int(np.argmin(self._costs(part, frontal, current)))
        return self._prev[part]

    def nearest(self, part: str, frontal: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` best crops for ``part`` (indices, costs; best first), with the same temporal term as
        :meth:`query` (the best one becomes the previous pick)."""
        cost = self._costs(part, frontal, None)
        n = min(n, len(cost))
        idx = np.argpartition(cost, n - 1)[:n]
        idx = idx[np.argsort(cost[idx])]
        self._prev[part] = int(idx[0])
        return idx, cost[idx]

    def warp_patch(self, part: str, landmarks: np.ndarray, index: int,
                   box: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Crop ``index`` warped so its ``part`` lands where ``landmarks`` (image pixels) put it, over ``box``
        (x0, y0, x1, y1): (patch, inside) where ``inside`` is 1 where the warp is defined."""
        return self.warp_patches(part, landmarks, [index], box)[0]

    def warp_patches(self, part: str, landmarks: np.ndarray, indices: Sequence[int],
                     box: tuple[int, int, int, int]) -> list[tuple[np.ndarray, np.ndarray]]:
        """:meth:`warp_patch` for several crops onto the same landmarks: the triangulation of where the part goes
        is computed once for all of them."""
        spec = PARTS[part]
        pts = np.asarray(landmarks, dtype=np.float32)
        dst = pts[list(spec.warp), :2].astype(np.float64) - 0.5  # to the frame's index coordinates, as remap uses
        # Map from output pixels into the crop; a 2-pixel node grid is exact enough for these small regions.
        tri = Triangulation.of(dst, box, 2)
        out = []
        for index in indices:
            mx, my, inside = tri.map(self.points[int(index)][list(spec.warp)].astype(np.float64))
            out.append((cv2.remap(self.crops[int(index)], mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT),
                        inside))
        return out

    def eye_opening(self, part: str, index: int) -> float:
        """Lid gap / eye width of crop ``index``'s eye ``part``."""
        return _eye_opening(self.points[index], part)

    def paste(self, part: str, frame: Frame, landmarks: np.ndarray, index: int) -> Frame:
        """Blend crop ``index``'s ``part`` into ``frame`` where ``landmarks`` (image pixels) put it."""
        spec = PARTS[part]
        pts = np.asarray(landmarks, dtype=np.float32)
        if part == "mouth" and L.mouth_opening(pts) < MIN_OPENING:
            return frame
        if part != "mouth" and abs(self.eye_opening(part, index) - _eye_opening(pts, part)) > EYE_MATCH:
            return frame
        outline = pts[list(spec.outline), :2]
        width = float(np.ptp(outline[:, 0])) if part != "mouth" else float(
            np.linalg.norm(pts[L.MOUTH_RIGHT, :2] - pts[L.MOUTH_LEFT, :2]))
        h, w = frame.shape[:2]
        lo = np.floor(outline.min(0) - 0.3 * width).astype(int)
        hi = np.ceil(outline.max(0) + 0.3 * width).astype(int)
        x0, y0 = max(int(lo[0]), 0), max(int(lo[1]), 0)
        x1, y1 = min(int(hi[0]) + 1, w), min(int(hi[1]) + 1, h)
        if x1 - x0 < 3 or y1 - y0 < 3:
            return frame
        patch, inside = self.warp_patch(part, pts, index, (x0, y0, x1, y1))
        mask = polygon_mask(outline - (x0, y0), (y1 - y0, x1 - x0), convex=part != "mouth")
        scale = width * (L.mouth_opening(pts) if part == "mouth" else 1.0)
        grow = max(int(round(spec.grow * max(scale, 2.0))), 1)
        mask = cv2.dilate(mask, np.ones((2 * grow + 1, 2 * grow + 1), np.uint8))
        mask = cv2.GaussianBlur(mask, (0, 0), max(0.4 * grow, 0.6)) * (inside > 0.999)
        out = frame.copy()
        out[y0:y1, x0:x1] = blend_feather(patch, frame[y0:y1, x0:x1], mask.astype(np.float32))
        return out
