"""Keeping a portrait's background still: the person's mask, the fading of the warp's motion away from the person,
and its use by the re-renderer."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from synthvid.face.canonical import canonical_face
from synthvid.face.pose import euler_to_rotation
from synthvid.reenact import transfer as T
from synthvid.reenact.layers import (MIN_JACOBIAN, StillBackground, _jacobian, distance_from_person, motion_weight,
                                     person_mask)
from synthvid.reenact.motion import FaceState
from synthvid.reenact.render import rerender
from synthvid.reenact.warp import WarpMap


def _disc_mask(h: int, w: int, center: tuple[int, int], radius: int) -> np.ndarray:
    mask = np.zeros((h, w), np.float32)
    cv2.circle(mask, center, radius, 1.0, -1)
    return mask


def test_motion_weight_is_one_on_the_person_and_fades_to_zero():
    mask = _disc_mask(100, 100, (50, 50), 20)
    dist = distance_from_person(mask)
    assert dist[50, 50] == 0 and dist[50, 80] == pytest.approx(10, abs=1)
    w = motion_weight(dist, band=20.0)
    assert w[50, 50] == 1.0 and w[50, 69] == 1.0  # the whole person
    assert w[50, 95] == 0.0 and w[0, 0] == 0.0  # beyond the band
    row = w[50, 70:95]
    assert np.all(np.diff(row) <= 1e-6) and 0 < w[50, 80] < 1  # a smooth fall in between
    assert (distance_from_person(np.zeros((4, 4), np.float32)) >= 1e6).all()  # nobody: no motion anywhere
    assert motion_weight(distance_from_person(np.zeros((4, 4), np.float32)), 5.0).max() == 0.0


def test_restrict_keeps_the_person_moving_and_the_background_still_without_folds():
    h = w = 160
    still = StillBackground(np.zeros((h, w, 3), np.uint8), face_size=40.0, mask=_disc_mask(h, w, (80, 80), 30))
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    shift = WarpMap((0, 0, w, h), gx - 12.0, gy.copy())  # everything moves 12 px right (samples from the left)
    r = still.restrict(shift)
    assert r.map_x[80, 80] == pytest.approx(68.0) and r.map_x[80, 60] == pytest.approx(48.0)  # the person
    # a 12 px shift is too much for the 4 px band (0.1 face sizes): it was widened so that nothing folds
    assert still.band == pytest.approx(4.0) and 12.0 < still.last_band < 4.0 * 1.5 ** 5
    far = still.distance > still.last_band + 12
    assert far.sum() > 5000 and np.array_equal(r.map_x[far], gx[far]) and np.array_equal(r.map_y, gy)
    fading = (still.distance > 0) & (still.distance < still.last_band)
    assert _jacobian(r.map_x, r.map_y)[fading].min() >= MIN_JACOBIAN
    narrow = gx + motion_weight(still.distance, still.band) * -12.0
    assert _jacobian(narrow, gy).min() < 0  # (what the narrow band alone would have done)
    # a 478 x 3 landmark array (non-contiguous x, y view) marks the face as the person
    face = np.zeros((478, 3), np.float32)
    face[:, :2] = np.random.default_rng(0).uniform(20, 40, (478, 2))
    with_face = StillBackground(np.zeros((h, w, 3), np.uint8), 40.0, mask=np.zeros((h, w), np.float32), face=face)
    assert with_face.mask[30, 30] == 1.0 and with_face.mask[100, 100] == 0.0


def test_rerender_with_a_still_background_moves_only_the_person():
    rng = np.random.default_rng(1)
    img = cv2.GaussianBlur(rng.integers(0, 255, (400, 400, 3), dtype=np.uint8), (0, 0), 1.0)
    pose = T.make_pose(np.eye(3), np.array([200.0, 200.0, 0.0]), 50.0)
    st = FaceState.of(T.place(canonical_face(), pose))
    turned = T.make_pose(euler_to_rotation(0, 0, 10), st.pose.translation, st.pose.scale)
    mask = _disc_mask(400, 400, (200, 190), 90)
    still = StillBackground(img, face_size=100.0, mask=mask)
    plain = rerender(img, st.landmarks, st.pose, st.frontal, turned, mouth="none")
    kept = rerender(img, st.landmarks, st.pose, st.frontal, turned, mouth="none", still=still)
    np.testing.assert_allclose(kept.landmarks, plain.landmarks)  # the face lands in the same place
    far = still.distance > still.last_band + 30  # beyond the band it used (plus the head's motion)
    assert np.array_equal(kept.frame[far], img[far])
    bent = (plain.frame != img).any(-1) & far
    assert bent.sum() > 2000  # ... where the plain warp bent the background
    face = (slice(180, 220), slice(180, 220))
    assert np.array_equal(kept.frame[face], plain.frame[face])  # the person is rendered as before


def test_the_face_always_moves_even_when_segmentation_misses_it():
    h = w = 120
    face = np.array([[40, 40], [80, 40], [80, 90], [40, 90]], np.float32)
    still = StillBackground(np.zeros((h, w, 3), np.uint8), face_size=50.0, mask=np.zeros((h, w), np.float32),
                            face=face)
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    r = still.restrict(WarpMap((0, 0, w, h), gx - 3.0, gy.copy()))
    assert r.map_x[60, 60] == pytest.approx(57.0)  # inside the face: the full motion
    assert r.map_x[60, 115] == 115.0  # well away from it: none


def test_person_mask_finds_the_astronaut():
    skimage = pytest.importorskip("skimage.data")
    img = skimage.astronaut()
    mask = person_mask(img)
    assert mask.shape == img.shape[:2] and mask.dtype == np.float32
    assert mask[100, 220] > 0.9  # her face
    assert mask[30, 480] < 0.1 and mask[30, 30] < 0.1  # the studio wall and the flag
