"""Mouth texture from the target's own frames (Synthesizing Obama's texture synthesis).

For each output frame the ``n`` target frames whose lip shape (pose-free) is nearest to the wanted one are
retrieved — with a temporal-coherence term, so the choice does not flicker — and each is warped so its lips land
on the wanted contour. Their weighted per-pixel median gives a mouth without the ghosting of a mean; the median
is soft, so the teeth get the high-frequency detail of the best candidate back (its image minus its blur, inside
the inner lips), and the result is blended into the frame with a Laplacian pyramid over a feathered lip mask.
"""

from __future__ import annotations

import cv2
import numpy as np

from synthvid.composite.blend import blend_laplacian
from synthvid.face import landmarks as L
from synthvid.face.masks import polygon_mask
from synthvid.reenact.retrieve import PartBank
from synthvid.types import Frame

MARGIN = 0.35  # region around the lips re-synthesised, x mouth width
GROW = 0.12  # lip mask grown by this x mouth width before feathering


def weighted_median(stack: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per-element weighted median along axis 0 of ``stack`` (n, ...): the first value, in stable sorted order,
    at which the cumulative weight reaches half the total.

    For the few candidates used here (n = 5) pairwise comparisons are several times faster than sorting every
    pixel: element i is the median where the weight of the elements before it (smaller, or equal and earlier)
    is under half and reaches half with its own.
    """
    w = np.asarray(weights, np.float64)
    if len(stack) == 1:
        return stack[0]
    half = 0.5 * float(w.sum())
    out = np.zeros(stack.shape[1:], dtype=stack.dtype)
    done = np.zeros(stack.shape[1:], dtype=bool)
    for i in range(len(stack)):
        before = np.zeros(stack.shape[1:], np.float64)
        for j in range(len(stack)):
            if j != i:
                before += w[j] * ((stack[j] <= stack[i]) if j < i else (stack[j] < stack[i]))
        hit = (before < half) & (before + w[i] >= half) & ~done
        out[hit] = stack[i][hit]
        done |= hit
    return out


class MouthSynthesizer:
    """Paints the mouth of wanted shape into frames, from a :class:`PartBank` of the target's frames."""

    def __init__(self, bank: PartBank, candidates: int = 5, sharpen: float = 0.7, softness: float = 1.0) -> None:
        if len(bank) == 0:
            raise ValueError("empty part bank")
        self.bank, self.n, self.sharpen, self.softness = bank, max(int(candidates), 1), float(sharpen), softness

    def __call__(self, frame: Frame, landmarks: np.ndarray, frontal: np.ndarray) -> Frame:
        pts = np.asarray(landmarks, np.float32)
        idx, cost = self.bank.nearest("mouth", frontal, self.n)
        weights = np.exp(-(cost - cost[0]) / self.softness)
        outer = pts[list(L.LIPS_OUTER), :2]
        width = float(np.linalg.norm(pts[L.MOUTH_RIGHT, :2] - pts[L.MOUTH_LEFT, :2]))
        h, w = frame.shape[:2]
        lo = np.floor(outer.min(0) - MARGIN * width).astype(int)
        hi = np.ceil(outer.max(0) + MARGIN * width).astype(int)
        x0, y0 = max(int(lo[0]), 0), max(int(lo[1]), 0)
        x1, y1 = min(int(hi[0]) + 1, w), min(int(hi[1]) + 1, h)
        if x1 - x0 < 4 or y1 - y0 < 4 or width < 4:
            return frame
        box = (x0, y0, x1, y1)
        warped = self.bank.warp_patches("mouth", pts, idx, box)
        patches = [p for p, _ in warped]
        inside = warped[0][1]  # the same for every candidate: it depends only on where the mouth goes
        stack = np.stack(patches).astype(np.int16)
        med = weighted_median(stack, weights).astype(np.float32)
        if self.sharpen > 0 and len(patches) > 1:
            best = patches[0].astype(np.float32)
            detail = best - cv2.GaussianBlur(best, (0, 0), 1.2)
            inner = polygon_mask(pts[list(L.LIPS_INNER), :2] - (x0, y0), (y1 - y0, x1 - x0), convex=False)
            inner = cv2.GaussianBlur(inner.astype(np.float32), (0, 0), 1.0)[..., None]
            med = med + self.sharpen * detail * inner
        fg = np.clip(med, 0, 255).astype(np.uint8)
        shape = (y1 - y0, x1 - x0)
        mask = polygon_mask(outer - (x0, y0), shape, convex=False).astype(np.float32)
        grow = max(int(round(GROW * width)), 1)
        mask = cv2.dilate(mask, np.ones((2 * grow + 1, 2 * grow + 1), np.uint8))
        mask = cv2.GaussianBlur(mask, (0, 0), max(0.5 * grow, 0.8)) * (inside > 0.999)
        out = frame.copy()
        out[y0:y1, x0:x1] = blend_laplacian(fg, frame[y0:y1, x0:x1], mask.astype(np.float32), levels=3)
        return out
