"""Blending a foreground face into a background: feathered alpha, Poisson (seamless) cloning, Laplacian pyramids.

Every blend has the signature ``(fg, bg, mask) -> Frame`` with ``mask`` the foreground's alpha: 1 = all ``fg``,
0 = all ``bg``. They are meant for the region of interest around one face (a few hundred pixels square), once per
video frame, so each is written to a per-frame budget of a few milliseconds: OpenCV kernels over numpy loops, and
no work outside that region.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable

import cv2
import numpy as np

from synthvid.errors import InputError
from synthvid.types import Frame, Mask, check_frame, check_mask

# cv2.seamlessClone zeroes the outermost ring of the mask and takes its boundary values from the rectangle around
# the mask, so a mask reaching the image edge needs room outside it; 4 px covers the ring with slack.
_POISSON_MARGIN = 4
# The coarsest pyramid level keeps at least this many pixels per side: smaller levels carry no useful low band and
# reflect padding needs the image to be larger than the pad.
_MIN_LEVEL_SIZE = 4


def _check_blend_inputs(fg: Frame, bg: Frame, mask: Mask) -> Mask:
    """Validate ``(fg, bg, mask)`` and return the mask as float32 H x W."""
    check_frame(fg, "fg")
    check_frame(bg, "bg")
    if fg.shape != bg.shape:
        raise InputError(f"fg and bg must have the same shape, got {fg.shape} and {bg.shape}")
    return check_mask(mask, fg.shape[:2])


def feather_mask(mask: Mask, radius: float) -> Mask:
    """Soften a mask's edge inward: erode by ``radius / 2``, then blur by at most ``radius / 2``.

    The blur's reach never exceeds the erosion, so the result is <= ``mask`` at every pixel: the soft edge lies
    inside the original mask (no halo of foreground outside the face's hull) within ``radius`` pixels of its
    boundary. The mask is not eroded from the image border, where the region usually continues past the picture.

    Args:
        mask: float32 H x W in [0, 1].
        radius: width of the soft edge in pixels, >= 0; 0 returns ``mask`` unchanged.

    Returns:
        float32 H x W in [0, 1].
    """
    mask = check_mask(mask)
    if not isinstance(radius, numbers.Real) or not math.isfinite(radius) or radius < 0:
        raise InputError(f"feather radius must be a finite number >= 0, got {radius!r}")
    if radius == 0:
        return mask
    half = max(1, int(radius / 2 + 0.5))
    size = 2 * half + 1
    # A square element (not a disk) because the Gaussian kernel below is square too: every pixel inside the blur
    # window then has the centre pixel inside its erosion window, which is what guarantees result <= mask.
    eroded = cv2.erode(mask, np.ones((size, size), np.uint8))
    # sigma = half / 3 puts the kernel's truncation at 3 sigma, so the feathered profile has no visible kink.
    return cv2.GaussianBlur(eroded, (size, size), half / 3.0)


def blend_feather(fg: Frame, bg: Frame, mask: Mask) -> Frame:
    """Alpha-blend ``fg`` over ``bg``: ``out = mask * fg + (1 - mask) * bg``, rounded.

    Args:
        fg, bg: uint8 H x W x 3 RGB.
        mask: float32 H x W in [0, 1], the foreground's alpha.

    Returns:
        uint8 H x W x 3 RGB.
    """
    mask = _check_blend_inputs(fg, bg, mask)
    # One fused OpenCV kernel (weights stay float, result rounded and saturated); about 6x faster than the same
    # arithmetic in numpy, which materialises four float images.
    return cv2.blendLinear(fg, bg, mask, 1.0 - mask)


def blend_poisson(fg: Frame, bg: Frame, mask: Mask) -> Frame:
    """Seamless-clone ``fg`` into ``bg`` where ``mask > 0.5`` (Poisson image editing, ``cv2.NORMAL_CLONE``).

    Cloning keeps ``fg``'s gradients and takes its overall level from ``bg`` at the mask's boundary, hiding colour
    and lighting mismatch. The cloned image is then alpha-blended over ``bg`` with the soft ``mask`` so that a
    feathered edge stays soft. A mask covering the whole image leaves no ``bg`` boundary to match, so ``fg`` is
    returned as a plain alpha blend.

    Args:
        fg, bg: uint8 H x W x 3 RGB.
        mask: float32 H x W in [0, 1]; may touch the image border.

    Returns:
        uint8 H x W x 3 RGB; exactly ``bg`` where ``mask`` is 0.
    """
    mask = _check_blend_inputs(fg, bg, mask)
    hard = mask > 0.5
    if not hard.any():
        return bg.copy()
    if hard.all():
        return blend_feather(fg, bg, mask)
    m = _POISSON_MARGIN
    # Reflect-padding all three lets the cloned region run right up to the real image border, with reflected bg
    # as its boundary condition instead of a hard black edge or an error from cv2.
    pad = (m, m, m, m, cv2.BORDER_REFLECT_101)
    fg_pad = cv2.copyMakeBorder(fg, *pad)
    bg_pad = cv2.copyMakeBorder(bg, *pad)
    hard_pad = cv2.copyMakeBorder(hard.astype(np.uint8) * 255, *pad)
    # cv2 does this itself in 4.x; doing it here keeps the centre computed below exact on every version.
    hard_pad[[0, -1], :] = 0
    hard_pad[:, [0, -1]] = 0
    x, y, w, h = cv2.boundingRect(hard_pad)
    if w < 3 or h < 3:
        # The solver fixes the mask's bounding-box rim to bg, so a region under 3 px across has no free pixel
        # (and cv2 raises on it): cloning would return bg unchanged.
        return bg.copy()
    # cv2 places the mask's bounding box at centre - size // 2, so this centre pastes fg back in place.
    centre = (x + w // 2, y + h // 2)
    cloned = cv2.seamlessClone(fg_pad, bg_pad, hard_pad, centre, cv2.NORMAL_CLONE)
    cloned = cloned[m:-m, m:-m]
    return cv2.blendLinear(cloned, bg, mask, 1.0 - mask)


def _pyramid_levels(height: int, width: int, levels: int) -> int:
    """The number of levels, at most ``levels``, that keeps the coarsest level >= ``_MIN_LEVEL_SIZE`` px a side."""
    smallest = min(height, width)
    fit = int(math.floor(math.log2(smallest / _MIN_LEVEL_SIZE))) if smallest >= _MIN_LEVEL_SIZE else 0
    return max(0, min(levels, fit))


def blend_laplacian(fg: Frame, bg: Frame, mask: Mask, levels: int = 5) -> Frame:
    """Blend ``fg`` into ``bg`` band by band (Burt-Adelson Laplacian pyramid blending).

    Each frequency band is mixed with a mask blurred to that band's scale, so coarse colour transitions are wide
    and fine detail transitions are sharp. Because the pyramid is linear, blending the pyramids of ``fg`` and
    ``bg`` equals ``bg`` plus the blended pyramid of ``fg - bg`` (bg's own pyramid collapses back to bg exactly),
    so only one image pyramid is built. Sizes that are not multiples of ``2 ** levels`` are reflect-padded and
    cropped back; small images get fewer levels (none below 8 px: plain alpha blend).

    Args:
        fg, bg: uint8 H x W x 3 RGB.
        mask: float32 H x W in [0, 1], the foreground's alpha at full resolution.
        levels: number of downsampling steps, >= 1 (reduced automatically for small images).

    Returns:
        uint8 H x W x 3 RGB; exactly ``bg`` where the mask is 0 everywhere, exactly ``fg`` where it is 1
        everywhere.
    """
    mask = _check_blend_inputs(fg, bg, mask)
    if not isinstance(levels, (int, np.integer)) or isinstance(levels, bool) or levels < 1:
        raise InputError(f"levels must be an integer >= 1, got {levels!r}")
    height, width = fg.shape[:2]
    levels = _pyramid_levels(height, width, int(levels))
    if levels == 0:
        return blend_feather(fg, bg, mask)
    unit = 1 << levels
    pad_y, pad_x = -height % unit, -width % unit
    diff = cv2.subtract(fg, bg, dtype=cv2.CV_32F)  # H x W x 3, fg - bg in [-255, 255]
    # Three identical channels so that every product below is elementwise: numpy broadcasting of an H x W x 1
    # alpha over 3 channels is several times slower than the extra pyrDown work.
    alpha = cv2.merge([mask, mask, mask])  # H x W x 3
    if pad_y or pad_x:
        diff = cv2.copyMakeBorder(diff, 0, pad_y, 0, pad_x, cv2.BORDER_REFLECT_101)
        alpha = cv2.copyMakeBorder(alpha, 0, pad_y, 0, pad_x, cv2.BORDER_REFLECT_101)
    gauss = [diff]  # level k: (H' / 2^k) x (W' / 2^k) x 3
    alphas = [alpha]  # level k: (H' / 2^k) x (W' / 2^k) x 3
    for _ in range(levels):
        gauss.append(cv2.pyrDown(gauss[-1]))
        alphas.append(cv2.pyrDown(alphas[-1]))
    # Collapse as we go: each Laplacian band is formed, weighted and added without storing the pyramid.
    out = gauss[-1] * alphas[-1]
    for k in range(levels - 1, -1, -1):
        size = (gauss[k].shape[1], gauss[k].shape[0])
        band = gauss[k] - cv2.pyrUp(gauss[k + 1], dstsize=size)
        out = cv2.pyrUp(out, dstsize=size)
        out += band * alphas[k]
    if pad_y or pad_x:
        out = out[:height, :width]
    # Mixed-depth add with a uint8 result rounds and saturates in one pass.
    return cv2.add(bg, out, dtype=cv2.CV_8U)


_BLEND_FUNCTIONS: dict[str, Callable[[Frame, Frame, Mask], Frame]] = {
    "feather": blend_feather,
    "poisson": blend_poisson,
    "laplacian": blend_laplacian,
}
BLEND_METHODS: tuple[str, ...] = tuple(_BLEND_FUNCTIONS)


def check_blend_method(method: str) -> str:
    """Return ``method`` if it names a blend method, else raise InputError listing the valid ones."""
    if not isinstance(method, str) or method not in _BLEND_FUNCTIONS:
        raise InputError(f"unknown blend method {method!r}; valid: {', '.join(BLEND_METHODS)}")
    return method


def blend(fg: Frame, bg: Frame, mask: Mask, method: str = "feather") -> Frame:
    """Blend ``fg`` over ``bg`` with the named method.

    Args:
        fg, bg: uint8 H x W x 3 RGB.
        mask: float32 H x W in [0, 1], the foreground's alpha.
        method: one of ``BLEND_METHODS`` ("feather", "poisson", "laplacian").

    Returns:
        uint8 H x W x 3 RGB.
    """
    return _BLEND_FUNCTIONS[check_blend_method(method)](fg, bg, mask)
