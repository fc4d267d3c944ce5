"""Colour transfer: smoke, exceptions, shapes and known values on seeded synthetic images."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from synthvid.composite.color import (
    COLOR_METHODS,
    match_histograms,
    transfer_color,
    transfer_color_reinhard,
)
from synthvid.errors import InputError


def smooth_image(seed: int, shape: tuple[int, int] = (64, 80), low: float = 40, high: float = 200) -> np.ndarray:
    """Seeded, blurred noise with values roughly in [low, high] (kept off 0/255 so clipping does not bias stats)."""
    rng = np.random.default_rng(seed)
    noise = rng.random((*shape, 3)).astype(np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), 2.0)
    noise = (noise - noise.min()) / (noise.max() - noise.min())
    return np.rint(low + noise * (high - low)).astype(np.uint8)


def disk_mask(shape: tuple[int, int] = (64, 80)) -> np.ndarray:
    mask = np.zeros(shape, np.float32)
    cv2.circle(mask, (shape[1] // 2, shape[0] // 2), min(shape) // 3, 1.0, -1)
    return cv2.GaussianBlur(mask, (0, 0), 2.0)


def masked_lab_stats(image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lab = cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB).reshape(-1, 3).astype(np.float64)
    w = mask.reshape(-1, 1).astype(np.float64)
    mean = (lab * w).sum(0) / w.sum()
    std = np.sqrt(((lab - mean) ** 2 * w).sum(0) / w.sum())
    return mean, std


# -- smoke / shapes -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", COLOR_METHODS)
def test_every_method_returns_frame_of_same_shape(method: str) -> None:
    source, target = smooth_image(0), smooth_image(1)
    for mask in (None, disk_mask()):
        out = transfer_color(source, target, mask, method=method)
        assert out.dtype == np.uint8 and out.shape == source.shape
        assert out is not source


def test_color_methods_are_exported() -> None:
    assert COLOR_METHODS == ("reinhard", "hist", "none")


# -- exceptions -----------------------------------------------------------------------------------------------------


def test_wrong_dtype_is_reported() -> None:
    with pytest.raises(InputError, match=r"source.*float32"):
        transfer_color_reinhard(smooth_image(0).astype(np.float32), smooth_image(1))


def test_mismatched_shapes_are_reported() -> None:
    with pytest.raises(InputError, match=r"same shape.*\(64, 80, 3\).*\(32, 80, 3\)"):
        match_histograms(smooth_image(0), smooth_image(1, (32, 80)))


def test_wrong_mask_shape_is_reported() -> None:
    with pytest.raises(InputError, match=r"mask has shape \(10, 10\)"):
        transfer_color(smooth_image(0), smooth_image(1), np.ones((10, 10), np.float32))


def test_unknown_method_lists_valid_ones() -> None:
    with pytest.raises(InputError, match=r"'lab'.*reinhard, hist, none"):
        transfer_color(smooth_image(0), smooth_image(1), method="lab")


# -- known values: Reinhard -----------------------------------------------------------------------------------------


def test_reinhard_matches_masked_lab_mean_and_std() -> None:
    source = smooth_image(0, low=30, high=150)
    target = smooth_image(1, low=90, high=210)
    target[..., 0] = np.clip(target[..., 0].astype(int) + 25, 0, 255)  # a warm cast the source lacks
    mask = disk_mask()
    out = transfer_color_reinhard(source, target, mask)
    out_mean, out_std = masked_lab_stats(out, mask)
    dst_mean, dst_std = masked_lab_stats(target, mask)
    src_mean, _ = masked_lab_stats(source, mask)
    assert np.abs(src_mean - dst_mean).max() > 10  # the test is not trivially satisfied
    np.testing.assert_allclose(out_mean, dst_mean, atol=1.0)
    np.testing.assert_allclose(out_std, dst_std, rtol=0.1, atol=0.5)


def test_reinhard_without_mask_uses_whole_image() -> None:
    source, target = smooth_image(2, low=20, high=120), smooth_image(3, low=100, high=220)
    out = transfer_color_reinhard(source, target)
    ones = np.ones(source.shape[:2], np.float32)
    np.testing.assert_allclose(masked_lab_stats(out, ones)[0], masked_lab_stats(target, ones)[0], atol=1.0)


def test_reinhard_flat_source_only_shifts_mean() -> None:
    source = np.full((16, 16, 3), 60, np.uint8)
    target = smooth_image(4, (16, 16))
    out = transfer_color_reinhard(source, target)
    # A constant image cannot gain contrast; it must become (about) the target's mean colour, with no blow-up.
    assert np.ptp(out.reshape(-1, 3), axis=0).max() <= 1
    mean, _ = masked_lab_stats(out, np.ones((16, 16), np.float32))
    np.testing.assert_allclose(mean, masked_lab_stats(target, np.ones((16, 16), np.float32))[0], atol=1.5)


def test_reinhard_with_empty_mask_returns_source() -> None:
    source, target = smooth_image(0), smooth_image(1)
    out = transfer_color_reinhard(source, target, np.zeros(source.shape[:2], np.float32))
    np.testing.assert_array_equal(out, source)


def test_none_returns_source_unchanged() -> None:
    source, target = smooth_image(0), smooth_image(1)
    out = transfer_color(source, target, disk_mask(), method="none")
    np.testing.assert_array_equal(out, source)


# -- known values: histogram matching -------------------------------------------------------------------------------


def test_histogram_matching_to_itself_is_identity() -> None:
    image = smooth_image(5, low=0, high=255)
    np.testing.assert_array_equal(match_histograms(image, image), image)
    np.testing.assert_array_equal(match_histograms(image, image, disk_mask()), image)


def test_histogram_matching_brightens_dark_image() -> None:
    dark = smooth_image(6, low=10, high=90)
    bright = smooth_image(7, low=120, high=240)
    mask = disk_mask()
    out = match_histograms(dark, bright, mask)
    w = mask[..., None]
    out_mean = (out * w).sum((0, 1)) / mask.sum()
    dst_mean = (bright * w).sum((0, 1)) / mask.sum()
    np.testing.assert_allclose(out_mean, dst_mean, atol=2.0)


def test_histogram_matching_is_a_monotone_lookup_for_every_pixel() -> None:
    source, target = smooth_image(8, low=0, high=255), smooth_image(9, low=50, high=200)
    hard = np.zeros(source.shape[:2], np.float32)
    hard[:, :40] = 1.0  # statistics from the left half only; the right half must still be remapped consistently
    out = match_histograms(source, target, hard)
    for c in range(3):
        order = np.argsort(source[..., c].ravel(), kind="stable")
        assert np.all(np.diff(out[..., c].ravel()[order].astype(int)) >= 0)
