"""Full-reference image measures (PSNR, SSIM, L1) and a no-reference sharpness measure (Laplacian variance).

Every function takes either uint8 H x W x 3 RGB frames or numeric arrays (H x W or H x W x C) of the same shape.
Colour-blind measures (SSIM, sharpness) work on luma: ITU-R BT.601 ``Y = 0.299 R + 0.587 G + 0.114 B``, kept in the
input's own range (0-255 for uint8 frames).
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np

from synthvid.errors import InputError
from synthvid.types import _describe, check_frame

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels; x1, y1 exclusive

_BT601 = np.array([0.299, 0.587, 0.114], dtype=np.float64)
_SSIM_SIGMA = 1.5
_SSIM_WINDOW = 11  # 11 x 11 Gaussian taps, as in Wang et al. 2004
_SSIM_K1, _SSIM_K2 = 0.01, 0.03


def _check_image(image: Any, name: str) -> np.ndarray:
    """Return ``image`` as float64 H x W or H x W x C; raise InputError on anything else."""
    if isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3:
        check_frame(image, name)
    if (not isinstance(image, np.ndarray) or image.ndim not in (2, 3) or image.size == 0
            or not (np.issubdtype(image.dtype, np.integer) or np.issubdtype(image.dtype, np.floating))):
        raise InputError(f"{name} must be a numeric H x W or H x W x C array, got {_describe(image)}")
    image = image.astype(np.float64, copy=False)
    if not np.all(np.isfinite(image)):
        raise InputError(f"{name} contains NaN or infinite values")
    return image


def _check_pair(a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
    a, b = _check_image(a, "a"), _check_image(b, "b")
    if a.shape != b.shape:
        raise InputError(f"images must have the same shape, got {a.shape} and {b.shape}")
    return a, b


def _check_data_range(data_range: float) -> float:
    if not data_range > 0 or not math.isfinite(data_range):
        raise InputError(f"data_range must be a positive number, got {data_range!r}")
    return float(data_range)


def _luma(image: np.ndarray) -> np.ndarray:
    """H x W (as is), H x W x 1 (squeezed) or H x W x 3 (BT.601 luma) float64 -> H x W float64."""
    if image.ndim == 2:
        return image
    if image.shape[2] == 1:
        return image[..., 0]
    if image.shape[2] == 3:
        return image @ _BT601
    raise InputError(f"cannot take the luma of an image with {image.shape[2]} channels (expected 1 or 3)")


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """Peak signal-to-noise ratio ``10 log10(data_range^2 / MSE)`` over all pixels and channels, in dB.

    Args:
        a, b: images of the same shape: uint8 H x W x 3 RGB frames or numeric H x W / H x W x C arrays.
        data_range: the span of possible values (255 for uint8, 1 for floats in [0, 1]).

    Returns:
        PSNR in dB; ``inf`` when the images are identical.
    """
    a, b = _check_pair(a, b)
    data_range = _check_data_range(data_range)
    mse = float(np.mean((a - b) ** 2))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(data_range**2 / mse)


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """Mean structural similarity (Wang et al. 2004) of two images.

    The standard formulation: local statistics under an 11 x 11 Gaussian window (sigma 1.5, population
    covariances), ``K1 = 0.01``, ``K2 = 0.03``, averaged over the pixels whose window lies wholly inside the image.
    Colour inputs (H x W x 3) are compared on their BT.601 luma, not per channel; 2-D arrays are used directly.
    Agrees with ``skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False)`` on the same luma.

    Args:
        a, b: images of the same shape, at least 11 x 11: uint8 H x W x 3 RGB frames, or numeric H x W,
            H x W x 1 or H x W x 3 arrays.
        data_range: the span of possible values (255 for uint8, 1 for floats in [0, 1]).

    Returns:
        SSIM in [-1, 1]; 1 for identical images.
    """
    a, b = _check_pair(a, b)
    data_range = _check_data_range(data_range)
    x, y = _luma(a), _luma(b)  # H x W each
    if min(x.shape) < _SSIM_WINDOW:
        raise InputError(f"ssim needs images of at least {_SSIM_WINDOW}x{_SSIM_WINDOW} pixels, got {x.shape}")
    c1, c2 = (_SSIM_K1 * data_range) ** 2, (_SSIM_K2 * data_range) ** 2

    def blur(z: np.ndarray) -> np.ndarray:
        # Reflect without repeating the edge pixel, like scipy's "reflect"; the border is cropped below anyway.
        return cv2.GaussianBlur(z, (_SSIM_WINDOW, _SSIM_WINDOW), _SSIM_SIGMA, borderType=cv2.BORDER_REFLECT)

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x * mu_x
    var_y = blur(y * y) - mu_y * mu_y
    cov = blur(x * y) - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    r = _SSIM_WINDOW // 2  # keep only windows that lie inside the image ("valid" filtering)
    return float(ssim_map[r:-r, r:-r].mean())


def l1(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """Mean absolute error with both images scaled to [0, 1] (divided by ``data_range``).

    Args:
        a, b: images of the same shape (uint8 frames or numeric arrays).
        data_range: the span of possible values (255 for uint8, 1 for floats already in [0, 1]).

    Returns:
        Mean of ``|a - b| / data_range`` over all pixels and channels: 0 for identical images, 1 for black vs white.
    """
    a, b = _check_pair(a, b)
    data_range = _check_data_range(data_range)
    return float(np.mean(np.abs(a - b)) / data_range)


def _clip_box(box: Box, height: int, width: int) -> tuple[int, int, int, int]:
    """Clip ``(x0, y0, x1, y1)`` to the image, growing fractional edges outwards; raise InputError if empty."""
    try:
        x0, y0, x1, y1 = (float(v) for v in box)
    except (TypeError, ValueError) as error:
        raise InputError(f"box must be four numbers (x0, y0, x1, y1), got {box!r}") from error
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
        raise InputError(f"box must be finite, got {box!r}")
    ix0, iy0 = max(int(math.floor(x0)), 0), max(int(math.floor(y0)), 0)
    ix1, iy1 = min(int(math.ceil(x1)), width), min(int(math.ceil(y1)), height)
    if ix1 <= ix0 or iy1 <= iy0:
        raise InputError(f"box {box!r} does not overlap the {width}x{height} image")
    return ix0, iy0, ix1, iy1


def laplacian_variance(image: np.ndarray, box: Box | None = None) -> float:
    """Variance of the 3 x 3 Laplacian of the luma: a sharpness measure (higher = more fine detail).

    The Laplacian is taken on the whole image (so pixels on the box's edge see their true neighbours) and its
    variance is measured inside ``box``. Values are in squared luma units per pixel^2 (0-255 luma for uint8 frames),
    so compare only images of the same kind and scale.

    Args:
        image: uint8 H x W x 3 RGB frame, or numeric H x W / H x W x 1 / H x W x 3 array.
        box: optional ``(x0, y0, x1, y1)`` region in pixels (x1, y1 exclusive), clipped to the image.

    Returns:
        The variance; 0 for a flat image.
    """
    luma = _luma(_check_image(image, "image"))  # H x W
    height, width = luma.shape
    x0, y0, x1, y1 = (0, 0, width, height) if box is None else _clip_box(box, height, width)
    # Filter a crop one pixel wider than the box: same values inside the box as filtering the whole image.
    px0, py0, px1, py1 = max(x0 - 1, 0), max(y0 - 1, 0), min(x1 + 1, width), min(y1 + 1, height)
    response = cv2.Laplacian(np.ascontiguousarray(luma[py0:py1, px0:px1]), cv2.CV_64F, ksize=1)
    return float(response[y0 - py0:y1 - py0, x0 - px0:x1 - px0].var())


def sharpness_ratio(output: np.ndarray, reference: np.ndarray, box: Box | None = None) -> float:
    """How sharp ``output`` is relative to ``reference`` inside ``box``: ratio of their Laplacian variances.

    Args:
        output, reference: images of the same shape (see :func:`laplacian_variance`).
        box: optional ``(x0, y0, x1, y1)`` region in pixels, e.g. the face box; the same region in both images.

    Returns:
        ``laplacian_variance(output, box) / laplacian_variance(reference, box)``: < 1 blurrier, > 1 sharper (or
        noisier). 1.0 when both regions are flat; ``inf`` when only the reference region is flat.
    """
    output_image, reference_image = _check_pair(output, reference)
    sharp_out = laplacian_variance(output_image, box)
    sharp_ref = laplacian_variance(reference_image, box)
    if sharp_ref == 0.0:
        return 1.0 if sharp_out == 0.0 else math.inf
    return sharp_out / sharp_ref
