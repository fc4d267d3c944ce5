"""Neural refinement for reenactment (the rendering-to-video network of Deep Video Portraits, on a warp).

The reenactment renderer warps a real frame of the target to new landmarks; what a warp cannot do (teeth and lips
of a mouth that opens, skin folds, eyelids, shading that moves with the head) is left to this network, trained per
target on the target's own video: its input is the warped face crop plus a landmark sketch of where every part
should be, its output the real frame.

- :class:`RefinerConfig`: crop size and network width (fixed for a model's life).
- :class:`RefineNet`: an encoder-decoder with skip connections (the pix2pix generator's building blocks) that
  predicts a *residual* added to the warped crop; its last layer starts at zero, so an untrained network is the
  identity and training can only add corrections.
- :func:`landmark_sketch`: the conditioning image: face outline, brows and nose (channel 0), eyes and irises
  (channel 1), outer and inner lips (channel 2), drawn as lines.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import torch
import torch.nn as nn

from synthvid.config import Config, option
from synthvid.errors import InputError
from synthvid.face import landmarks as L
from synthvid.models.pix2pix import UNet

ARCH = "reenact-refiner-1"

_CONTOURS: tuple[tuple[tuple[int, ...], bool], ...] = (
    (L.FACE_OVAL, True), (L.RIGHT_EYEBROW, False), (L.LEFT_EYEBROW, False),
    ((168, 6, 197, 195, 5, 4), False), ((98, 97, 2, 326, 327), False))
_EYES: tuple[tuple[tuple[int, ...], bool], ...] = (
    (L.RIGHT_EYE, True), (L.LEFT_EYE, True), (L.RIGHT_IRIS, True), (L.LEFT_IRIS, True))
_LIPS: tuple[tuple[tuple[int, ...], bool], ...] = ((L.LIPS_OUTER, True), (L.LIPS_INNER, True))


@dataclasses.dataclass(frozen=True)
class RefinerConfig(Config):
    """Shape of the refinement network (fixed for a model's life)."""

    resolution: int = option(128, "face crop size in pixels (64 for quick tests, 128 on a CPU, 256 on a GPU)",
                             choices=(64, 128, 256))
    coverage: float = option(0.75, "fraction of the crop's side spanned by the face outline (less: more context)")
    base: int = option(24, "network channels at full resolution (doubled per level, capped at 4x)")
    blocks: int = option(2, "residual blocks at the coarsest level")

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 4 <= self.base <= 128 or not 0 <= self.blocks <= 16 or not 0.3 <= self.coverage <= 1.0:
            raise InputError("base must be in [4, 128], blocks in [0, 16] and coverage in [0.3, 1]")

    @property
    def levels(self) -> int:
        return {64: 2, 128: 3, 256: 4}[self.resolution]


class RefineNet(UNet):
    """(warped crop B x 3 x R x R, sketch B x 3 x R x R), both in [-1, 1] -> refined crop B x 3 x R x R."""

    def __init__(self, cfg: RefinerConfig) -> None:
        super().__init__()
        self.build(6, cfg.base, cfg.levels, cfg.blocks, stem_kernel=5)
        self.head = nn.Conv2d(cfg.base, 3, 3, padding=1)
        nn.init.zeros_(self.head.weight)  # starts as the identity
        nn.init.zeros_(self.head.bias)

    def forward(self, warped: torch.Tensor, sketch: torch.Tensor) -> torch.Tensor:
        return (warped + self.head(self.features(torch.cat([warped, sketch], 1)))).clamp(-1, 1)


def landmark_sketch(points: np.ndarray, size: int) -> np.ndarray:
    """Lines of the face's parts (``points``: 478 x 2+ in crop pixels) on a ``size`` x ``size`` x 3 uint8 image."""
    pts = np.asarray(points, dtype=np.float64)[:, :2]
    out = np.zeros((size, size, 3), np.uint8)
    thick = max(1, round(size / 128))
    for channel, parts in enumerate((_CONTOURS, _EYES, _LIPS)):
        plane = np.zeros((size, size), np.uint8)
        for idx, closed in parts:
            poly = np.round(pts[list(idx)] * 4).astype(np.int32)  # 2 bits of sub-pixel precision
            cv2.polylines(plane, [poly], closed, 255, thick, cv2.LINE_AA, shift=2)
        out[..., channel] = plane
    return out
