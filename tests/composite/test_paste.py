"""Pasting a crop back into its frame: smoke, exceptions, shapes and known values (round trip, ROI-only edits)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from synthvid.composite.blend import BLEND_METHODS
from synthvid.composite.paste import crop_scale, paste_back, roi_of_crop, warp_to_frame
from synthvid.errors import InputError

FRAME_H, FRAME_W = 240, 320
CROP = 128


def synthetic_frame(seed: int = 0) -> np.ndarray:
    """Seeded smooth noise with a few solid shapes, blurred slightly so resampling errors stay small."""
    rng = np.random.default_rng(seed)
    frame = cv2.GaussianBlur(rng.integers(0, 256, (FRAME_H, FRAME_W, 3), np.uint8), (0, 0), 2.0)
    cv2.circle(frame, (150, 110), 30, (220, 40, 40), -1)
    cv2.rectangle(frame, (170, 130), (210, 170), (30, 200, 90), -1)
    return cv2.GaussianBlur(frame, (0, 0), 1.0)


def face_affine(centre: tuple[float, float] = (160, 120), angle: float = 20.0, scale: float = 1.25) -> np.ndarray:
    """Frame -> crop affine: rotate by ``angle`` and scale by ``scale`` about ``centre``, which lands mid-crop."""
    affine = cv2.getRotationMatrix2D(centre, angle, scale)
    affine[:, 2] += (CROP / 2 - centre[0], CROP / 2 - centre[1])
    return affine.astype(np.float32)


def oval_mask() -> np.ndarray:
    mask = np.zeros((CROP, CROP), np.float32)
    cv2.ellipse(mask, (CROP // 2, CROP // 2), (45, 55), 0, 0, 360, 1.0, -1)
    return mask


def outside_roi(roi: tuple[int, int, int, int]) -> np.ndarray:
    x0, y0, x1, y1 = roi
    keep = np.ones((FRAME_H, FRAME_W), bool)
    keep[y0:y1, x0:x1] = False
    return keep


# -- smoke / shapes -------------------------------------------------------------------------------------------------


def test_paste_back_returns_new_frame_of_same_shape() -> None:
    frame = synthetic_frame()
    crop = synthetic_frame(1)[:CROP, :CROP].copy()
    before = frame.copy()
    out = paste_back(frame, crop, oval_mask(), face_affine())
    assert out.dtype == np.uint8 and out.shape == frame.shape
    assert out is not frame
    np.testing.assert_array_equal(frame, before)  # the input is not written to


def test_warp_to_frame_shapes() -> None:
    affine = face_affine()
    roi = roi_of_crop(affine, (CROP, CROP), (FRAME_H, FRAME_W))
    crop_roi, mask_roi = warp_to_frame(synthetic_frame()[:CROP, :CROP].copy(), oval_mask(), affine, roi)
    assert crop_roi.shape == (roi[3] - roi[1], roi[2] - roi[0], 3) and crop_roi.dtype == np.uint8
    assert mask_roi.shape == crop_roi.shape[:2] and mask_roi.dtype == np.float32
    assert 0.0 <= mask_roi.min() and mask_roi.max() <= 1.0


# -- exceptions -----------------------------------------------------------------------------------------------------


def test_wrong_inputs_are_reported() -> None:
    frame, crop, mask, affine = synthetic_frame(), np.zeros((CROP, CROP, 3), np.uint8), oval_mask(), face_affine()
    with pytest.raises(InputError, match=r"crop must be a uint8.*\(128, 128\)"):
        paste_back(frame, crop[..., 0], mask, affine)
    with pytest.raises(InputError, match=r"mask has shape \(64, 64\), expected \(128, 128\)"):
        paste_back(frame, crop, mask[:64, :64], affine)
    with pytest.raises(InputError, match="affine must be a 2 x 3"):
        paste_back(frame, crop, mask, np.eye(3, dtype=np.float32))
    with pytest.raises(InputError, match="not an invertible"):
        paste_back(frame, crop, mask, np.zeros((2, 3), np.float32))
    with pytest.raises(InputError, match="feather"):
        paste_back(frame, crop, mask, affine, feather=-2)


def test_unknown_methods_are_reported_even_when_nothing_would_be_pasted() -> None:
    frame, crop, mask = synthetic_frame(), np.zeros((CROP, CROP, 3), np.uint8), oval_mask()
    far_away = face_affine(centre=(5000, 5000))
    with pytest.raises(InputError, match="unknown blend method 'soft'"):
        paste_back(frame, crop, mask, far_away, blend_method="soft")
    with pytest.raises(InputError, match="unknown colour method 'auto'"):
        paste_back(frame, crop, mask, far_away, color_method="auto")


# -- known values ---------------------------------------------------------------------------------------------------


def test_crop_scale_is_the_similarity_scale() -> None:
    assert crop_scale(face_affine(angle=33.0, scale=1.25)) == pytest.approx(1.25, rel=1e-5)
    assert crop_scale(np.array([[2, 0, 5], [0, 0.5, 7]], np.float32)) == pytest.approx(1.0, rel=1e-6)


def test_roi_of_translation_is_the_shifted_square() -> None:
    # frame -> crop subtracts (40, 30): the crop covers frame columns 40..167, rows 30..157, plus one pixel of
    # bilinear reach on each side.
    affine = np.array([[1, 0, -40], [0, 1, -30]], np.float32)
    assert roi_of_crop(affine, (CROP, CROP), (FRAME_H, FRAME_W)) == (39, 29, 169, 159)
    clipped = np.array([[1, 0, 20], [0, 1, 10]], np.float32)
    assert roi_of_crop(clipped, (CROP, CROP), (FRAME_H, FRAME_W)) == (0, 0, 109, 119)


def test_round_trip_restores_the_frame() -> None:
    frame, affine = synthetic_frame(), face_affine()
    crop = cv2.warpAffine(frame, affine, (CROP, CROP), flags=cv2.INTER_LINEAR)
    out = paste_back(frame, crop, np.ones((CROP, CROP), np.float32), affine,
                     blend_method="feather", color_method="none", feather=0)
    roi = roi_of_crop(affine, (CROP, CROP), frame.shape)
    np.testing.assert_array_equal(out[outside_roi(roi)], frame[outside_roi(roi)])
    # Where the crop fully covers the frame (eroded by 2 px), the pasted pixels are the frame resampled twice.
    cover = cv2.warpAffine(np.ones((CROP, CROP), np.float32), affine, (FRAME_W, FRAME_H),
                           flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
    face = cv2.erode((cover >= 0.999).astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    assert face.sum() > 0.5 * (CROP / 1.25) ** 2
    error = np.abs(out[face].astype(int) - frame[face])
    assert error.mean() < 1.0
    assert np.percentile(error, 99) <= 4


@pytest.mark.parametrize("method", BLEND_METHODS)
def test_paste_back_only_changes_the_roi(method: str) -> None:
    frame, affine = synthetic_frame(), face_affine(centre=(40, 200), angle=-35.0, scale=1.6)  # clipped by edges
    crop = synthetic_frame(3)[50:50 + CROP, 60:60 + CROP].copy()
    out = paste_back(frame, crop, oval_mask(), affine, blend_method=method, color_method="reinhard")
    roi = roi_of_crop(affine, (CROP, CROP), frame.shape)
    assert roi[0] == 0 and roi[3] == FRAME_H  # the face runs off the left and bottom edges
    np.testing.assert_array_equal(out[outside_roi(roi)], frame[outside_roi(roi)])
    assert np.any(out != frame)


def test_pasted_face_takes_the_crop_colour_inside_the_mask() -> None:
    frame, affine = synthetic_frame(), face_affine()
    crop = np.full((CROP, CROP, 3), (10, 250, 130), np.uint8)
    out = paste_back(frame, crop, oval_mask(), affine, color_method="none")
    # The crop's centre is the frame point (160, 120), deep inside the oval: no feathering reaches it.
    np.testing.assert_array_equal(out[120, 160], (10, 250, 130))
    np.testing.assert_array_equal(out[5, 5], frame[5, 5])


def test_crop_outside_the_frame_leaves_it_unchanged() -> None:
    frame = synthetic_frame()
    for centre in ((-500.0, 120.0), (160.0, 900.0)):
        out = paste_back(frame, np.zeros((CROP, CROP, 3), np.uint8), oval_mask(), face_affine(centre=centre))
        np.testing.assert_array_equal(out, frame)
        assert out is not frame


def test_large_enlargement_matches_a_direct_bicubic_warp() -> None:
    # A 128 px crop painted over a ~560 px face, rotated: the two-step path (bicubic resize, bilinear warp) gives
    # the direct bicubic warp's picture.
    rng = np.random.default_rng(3)
    crop = cv2.GaussianBlur(rng.integers(0, 256, (128, 128, 3), dtype=np.uint8), (0, 0), 1.5)
    mask = np.ones((128, 128), np.float32)
    a, s = np.deg2rad(9.0), 128 / 560
    affine = np.array([[s * np.cos(a), s * np.sin(a), -20.0], [-s * np.sin(a), s * np.cos(a), -15.0]], np.float32)
    roi = roi_of_crop(affine, (128, 128), (720, 1280))
    got, alpha = warp_to_frame(crop, mask, affine, roi)
    local = affine.astype(np.float64).copy()
    local[:, 2] += local[:, :2] @ np.array(roi[:2], np.float64)
    size = (roi[2] - roi[0], roi[3] - roi[1])
    direct = cv2.warpAffine(crop, local, size, flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                            borderMode=cv2.BORDER_REPLICATE)
    inside = cv2.erode((alpha > 0.999).astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    assert inside.mean() > 0.4
    err = got[inside].astype(np.float64) - direct[inside].astype(np.float64)
    assert 10 * np.log10(255.0 ** 2 / max(np.mean(err ** 2), 1e-9)) > 45.0
