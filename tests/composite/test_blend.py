"""Blending: smoke, exceptions, shapes and known values on seeded synthetic images."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from synthvid.composite.blend import (
    BLEND_METHODS,
    blend,
    blend_feather,
    blend_laplacian,
    blend_poisson,
    feather_mask,
)
from synthvid.errors import InputError


def noise_image(seed: int, shape: tuple[int, int] = (64, 80), sigma: float = 1.5) -> np.ndarray:
    """Seeded blurred noise stretched to the full 8-bit range."""
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.random((*shape, 3)).astype(np.float32), (0, 0), sigma)
    img = (img - img.min()) / (img.max() - img.min())
    return np.rint(img * 255).astype(np.uint8)


def disk(shape: tuple[int, int], centre: tuple[int, int], radius: int) -> np.ndarray:
    mask = np.zeros(shape, np.float32)
    cv2.circle(mask, centre, radius, 1.0, -1)
    return mask


# -- smoke / shapes -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", BLEND_METHODS)
@pytest.mark.parametrize("shape", [(64, 80), (101, 77), (9, 13)])
def test_every_method_returns_frame_of_same_shape(method: str, shape: tuple[int, int]) -> None:
    fg, bg = noise_image(0, shape), noise_image(1, shape)
    mask = feather_mask(disk(shape, (shape[1] // 2, shape[0] // 2), min(shape) // 3), 4)
    out = blend(fg, bg, mask, method=method)
    assert out.dtype == np.uint8 and out.shape == fg.shape


def test_blend_methods_are_exported() -> None:
    assert BLEND_METHODS == ("feather", "poisson", "laplacian")


# -- exceptions -----------------------------------------------------------------------------------------------------


def test_mismatched_shapes_are_reported() -> None:
    with pytest.raises(InputError, match=r"same shape.*\(64, 80, 3\).*\(32, 32, 3\)"):
        blend_feather(noise_image(0), noise_image(1, (32, 32)), np.ones((64, 80), np.float32))


def test_wrong_dtype_is_reported() -> None:
    with pytest.raises(InputError, match=r"fg.*float64"):
        blend_laplacian(noise_image(0).astype(np.float64), noise_image(1), np.ones((64, 80), np.float32))


def test_mask_out_of_range_is_reported() -> None:
    with pytest.raises(InputError, match=r"mask values must lie in \[0, 1\]"):
        blend_poisson(noise_image(0), noise_image(1), np.full((64, 80), 2.0, np.float32))


def test_wrong_mask_shape_is_reported() -> None:
    with pytest.raises(InputError, match=r"mask has shape \(64, 79\)"):
        blend(noise_image(0), noise_image(1), np.ones((64, 79), np.float32))


def test_unknown_method_lists_valid_ones() -> None:
    with pytest.raises(InputError, match=r"'alpha'.*feather, poisson, laplacian"):
        blend(noise_image(0), noise_image(1), np.ones((64, 80), np.float32), method="alpha")


def test_bad_radius_and_levels_are_reported() -> None:
    with pytest.raises(InputError, match="feather radius"):
        feather_mask(np.ones((8, 8), np.float32), -1)
    with pytest.raises(InputError, match="levels"):
        blend_laplacian(noise_image(0), noise_image(1), np.ones((64, 80), np.float32), levels=0)


# -- known values ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", BLEND_METHODS)
def test_full_mask_gives_fg_and_empty_mask_gives_bg(method: str) -> None:
    fg, bg = noise_image(2, (50, 70)), noise_image(3, (50, 70))
    np.testing.assert_array_equal(blend(fg, bg, np.ones((50, 70), np.float32), method), fg)
    np.testing.assert_array_equal(blend(fg, bg, np.zeros((50, 70), np.float32), method), bg)


def test_feather_blend_of_half_mask_is_the_average() -> None:
    fg, bg = np.full((4, 4, 3), 200, np.uint8), np.full((4, 4, 3), 100, np.uint8)
    out = blend_feather(fg, bg, np.full((4, 4), 0.5, np.float32))
    np.testing.assert_array_equal(out, np.full((4, 4, 3), 150, np.uint8))
    out = blend_feather(fg, bg, np.full((4, 4), 0.25, np.float32))
    np.testing.assert_array_equal(out, np.full((4, 4, 3), 125, np.uint8))


def test_laplacian_of_identical_images_is_that_image_at_odd_size() -> None:
    image = noise_image(4, (101, 77), sigma=0.7)
    mask = np.random.default_rng(5).random((101, 77)).astype(np.float32)
    out = blend_laplacian(image, image, mask)
    assert np.abs(out.astype(int) - image).max() <= 1


def test_laplacian_keeps_each_side_far_from_the_seam() -> None:
    fg, bg = noise_image(6, (96, 128)), noise_image(7, (96, 128))
    mask = np.zeros((96, 128), np.float32)
    mask[:, :64] = 1.0
    out = blend_laplacian(fg, bg, mask, levels=4).astype(int)
    # 2^4 = 16 px coarsest cell: the low band reaches ~ two cells across the seam, so 40 px away is untouched.
    assert np.abs(out[:, :24] - fg[:, :24]).max() <= 2
    assert np.abs(out[:, 104:] - bg[:, 104:]).max() <= 2


def test_feathered_mask_stays_inside_the_original_and_is_smooth() -> None:
    mask = disk((120, 120), (60, 60), 40)
    soft = feather_mask(mask, 20)
    assert soft.dtype == np.float32 and soft.shape == mask.shape
    assert np.all(soft <= mask + 1e-6)  # no halo outside the hull
    assert soft[60, 60] == pytest.approx(1.0, abs=1e-6)  # the interior stays opaque
    steps = max(np.abs(np.diff(soft, axis=0)).max(), np.abs(np.diff(soft, axis=1)).max())
    assert steps < 0.2  # the hard 0 -> 1 step is spread over several pixels


def test_feathering_a_soft_mask_never_raises_it() -> None:
    mask = np.random.default_rng(8).random((40, 50)).astype(np.float32)
    assert np.all(feather_mask(mask, 7) <= mask + 1e-6)


def test_feather_radius_zero_returns_mask_unchanged() -> None:
    mask = disk((30, 30), (15, 15), 9)
    np.testing.assert_array_equal(feather_mask(mask, 0), mask)


def test_feather_does_not_erode_from_the_image_border() -> None:
    mask = np.ones((40, 40), np.float32)
    np.testing.assert_allclose(feather_mask(mask, 10), mask, atol=1e-6)


def test_poisson_with_mask_touching_border_matches_bg_outside() -> None:
    fg, bg = noise_image(9, (60, 60)), noise_image(10, (60, 60))
    mask = np.zeros((60, 60), np.float32)
    mask[:30, :25] = 1.0  # touches the top and left edges
    out = blend_poisson(fg, bg, mask)
    np.testing.assert_array_equal(out[mask == 0], bg[mask == 0])


def test_poisson_hides_a_constant_offset() -> None:
    # fg has bg's gradients but is uniformly brighter: seamless cloning keeps the gradients and takes the level
    # from bg at the boundary, so the result is bg again.
    bg = np.clip(noise_image(11, (80, 80)).astype(int) // 2 + 40, 0, 255).astype(np.uint8)
    fg = (bg.astype(int) + 60).astype(np.uint8)
    mask = disk((80, 80), (40, 40), 25)
    out = blend_poisson(fg, bg, mask)
    inside = mask > 0.5
    assert np.abs(out[inside].astype(int) - bg[inside]).mean() < 3
    assert np.abs(blend_feather(fg, bg, mask)[inside].astype(int) - bg[inside]).mean() > 50


def test_poisson_keeps_soft_edge() -> None:
    fg, bg = noise_image(12, (60, 60)), np.full((60, 60, 3), 90, np.uint8)
    mask = feather_mask(disk((60, 60), (30, 30), 20), 10)
    hard = (mask > 0.5).astype(np.float32)
    soft_out = blend_poisson(fg, bg, mask).astype(int)
    hard_out = blend_poisson(fg, bg, hard).astype(int)
    # Both clone the same region; the soft mask then only fades the clone toward bg across the feathered rim.
    full = mask >= 1.0
    np.testing.assert_array_equal(soft_out[full], hard_out[full])
    rim = (mask > 0.5) & (mask < 0.9)
    assert rim.any()
    soft_dev, hard_dev = np.abs(soft_out[rim] - bg[rim]), np.abs(hard_out[rim] - bg[rim])
    assert np.all(soft_dev <= hard_dev + 1)
    assert soft_dev.mean() < 0.9 * hard_dev.mean()


@pytest.mark.parametrize("box", [(0, 0, 1, 1), (20, 25, 1, 1), (39, 49, 1, 1), (5, 10, 30, 1), (5, 10, 2, 2)])
def test_poisson_with_sliver_mask_returns_bg(box: tuple[int, int, int, int]) -> None:
    fg, bg = noise_image(13, (40, 50)), noise_image(14, (40, 50))
    y, x, h, w = box
    mask = np.zeros((40, 50), np.float32)
    mask[y:y + h, x:x + w] = 1.0
    np.testing.assert_array_equal(blend_poisson(fg, bg, mask), bg)
