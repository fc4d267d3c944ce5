"""The manipulated-face detector: a small CNN over an aligned face crop with two heads and a frequency branch.

- The image branch is a residual CNN down to 1/16 of the crop; its 1/4-scale features also feed a *blend map* head
  (Face X-ray: where a blending boundary runs, ``4 m (1 - m)`` of the blend mask ``m``), which is the heat map of
  suspect regions that ``synthvid detect`` draws, and an auxiliary target that makes the image branch look at
  boundaries rather than identities.
- The frequency branch takes the azimuthally averaged log power spectrum of the crop's luma (generated and
  re-sampled faces leave bumps and missing energy at high frequencies that an image CNN of this size sees poorly)
  and joins the pooled image features before the classifier.

Everything is sized to train and run on a laptop CPU (~1.2 M parameters at the defaults).
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from synthvid.config import Config, option
from synthvid.errors import InputError

ARCH = "sbi-xray-detector-1"
LUMA = (0.299, 0.587, 0.114)


@dataclasses.dataclass(frozen=True)
class DetectorConfig(Config):
    """Shape of the detector (fixed for a trained model)."""

    resolution: int = option(128, "side of the aligned face crop in pixels (multiple of 16)")
    coverage: float = option(0.6, "share of the crop's side spanned by the face outline (context for blend edges)")
    base: int = option(24, "channels of the first stage (doubling to at most 8x)")
    spectrum_bins: int = option(32, "radial bins of the power spectrum fed to the frequency branch")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.resolution % 16 or not 64 <= self.resolution <= 512:
            raise InputError(f"detector resolution must be a multiple of 16 in 64..512, got {self.resolution}")
        if not 0.3 <= self.coverage <= 0.9:
            raise InputError(f"detector coverage must lie in 0.3..0.9, got {self.coverage}")
        if not 8 <= self.base <= 128 or not 8 <= self.spectrum_bins <= 128:
            raise InputError("detector base and spectrum_bins must lie in 8..128")


class _Res(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(ch, ch, 3, padding=1, bias=False), nn.BatchNorm2d(ch), nn.ReLU(True),
                                  nn.Conv2d(ch, ch, 3, padding=1, bias=False), nn.BatchNorm2d(ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.body(x))


def _down(cin: int, cout: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(True), _Res(cout))


def radial_bins(size: int, bins: int) -> torch.Tensor:
    """bins x (size * (size // 2 + 1)) averaging matrix over rings of an rfft2 spectrum (row-normalised)."""
    fy = torch.fft.fftfreq(size).abs()[:, None]
    fx = torch.fft.rfftfreq(size)[None, :]
    radius = torch.sqrt(fy ** 2 + fx ** 2) / math.sqrt(0.5)  # 0 (DC) .. 1 (corner)
    index = torch.clamp((radius * bins).long(), max=bins - 1).flatten()
    m = torch.zeros(bins, index.numel())
    m[index, torch.arange(index.numel())] = 1.0
    return m / m.sum(1, keepdim=True).clamp(min=1.0)


def log_spectrum(x: torch.Tensor, rings: torch.Tensor) -> torch.Tensor:
    """Azimuthally averaged log power spectrum of the luma of B x 3 x R x R images in [-1, 1]: B x bins, with each
    row's mean removed (overall contrast is not a cue; the spectrum's shape is)."""
    w = torch.tensor(LUMA, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    y = (x * w).sum(1)  # B x R x R
    y = y - y.mean((1, 2), keepdim=True)
    power = torch.fft.rfft2(y.float(), norm="ortho").abs().pow(2).flatten(1)  # B x R*(R/2+1)
    s = torch.log(power @ rings.t() + 1e-8)  # B x bins
    return s - s.mean(1, keepdim=True)


class FakeDetector(nn.Module):
    """Aligned face crops (B x 3 x R x R in [-1, 1]) -> (logit B, blend-map logits B x 1 x R/4 x R/4)."""

    def __init__(self, cfg: DetectorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        b = cfg.base
        chans = [b, min(2 * b, 8 * b), min(4 * b, 8 * b), min(8 * b, 8 * b)]
        # full-resolution stem keeps the finest detail (blend edges, resampling traces)
        self.stem = nn.Sequential(nn.Conv2d(3, b // 2, 3, padding=1, bias=False), nn.BatchNorm2d(b // 2), nn.ReLU(True))
        self.s1 = _down(b // 2, chans[0])  # R/2
        self.s2 = _down(chans[0], chans[1])  # R/4
        self.s3 = _down(chans[1], chans[2])  # R/8
        self.s4 = _down(chans[2], chans[3])  # R/16
        self.blend_head = nn.Sequential(nn.Conv2d(chans[1] + chans[2], chans[1], 3, padding=1), nn.ReLU(True),
                                        nn.Conv2d(chans[1], 1, 1))
        self.register_buffer("rings", radial_bins(cfg.resolution, cfg.spectrum_bins), persistent=False)
        self.freq = nn.Sequential(nn.Linear(cfg.spectrum_bins, 64), nn.ReLU(True), nn.Linear(64, 64), nn.ReLU(True))
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(2 * chans[3] + 64 + 1, 128), nn.ReLU(True),
                                        nn.Linear(128, 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r = self.cfg.resolution
        if x.ndim != 4 or x.shape[1:] != (3, r, r):
            raise InputError(f"detector expects B x 3 x {r} x {r} crops, got {tuple(x.shape)}")
        f2 = self.s2(self.s1(self.stem(x)))  # B x C1 x R/4 x R/4
        f3 = self.s3(f2)  # B x C2 x R/8 x R/8
        f4 = self.s4(f3)  # B x C3 x R/16 x R/16
        up = F.interpolate(f3, size=f2.shape[-2:], mode="bilinear", align_corners=False)
        blend = self.blend_head(torch.cat([f2, up], 1))  # B x 1 x R/4 x R/4
        pooled = torch.cat([f4.mean((2, 3)), f4.amax((2, 3))], 1)
        spectrum = self.freq(log_spectrum(x, self.rings))
        # the blend map's strongest response is itself evidence: hand it to the classifier directly
        peak = blend.flatten(1).amax(1, keepdim=True)
        logit = self.classifier(torch.cat([pooled, spectrum, peak], 1)).squeeze(1)
        return logit, blend
