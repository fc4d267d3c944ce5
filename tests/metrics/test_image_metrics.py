"""Tests for synthvid.metrics.image: smoke, exceptions, shapes, known values."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import skimage.data
from skimage.metrics import structural_similarity

from synthvid.errors import InputError
from synthvid.metrics import l1, laplacian_variance, psnr, sharpness_ratio, ssim


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return np.ascontiguousarray(skimage.data.astronaut()[::4, ::4])  # 128 x 128 x 3 uint8


def _checkerboard(size: int = 64, square: int = 4) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    board = (((yy // square) + (xx // square)) % 2 * 255).astype(np.uint8)
    return np.repeat(board[..., None], 3, axis=2)


# smoke

def test_smoke(astronaut: np.ndarray) -> None:
    noisy = np.clip(astronaut.astype(int) + 10, 0, 255).astype(np.uint8)
    for value in (psnr(astronaut, noisy), ssim(astronaut, noisy), l1(astronaut, noisy),
                  laplacian_variance(astronaut), sharpness_ratio(noisy, astronaut, (10, 10, 60, 60))):
        assert isinstance(value, float) and math.isfinite(value)


# exceptions

@pytest.mark.parametrize("fn", [psnr, ssim, l1])
def test_shape_mismatch(fn, astronaut: np.ndarray) -> None:
    with pytest.raises(InputError, match="same shape"):
        fn(astronaut, astronaut[:-1])


@pytest.mark.parametrize("bad", [np.zeros((4,)), np.zeros((2, 2, 2, 2)), "image", np.zeros((0, 5)),
                                 np.full((8, 8), np.nan), np.zeros((8, 8), dtype=bool)])
def test_bad_inputs(bad) -> None:
    with pytest.raises(InputError):
        psnr(bad, bad)


def test_bad_data_range(astronaut: np.ndarray) -> None:
    with pytest.raises(InputError, match="data_range"):
        psnr(astronaut, astronaut, data_range=0)


def test_ssim_too_small() -> None:
    with pytest.raises(InputError, match="11x11"):
        ssim(np.zeros((8, 20)), np.zeros((8, 20)))


@pytest.mark.parametrize("box", [(200, 200, 300, 300), (10, 10, 10, 20), (5, 5), ("a", 1, 2, 3)])
def test_laplacian_bad_box(box, astronaut: np.ndarray) -> None:
    with pytest.raises(InputError, match="box"):
        laplacian_variance(astronaut, box)


# shapes / input kinds

def test_accepts_float_gray_and_colour(astronaut: np.ndarray) -> None:
    as_float = astronaut.astype(np.float32) / 255.0
    assert psnr(as_float, as_float * 0.5, data_range=1.0) == pytest.approx(
        psnr(astronaut.astype(np.float64), astronaut * 0.5))
    gray = astronaut[..., 0]
    assert ssim(gray, gray) == pytest.approx(1.0)
    assert ssim(gray[..., None], gray[..., None]) == pytest.approx(1.0)
    assert l1(as_float, as_float, data_range=1.0) == 0.0


# known values

def test_psnr_identical_is_inf(astronaut: np.ndarray) -> None:
    assert psnr(astronaut, astronaut.copy()) == math.inf


@pytest.mark.parametrize("offset", [1, 5, 40])
def test_psnr_constant_offset(offset: int) -> None:
    a = np.full((16, 16, 3), 100, dtype=np.uint8)
    b = a + np.uint8(offset)
    assert psnr(a, b) == pytest.approx(20 * math.log10(255 / offset))


def test_ssim_identity_and_monotonic_in_noise(astronaut: np.ndarray) -> None:
    assert ssim(astronaut, astronaut) == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(astronaut.shape)
    scores = [ssim(astronaut, np.clip(astronaut + sigma * noise, 0, 255).astype(np.uint8))
              for sigma in (2, 8, 20, 50)]
    assert all(x > y for x, y in zip(scores, scores[1:]))
    assert scores[0] < 1.0


def test_ssim_agrees_with_skimage(astronaut: np.ndarray) -> None:
    rng = np.random.default_rng(1)
    noisy = np.clip(astronaut + rng.normal(0, 15, astronaut.shape), 0, 255).astype(np.uint8)
    blurred = cv2.GaussianBlur(astronaut, (5, 5), 2.0)
    weights = np.array([0.299, 0.587, 0.114])
    for other in (noisy, blurred):
        expected = structural_similarity(astronaut @ weights, other @ weights, gaussian_weights=True, sigma=1.5,
                                         use_sample_covariance=False, data_range=255)
        assert ssim(astronaut, other) == pytest.approx(expected, abs=1e-3)


def test_l1_known_value() -> None:
    a = np.zeros((4, 4, 3), dtype=np.uint8)
    b = np.full((4, 4, 3), 51, dtype=np.uint8)
    assert l1(a, b) == pytest.approx(0.2)
    assert l1(a, np.full_like(a, 255)) == pytest.approx(1.0)


def test_laplacian_variance_flat_checker_blur() -> None:
    flat = np.full((32, 32, 3), 128, dtype=np.uint8)
    assert laplacian_variance(flat) == 0.0
    board = _checkerboard()
    sharp = laplacian_variance(board)
    assert sharp > 1e4
    assert laplacian_variance(cv2.GaussianBlur(board, (7, 7), 2.0)) < 0.2 * sharp


def test_laplacian_box_sees_true_neighbours() -> None:
    # Inside a box, the Laplacian must use the pixels just outside it, as on the whole image.
    board = _checkerboard()[..., 0].astype(np.float64)
    full = cv2.Laplacian(board, cv2.CV_64F, ksize=1)
    assert laplacian_variance(board, (8, 12, 40, 30)) == pytest.approx(full[12:30, 8:40].var())
    # A box reaching past the image is clipped.
    assert laplacian_variance(board, (-10, -10, 100, 100)) == pytest.approx(full.var())


def test_sharpness_ratio(astronaut: np.ndarray) -> None:
    box = (30, 10, 90, 60)
    assert sharpness_ratio(astronaut, astronaut, box) == pytest.approx(1.0)
    assert sharpness_ratio(cv2.GaussianBlur(astronaut, (5, 5), 1.5), astronaut, box) < 0.5
    flat = np.zeros((32, 32, 3), dtype=np.uint8)
    assert sharpness_ratio(flat, flat) == 1.0
    assert sharpness_ratio(_checkerboard(32), flat) == math.inf
