"""The target video's background without the person: a per-pixel median over frames where the pixel is not covered
by the person, with the never-uncovered rest filled in (OpenCV Telea inpainting).
"""

from __future__ import annotations

import warnings

import cv2
import numpy as np

from synthvid.types import Frame

COVERED = 0.25  # person-mask value above which a pixel is taken as covered (the mask is dilated first)


class BackgroundEstimator:
    """Collects frames with their person masks and returns the background they show.

    Args:
        size: (width, height) of the frames.
        dilate: pixels by which masks are grown (a person's edge and shadow are not background).
    """

    def __init__(self, size: tuple[int, int], dilate: int = 0) -> None:
        self.size = size
        self.dilate = dilate or max(3, round(0.02 * max(size)))
        self._frames: list[np.ndarray] = []
        self._free: list[np.ndarray] = []

    def __len__(self) -> int:
        return len(self._frames)

    def add(self, frame: Frame, mask: np.ndarray | None) -> None:
        """One frame and its person mask (H x W float in [0, 1], any size: resized; None = no person)."""
        w, h = self.size
        if frame.shape[:2] != (h, w):
            raise ValueError(f"frame is {frame.shape[1]}x{frame.shape[0]}, expected {w}x{h}")
        free = np.ones((h, w), bool)
        if mask is not None:
            m = cv2.resize(mask.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR) > COVERED
            k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * self.dilate + 1, 2 * self.dilate + 1))
            free = cv2.dilate(m.astype(np.uint8), k) == 0
        self._frames.append(frame)
        self._free.append(free)

    def estimate(self) -> tuple[Frame, float]:
        """(background, share of pixels that had to be inpainted because the person always covered them)."""
        if not self._frames:
            raise ValueError("no frames were added")
        frames = np.stack(self._frames)  # N x H x W x 3 uint8 (float only band by band: memory)
        free = np.stack(self._free)  # N x H x W
        h, w = free.shape[1:]
        out = np.empty((h, w, 3), np.float32)
        with warnings.catch_warnings():  # pixels the person always covered are all-NaN: inpainted below
            warnings.simplefilter("ignore", RuntimeWarning)
            for y0 in range(0, h, 64):
                band = frames[:, y0:y0 + 64].astype(np.float32)
                band[~free[:, y0:y0 + 64]] = np.nan
                out[y0:y0 + 64] = np.nanmedian(band, axis=0)
        hole = np.isnan(out[..., 0])
        out[hole] = 0
        bg = np.clip(out + 0.5, 0, 255).astype(np.uint8)
        share = float(hole.mean())
        if hole.any():
            scale = min(1.0, 480 / max(h, w))  # inpaint small (Telea is slow on big holes), paste the holes back
            small = cv2.resize(bg, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
            small_hole = cv2.resize(hole.astype(np.uint8), small.shape[1::-1], interpolation=cv2.INTER_NEAREST)
            filled = cv2.inpaint(small, small_hole, 5, cv2.INPAINT_TELEA)
            filled = cv2.resize(filled, (w, h), interpolation=cv2.INTER_LINEAR)
            bg[hole] = filled[hole]
        return bg, share
