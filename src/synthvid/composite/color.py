"""Colour transfer: make a generated face take on the colour of the frame it is pasted into.

Every function has the same signature ``(source, target, mask) -> Frame``: ``source`` is recoloured so that its
statistics inside ``mask`` match those of ``target`` inside the same mask. The statistics come only from the masked
pixels, but the transform is applied to every pixel: the caller blends, and a recoloured edge keeps the blend
seamless.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from synthvid.errors import InputError
from synthvid.types import Frame, Mask, check_frame, check_mask

# Below this total mask weight (in pixels) there is nothing to measure; the source is returned unchanged.
_MIN_WEIGHT = 1.0
# A channel whose standard deviation is below this (in Lab units, L spans 0..100) is treated as flat: its mean is
# moved but its contrast is left alone, since dividing by ~0 would blow noise up into the full range.
_MIN_STD = 1e-3

# Images at least this many pixels on their shorter side are measured on a 2x-subsampled grid.
_SUBSAMPLE_MIN_SIDE = 64

_LEVELS = np.arange(256, dtype=np.float64)


def _check_pair(source: Frame, target: Frame, mask: Mask | None) -> tuple[Frame, Frame, Mask | None]:
    """Validate the common ``(source, target, mask)`` inputs; return the mask as float32 or None."""
    check_frame(source, "source")
    check_frame(target, "target")
    if source.shape != target.shape:
        raise InputError(f"source and target must have the same shape, got {source.shape} and {target.shape}")
    if mask is not None:
        mask = check_mask(mask, source.shape[:2])
    return source, target, mask


def _weighted_mean_std(image: np.ndarray, weights: np.ndarray, total: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel weighted mean and standard deviation of a float32 image.

    Args:
        image: float32 H x W x 3.
        weights: float32 H*W, non-negative, in row-major pixel order.
        total: ``weights.sum()``, > 0.

    Returns:
        (mean, std), each float64 3.
    """
    # Matrix-vector products and OpenCV scalar ops: numpy broadcasting over a trailing axis of 3 is ~20x slower.
    mean = (weights @ image.reshape(-1, 3)).astype(np.float64) / total
    # Centre before squaring: E[x^2] - E[x]^2 would cancel badly in float32 for L around 50 with a small spread.
    centred = cv2.subtract(image, (*mean.tolist(), 0.0))
    var = (weights @ (centred * centred).reshape(-1, 3)).astype(np.float64) / total
    return mean, np.sqrt(np.maximum(var, 0.0))


def _unit_float(frame: Frame) -> np.ndarray:
    """uint8 H x W x 3 -> float32 H x W x 3 in [0, 1]."""
    return np.multiply(frame, np.float32(1.0 / 255.0), dtype=np.float32)


def transfer_color_reinhard(source: Frame, target: Frame, mask: Mask | None = None) -> Frame:
    """Match the per-channel mean and standard deviation of ``source`` to ``target`` in CIE Lab (Reinhard et al.).

    Statistics are weighted by ``mask`` (a soft mask counts its feathered edge partially, which is steadier over
    video frames than a hard 0.5 threshold) and, on images 64 px or more a side, measured on every other pixel.

    Args:
        source: uint8 H x W x 3 RGB, the image to recolour.
        target: uint8 H x W x 3 RGB, the image whose colour is wanted.
        mask: float32 H x W in [0, 1] weighting the pixels that are measured in both images; None = all pixels.

    Returns:
        uint8 H x W x 3 RGB: ``source`` recoloured, every pixel transformed, clipped to the 8-bit range.
    """
    source, target, mask = _check_pair(source, target, mask)
    # Measure on every other pixel of larger images: the statistics barely move, and the target, only ever
    # measured, then needs a quarter of the Lab conversion, the single most expensive step here.
    step = 2 if min(source.shape[:2]) >= _SUBSAMPLE_MIN_SIDE else 1
    weights = np.ones(source.shape[:2], np.float32) if mask is None else mask
    weights = np.ascontiguousarray(weights[::step, ::step]).reshape(-1)
    total = float(weights.sum())
    if total < _MIN_WEIGHT:
        return source.copy()
    # Float input in [0, 1] gives true Lab ranges (L 0..100, a/b about -128..127) instead of 8-bit-packed Lab,
    # so the statistics are not quantised and the inverse conversion does not lose levels.
    src_lab = cv2.cvtColor(_unit_float(source), cv2.COLOR_RGB2LAB)  # H x W x 3
    dst_lab = cv2.cvtColor(_unit_float(target[::step, ::step]), cv2.COLOR_RGB2LAB)  # H/step x W/step x 3
    src_mean, src_std = _weighted_mean_std(np.ascontiguousarray(src_lab[::step, ::step]), weights, total)
    dst_mean, dst_std = _weighted_mean_std(dst_lab, weights, total)
    scale = np.where(src_std > _MIN_STD, dst_std / np.maximum(src_std, _MIN_STD), 1.0)
    # out = (x - src_mean) * scale + dst_mean, as one 3 x 4 per-pixel affine map (diagonal gain | offset).
    transform = np.hstack([np.diag(scale), (dst_mean - src_mean * scale)[:, None]]).astype(np.float32)
    out_lab = cv2.transform(src_lab, transform)
    rgb = cv2.cvtColor(out_lab, cv2.COLOR_LAB2RGB)
    # Lab outside the RGB gamut converts to values beyond [0, 1]: clamp below, then scale, round and saturate.
    return cv2.convertScaleAbs(cv2.max(rgb, 0.0), alpha=255.0)


def _level_map(src_hist: np.ndarray, dst_hist: np.ndarray) -> np.ndarray:
    """Build a 256-entry lookup table mapping source levels to target levels with the same CDF value.

    Args:
        src_hist, dst_hist: float64 256, weighted histograms with positive totals.

    Returns:
        uint8 256 lookup table.
    """
    src_present = src_hist > 0
    dst_present = dst_hist > 0
    # Mid-bin CDF (half of a level's own mass counted) is symmetric, so matching an image to itself maps every
    # present level onto itself exactly; only levels that occur are used, so the CDFs are strictly increasing and
    # np.interp is well defined.
    src_cdf = np.cumsum(src_hist) - 0.5 * src_hist
    dst_cdf = np.cumsum(dst_hist) - 0.5 * dst_hist
    src_cdf /= src_hist.sum()
    dst_cdf /= dst_hist.sum()
    mapped = np.interp(src_cdf[src_present], dst_cdf[dst_present], _LEVELS[dst_present])
    # Levels absent from the measured region (e.g. only outside the mask) follow their neighbours smoothly; beyond
    # the measured range they keep their distance to its end (slope 1) instead of collapsing onto one level, which
    # would posterise the unmeasured pixels that still show through a feathered edge.
    present = _LEVELS[src_present]
    table = np.interp(_LEVELS, present, mapped)
    below, above = _LEVELS < present[0], _LEVELS > present[-1]
    table[below] = mapped[0] + (_LEVELS[below] - present[0])
    table[above] = mapped[-1] + (_LEVELS[above] - present[-1])
    return np.clip(np.rint(table), 0, 255).astype(np.uint8)


def match_histograms(source: Frame, target: Frame, mask: Mask | None = None) -> Frame:
    """Match each RGB channel's histogram of ``source`` to ``target``, measured inside ``mask``.

    RGB rather than Lab: 8-bit RGB channels are exactly the 256-level domain a lookup table indexes, so there is no
    colour-space round trip to quantise, matching an image to itself is the identity, and per-channel RGB matching
    removes white-balance casts, the usual mismatch between a generated face and the frame. Reinhard transfer is
    the Lab alternative.

    Args:
        source: uint8 H x W x 3 RGB, the image to recolour.
        target: uint8 H x W x 3 RGB, the image whose colour is wanted.
        mask: float32 H x W in [0, 1]; histogram weights for both images; None = all pixels.

    Returns:
        uint8 H x W x 3 RGB: ``source`` with every pixel remapped through the per-channel lookup tables.
    """
    source, target, mask = _check_pair(source, target, mask)
    weights = None if mask is None else mask.reshape(-1)
    if weights is not None and float(weights.sum()) < _MIN_WEIGHT:
        return source.copy()
    channels = []
    for c in range(3):
        src_hist = np.bincount(source[..., c].reshape(-1), weights=weights, minlength=256).astype(np.float64)
        dst_hist = np.bincount(target[..., c].reshape(-1), weights=weights, minlength=256).astype(np.float64)
        channels.append(_level_map(src_hist, dst_hist))
    lut = np.stack(channels, axis=1).reshape(256, 1, 3)  # one table per channel, as cv2.LUT expects
    return cv2.LUT(source, lut)


def _keep_color(source: Frame, target: Frame, mask: Mask | None = None) -> Frame:
    """Validate the inputs like the other methods and return a copy of ``source``."""
    source, _, _ = _check_pair(source, target, mask)
    return source.copy()


_COLOR_FUNCTIONS: dict[str, Callable[[Frame, Frame, Mask | None], Frame]] = {
    "reinhard": transfer_color_reinhard,
    "hist": match_histograms,
    "none": _keep_color,
}
COLOR_METHODS: tuple[str, ...] = tuple(_COLOR_FUNCTIONS)


def check_color_method(method: str) -> str:
    """Return ``method`` if it names a colour-transfer method, else raise InputError listing the valid ones."""
    if not isinstance(method, str) or method not in _COLOR_FUNCTIONS:
        raise InputError(f"unknown colour method {method!r}; valid: {', '.join(COLOR_METHODS)}")
    return method


def transfer_color(source: Frame, target: Frame, mask: Mask | None = None, method: str = "reinhard") -> Frame:
    """Recolour ``source`` toward ``target`` with the named method.

    Args:
        source: uint8 H x W x 3 RGB.
        target: uint8 H x W x 3 RGB, same shape.
        mask: float32 H x W in [0, 1] selecting the pixels measured; None = all.
        method: one of ``COLOR_METHODS`` ("reinhard", "hist", "none").

    Returns:
        uint8 H x W x 3 RGB.
    """
    return _COLOR_FUNCTIONS[check_color_method(method)](source, target, mask)
