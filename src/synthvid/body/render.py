"""Pose images: the stick figure a pose-to-image generator is conditioned on, and the square canvas it works in.

Every limb has its own colour (left and right differ) so that the generator can tell a left arm in front of the
body from a right arm behind it; limbs are drawn thicker for larger bodies. The :class:`Canvas` is the square
region of the target's frames that holds the person over the whole video, at the model's resolution.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from synthvid.body.keypoints import NOSE, VISIBLE, body_box
from synthvid.types import Frame

MATTE_FLOOR = 0.02  # matte values below this are taken as 0 when compositing (a generated matte is never exactly 0)

# (from, to, RGB colour). Subject's left limbs are warm, right limbs cool; the spine and head are neutral.
LIMBS: tuple[tuple[int, int, tuple[int, int, int]], ...] = (
    (11, 12, (230, 230, 0)), (23, 24, (200, 200, 0)), (11, 23, (255, 170, 0)), (12, 24, (0, 170, 255)),
    (11, 13, (255, 85, 0)), (13, 15, (255, 0, 0)), (12, 14, (0, 85, 255)), (14, 16, (0, 0, 255)),
    (15, 17, (255, 0, 128)), (15, 19, (255, 0, 128)), (15, 21, (255, 0, 128)), (17, 19, (255, 0, 128)),
    (16, 18, (128, 0, 255)), (16, 20, (128, 0, 255)), (16, 22, (128, 0, 255)), (18, 20, (128, 0, 255)),
    (23, 25, (255, 255, 0)), (25, 27, (170, 255, 0)), (27, 29, (85, 255, 0)), (29, 31, (0, 255, 0)),
    (27, 31, (0, 255, 0)),
    (24, 26, (0, 255, 255)), (26, 28, (0, 255, 170)), (28, 30, (0, 255, 85)), (30, 32, (0, 200, 200)),
    (28, 32, (0, 200, 200)),
    (0, 2, (255, 255, 255)), (0, 5, (200, 200, 200)), (2, 7, (255, 200, 200)), (5, 8, (200, 200, 255)),
    (9, 10, (255, 128, 128)),
)


def limb_width(points: np.ndarray) -> float:
    """Line width in the points' pixels: about a twentieth of the shoulder width, at least 1."""
    return max(1.0, float(np.linalg.norm(points[11] - points[12])) / 12)


def draw_pose(image: Frame, points: np.ndarray, visibility: np.ndarray, width: float | None = None) -> Frame:
    """Draw a 33-point pose onto a copy of ``image`` (anti-aliased limbs in their colours, joints as dots)."""
    out = np.ascontiguousarray(image.copy())
    w = width if width is not None else limb_width(points)
    thick = max(1, round(w))
    shift = 4  # sub-pixel precision for cv2 drawing
    p = np.round(points * (1 << shift)).astype(np.int64)
    for a, b, color in LIMBS:
        if visibility[a] > VISIBLE and visibility[b] > VISIBLE:
            cv2.line(out, tuple(p[a]), tuple(p[b]), color, thick, cv2.LINE_AA, shift)
    for i in np.flatnonzero(visibility > VISIBLE):
        cv2.circle(out, tuple(p[i]), max(1, round(w * 0.8)) << shift, (255, 255, 255) if i == NOSE else (240, 240,
                   240), -1, cv2.LINE_AA, shift)
    return out


def render_pose(points: np.ndarray, visibility: np.ndarray, size: int | tuple[int, int],
                width: float | None = None) -> Frame:
    """A stick-figure image (black background) of one pose: ``size`` is R (square) or (width, height)."""
    w, h = (size, size) if isinstance(size, int) else size
    return draw_pose(np.zeros((h, w, 3), np.uint8), points, visibility, width)


@dataclasses.dataclass(frozen=True)
class Canvas:
    """A square region of the target's frames (``x0, y0, side`` in frame pixels; may reach past the edges) seen at
    ``resolution`` x ``resolution`` by the model."""

    x0: float
    y0: float
    side: float
    resolution: int

    @classmethod
    def around(cls, points: np.ndarray, visibility: np.ndarray, frame_size: tuple[int, int], resolution: int,
               margin: float = 0.12) -> Canvas:
        """The square that holds every seen keypoint of a video (plus a margin), kept inside the frame where it
        fits."""
        x0, y0, x1, y1 = body_box(points, visibility, margin)
        w, h = frame_size
        side = max(x1 - x0, y1 - y0)
        side = min(side, max(w, h)) if side > min(w, h) else side
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        left = float(np.clip(cx - side / 2, min(0, w - side), max(0, w - side)))
        top = float(np.clip(cy - side / 2, min(0, h - side), max(0, h - side)))
        return cls(left, top, float(side), resolution)

    @property
    def scale(self) -> float:
        """Canvas pixels per frame pixel."""
        return self.resolution / self.side

    def to_canvas(self, points: np.ndarray) -> np.ndarray:
        """Frame points (pixel centres at i + 0.5) to canvas points, by ``(p - x0) * scale``.

        Not exactly :meth:`crop`'s mapping: the poses drawn with it sit ~0.5 canvas px down and right of the person
        in the crop. Training and transfer both use it, so a model learns the offset and its output lands in place;
        it is kept because changing it would shift every model already trained."""
        return ((points - np.array([self.x0, self.y0], np.float32)) * self.scale).astype(np.float32)

    def region(self) -> tuple[int, int, int, int]:
        """The whole-pixel frame rectangle (x0, y0, x1, y1) the canvas stands for (it may reach outside the frame)."""
        return (int(np.floor(self.x0)), int(np.floor(self.y0)), int(np.ceil(self.x0 + self.side)),
                int(np.ceil(self.y0 + self.side)))

    def crop(self, frame: np.ndarray, interpolation: int = cv2.INTER_AREA) -> np.ndarray:
        """The canvas region of a frame (or mask) at the canvas resolution; outside the frame: edge pixels."""
        h, w = frame.shape[:2]
        x0, y0, x1, y1 = self.region()
        pad = (max(0, -y0), max(0, y1 - h), max(0, -x0), max(0, x1 - w))
        region = frame[max(0, y0):min(h, y1), max(0, x0):min(w, x1)]
        if any(pad):
            region = cv2.copyMakeBorder(region, *pad, cv2.BORDER_REPLICATE)
        r = self.resolution
        return cv2.resize(region, (r, r), interpolation=interpolation if region.shape[0] > r else cv2.INTER_LINEAR)

    def paste(self, background: Frame, image: np.ndarray, alpha: np.ndarray) -> Frame:
        """Composite a canvas-sized RGB ``image`` with its ``alpha`` (R x R float in [0, 1]) onto ``background``.

        The exact inverse of :meth:`crop`'s geometry: the canvas is resized back to its frame rectangle (a resize,
        not a general warp: a quarter of the cost at 1080p), and only the part under the matte's bounding box is
        blended (the person usually covers a fraction of the canvas).
        """
        h, w = background.shape[:2]
        out = background.copy()
        alpha = np.where(alpha < MATTE_FLOOR, 0.0, alpha).astype(np.float32)
        rows, cols = np.flatnonzero((alpha > 0).any(1)), np.flatnonzero((alpha > 0).any(0))
        if len(rows) == 0:
            return out
        rx0, ry0, rx1, ry1 = self.region()
        rw, rh = rx1 - rx0, ry1 - ry0
        r, pad = self.resolution, 1
        # the matte's bounding box in frame pixels (a canvas pixel spans rw / r frame pixels), inside the frame
        x0 = max(0, rx0 + int(np.floor(max(cols[0] - pad, 0) * rw / r)))
        y0 = max(0, ry0 + int(np.floor(max(rows[0] - pad, 0) * rh / r)))
        x1 = min(w, rx0 + int(np.ceil(min(cols[-1] + 1 + pad, r) * rw / r)))
        y1 = min(h, ry0 + int(np.ceil(min(rows[-1] + 1 + pad, r) * rh / r)))
        if x1 <= x0 or y1 <= y0:
            return out
        big = cv2.resize(image, (rw, rh), interpolation=cv2.INTER_LINEAR)[y0 - ry0:y1 - ry0, x0 - rx0:x1 - rx0]
        a = cv2.resize(alpha, (rw, rh), interpolation=cv2.INTER_LINEAR)[y0 - ry0:y1 - ry0, x0 - rx0:x1 - rx0]
        out[y0:y1, x0:x1] = cv2.blendLinear(big, out[y0:y1, x0:x1], a, 1 - a)  # SIMD uint8 blend; a stays in [0, 1]
        return out
