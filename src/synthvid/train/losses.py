"""Image losses for training: weighted L1, structural dissimilarity (DSSIM), edge loss, mask loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F


_LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601
SSIM_WINDOW = 7


def _box(x: torch.Tensor, k: int) -> torch.Tensor:
    """k x k mean filter of B x C x H x W by integral images (two cumulative sums), replicate-padded.

    A cumulative sum costs the same for any window and, unlike depthwise convolution, is fast on CPUs.
    """
    r = k // 2
    x = F.pad(x, (r + 1, r, r + 1, r), mode="replicate")
    c = x.cumsum(-1)
    x = c[..., k:] - c[..., :-k]
    c = x.cumsum(-2)
    return (c[..., k:, :] - c[..., :-k, :]) / (k * k)


def _luma(x: torch.Tensor) -> torch.Tensor:
    w = torch.tensor(_LUMA, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)


def ssim_map(x: torch.Tensor, y: torch.Tensor, window: int = SSIM_WINDOW) -> torch.Tensor:
    """Per-pixel SSIM (Wang et al. 2004) of the luma of RGB images in [-1, 1]: B x 1 x H x W.

    Uses a square ``window`` mean filter (the SSIM paper's simpler alternative to its Gaussian) on luma only:
    about ten times cheaper than a Gaussian over three channels, and structure lives mostly in luma; colour is
    left to the L1 term.
    """
    x, y = _luma((x + 1) / 2), _luma((y + 1) / 2)
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    mx, my, xx, yy, xy = _box(torch.cat([x, y, x * x, y * y, x * y], 1), window).split(1, 1)
    sxx, syy, sxy = xx - mx * mx, yy - my * my, xy - mx * my
    return ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))


def _weighted_mean(values: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    if weights is None:
        return values.mean()
    w = weights.expand_as(values)
    return (values * w).sum() / w.sum().clamp_min(1e-8)


def weighted_l1(x: torch.Tensor, y: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean |x - y| weighted per pixel by ``weights`` (B x 1 x H x W)."""
    return _weighted_mean((x - y).abs(), weights)


def dssim(x: torch.Tensor, y: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """(1 - SSIM) / 2, weighted per pixel."""
    return _weighted_mean((1 - ssim_map(x, y)) / 2, weights)


def edge_loss(x: torch.Tensor, y: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """L1 between image gradients (finite differences): rewards sharp edges that plain L1 averages away."""
    dx = lambda t: t[..., :, 1:] - t[..., :, :-1]  # noqa: E731
    dy = lambda t: t[..., 1:, :] - t[..., :-1, :]  # noqa: E731
    wx = weights[..., :, 1:] if weights is not None else None
    wy = weights[..., 1:, :] if weights is not None else None
    return _weighted_mean((dx(x) - dx(y)).abs(), wx) + _weighted_mean((dy(x) - dy(y)).abs(), wy)


def mask_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of mask logits against a soft target mask in [0, 1]."""
    return F.binary_cross_entropy_with_logits(logits, target)
