"""Mouth interiors from the target's own frames (Face2Face's mouth retrieval).

While the target video is tracked, an aligned crop of every usable frame's lower face is kept with the shape of
its lips in the pose-free frame. For each output frame the crop whose lip shape is nearest to the wanted one is
chosen — with a temporal-coherence term that prefers continuing the previous choice, so the teeth do not flicker —
warped onto the new lip contour and blended in over the mouth opening.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.spatial import Delaunay, QhullError

from synthvid.composite.blend import blend_feather
from synthvid.face import landmarks as L
from synthvid.face.align import alignment_matrix, warp_face
from synthvid.face.geometry import transform_points
from synthvid.face.masks import polygon_mask
from synthvid.reenact.mouth import MIN_OPENING
from synthvid.types import Frame

CROP = 160  # aligned face crop size kept per target frame
COVERAGE = 0.7
MAX_FRAMES = 1500  # memory bound (about 115 MB of crops)
MOUTH_POINTS = tuple(L.LIPS_OUTER + L.LIPS_INNER)
WARP_POINTS = MOUTH_POINTS + (2, 164, 0, 17, 152, 57, 287, 212, 432, 202, 422)
SWITCH_COST = 0.6  # cost (in squared shape units) of jumping to a non-consecutive frame


def lip_descriptor(frontal: np.ndarray) -> np.ndarray:
    """Pose-free lip shape: outer and inner lip points (x, y) about their centre, canonical units, flattened."""
    p = np.asarray(frontal)[list(MOUTH_POINTS), :2].astype(np.float32)
    return (p - p.mean(0)).reshape(-1)


class MouthBank:
    """Aligned lower-face crops of a target video with their lip shapes, for retrieval."""

    def __init__(self) -> None:
        self.crops: list[Frame] = []
        self.points: list[np.ndarray] = []  # WARP_POINTS in crop pixels
        self.shapes: list[np.ndarray] = []
        self.frames: list[int] = []
        self._prev: int | None = None

    def __len__(self) -> int:
        return len(self.crops)

    def add(self, frame: Frame, landmarks: np.ndarray, frontal: np.ndarray, index: int) -> None:
        m = alignment_matrix(landmarks, CROP, COVERAGE)
        self.crops.append(warp_face(frame, m, CROP))
        self.points.append(transform_points(np.asarray(landmarks)[list(WARP_POINTS), :2], m))
        self.shapes.append(lip_descriptor(frontal))
        self.frames.append(index)

    def _matrix(self) -> np.ndarray:
        if not hasattr(self, "_shape_matrix") or len(self._shape_matrix) != len(self.shapes):
            self._shape_matrix = np.stack(self.shapes)
        return self._shape_matrix

    def query(self, frontal: np.ndarray) -> int:
        """Index of the best crop for the lip shape of ``frontal`` (continuing the previous pick when close)."""
        d = ((self._matrix() - lip_descriptor(frontal)) ** 2).sum(1)
        scale = max(float(np.median(d)), 1e-6)
        cost = d / scale
        if self._prev is not None:
            jump = np.full(len(cost), SWITCH_COST)
            for k, c in ((self._prev, 0.15), (self._prev + 1, 0.0)):
                if 0 <= k < len(cost):
                    jump[k] = c
            cost = cost + jump
        self._prev = int(np.argmin(cost))
        return self._prev

    def paste(self, frame: Frame, landmarks: np.ndarray, index: int) -> Frame:
        """Blend crop ``index``'s mouth into ``frame`` over the opening of ``landmarks`` (image pixels)."""
        pts = np.asarray(landmarks, dtype=np.float32)
        if L.mouth_opening(pts) < MIN_OPENING:
            return frame
        dst = pts[list(WARP_POINTS), :2].astype(np.float64)
        src = self.points[index].astype(np.float64)
        width = float(np.linalg.norm(pts[L.MOUTH_RIGHT, :2] - pts[L.MOUTH_LEFT, :2]))
        h, w = frame.shape[:2]
        inner = pts[list(L.LIPS_INNER), :2]
        lo = np.floor(inner.min(0) - 0.15 * width).astype(int)
        hi = np.ceil(inner.max(0) + 0.15 * width).astype(int)
        x0, y0 = max(int(lo[0]), 0), max(int(lo[1]), 0)
        x1, y1 = min(int(hi[0]) + 1, w), min(int(hi[1]) + 1, h)
        if x1 - x0 < 3 or y1 - y0 < 3:
            return frame
        try:
            tri = Delaunay(dst)
        except QhullError:
            return frame
        gx, gy = np.meshgrid(np.arange(x0, x1, dtype=np.float64), np.arange(y0, y1, dtype=np.float64))
        grid = np.stack([gx.ravel(), gy.ravel()], 1)
        simplex = tri.find_simplex(grid)
        ok = simplex >= 0
        t = tri.transform[simplex[ok]]
        b01 = np.einsum("mij,mj->mi", t[:, :2], grid[ok] - t[:, 2])
        bary = np.concatenate([b01, 1 - b01.sum(1, keepdims=True)], 1)
        mapped = np.full_like(grid, -10.0)
        mapped[ok] = np.einsum("mk,mkd->md", bary, src[tri.simplices[simplex[ok]]])
        mx = mapped[:, 0].reshape(gx.shape).astype(np.float32)
        my = mapped[:, 1].reshape(gx.shape).astype(np.float32)
        mouth = cv2.remap(self.crops[index], mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        # Cover the opening and the inner edge of the lips; feather so the lips' own texture takes over outside.
        gap = max(width * L.mouth_opening(pts), 2.0)
        mask = polygon_mask(inner - (x0, y0), (y1 - y0, x1 - x0), convex=False)
        grow = max(int(round(0.12 * gap)), 1)
        mask = cv2.dilate(mask, np.ones((2 * grow + 1, 2 * grow + 1), np.uint8))
        mask = cv2.GaussianBlur(mask, (0, 0), max(0.25 * grow + 0.5, 0.6)) * ok.reshape(gx.shape)
        out = frame.copy()
        out[y0:y1, x0:x1] = blend_feather(mouth, frame[y0:y1, x0:x1], mask.astype(np.float32))
        return out
