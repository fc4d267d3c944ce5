"""Landmark topology, shape measures, smoothing, and similarity transforms."""

from __future__ import annotations

import numpy as np
import pytest

from synthvid.errors import InputError
from synthvid.face import landmarks as L
from synthvid.face.canonical import canonical_face
from synthvid.face.geometry import (affine_scale, compose_affine, invert_affine, similarity_matrix, transform_points,
                                    umeyama)


def test_index_sets_are_valid_and_distinct():
    for name in ("FACE_OVAL", "RIGHT_EYE", "LEFT_EYE", "LIPS_OUTER", "LIPS_INNER", "NOSE", "STABLE"):
        idx = getattr(L, name)
        assert len(idx) == len(set(idx)), name
        assert all(0 <= i < L.NUM_LANDMARKS for i in idx), name
    assert not set(L.STABLE) & set(L.LIPS_OUTER + L.LIPS_INNER)


def test_canonical_face_is_frontal_symmetric_and_normalised():
    c = canonical_face()
    assert c.shape == (478, 3) and c.dtype == np.float32
    assert np.linalg.norm(c[L.LEFT_EYE_OUTER] - c[L.RIGHT_EYE_OUTER]) == pytest.approx(1.0, abs=1e-4)
    for r, l in L.SYMMETRIC_PAIRS:  # mirror images across x = 0
        assert c[r, 0] == pytest.approx(-c[l, 0], abs=0.02)
        assert c[r, 1] == pytest.approx(c[l, 1], abs=0.02)
    assert c[L.CHIN, 1] > c[L.NOSE_TIP, 1] > c[L.FOREHEAD, 1]  # y points down
    assert c[L.NOSE_TIP, 2] < c[L.RIGHT_EYE_OUTER, 2]  # nose nearer the camera


def _canonical_pixels(scale=100.0, offset=(200.0, 150.0)):
    pts = canonical_face()[:, :2] * scale + np.array(offset, np.float32)
    return np.concatenate([pts, canonical_face()[:, 2:] * scale], axis=1).astype(np.float32)


def test_mouth_and_eye_opening_known_values():
    pts = _canonical_pixels()
    base_mouth = L.mouth_opening(pts)
    width = np.linalg.norm(pts[L.MOUTH_RIGHT, :2] - pts[L.MOUTH_LEFT, :2])
    opened = pts.copy()
    opened[[87, 14, 317], 1] += 0.3 * width  # lower inner lip drops by 0.3 mouth widths
    assert L.mouth_opening(opened) == pytest.approx(base_mouth + 0.3, abs=0.02)
    shut = pts.copy()
    shut[[144, 145, 153], :2] = shut[[160, 159, 158], :2]
    shut[[380, 374, 373], :2] = shut[[385, 386, 387], :2]
    assert L.eye_opening(shut) < 0.02 < L.eye_opening(pts)
    assert L.inter_ocular_distance(pts) == pytest.approx(100.0, rel=1e-4)


def test_one_euro_smooths_noise_but_follows_steps():
    rng = np.random.default_rng(0)
    noisy = 5.0 + rng.normal(0, 1.0, (200, 3))
    f = L.OneEuroFilter(fps=30, min_cutoff=1.0, beta=0.0)
    out = np.stack([f(x) for x in noisy])
    assert out[50:].std() < 0.35 * noisy[50:].std()
    step = np.concatenate([np.zeros(30), np.full(60, 100.0)])
    f = L.OneEuroFilter(fps=30, min_cutoff=1.0, beta=1.0)
    out = np.array([f(np.array([x]))[0] for x in step])
    assert out[29] == 0 and abs(out[-1] - 100.0) < 1.0  # settles after the jump
    with pytest.raises(ValueError):
        L.OneEuroFilter(fps=0)


@pytest.mark.parametrize("dims", [2, 3])
def test_umeyama_recovers_a_known_similarity(dims):
    rng = np.random.default_rng(1)
    src = rng.normal(size=(40, dims))
    angle = 0.4
    rot = np.eye(dims)
    rot[:2, :2] = [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
    dst = 2.5 * src @ rot.T + np.arange(1, dims + 1)
    s, r, t = umeyama(src, dst)
    assert s == pytest.approx(2.5, abs=1e-9)
    np.testing.assert_allclose(r, rot, atol=1e-9)
    np.testing.assert_allclose(t, np.arange(1, dims + 1), atol=1e-9)
    with pytest.raises(InputError):
        umeyama(src, dst[:5])


def test_umeyama_never_returns_a_reflection():
    rng = np.random.default_rng(2)
    src = rng.normal(size=(20, 2))
    _, r, _ = umeyama(src, src * np.array([-1.0, 1.0]))
    assert np.linalg.det(r) == pytest.approx(1.0)


def test_affine_helpers_round_trip():
    m = similarity_matrix(np.array([[0, 0], [1, 0], [0, 1]], np.float32), np.array([[5, 5], [5, 7], [3, 5]], np.float32))
    assert affine_scale(m) == pytest.approx(2.0, rel=1e-5)
    pts = np.array([[3.0, 4.0, 1.0], [-2.0, 0.5, 2.0]], np.float32)
    back = transform_points(transform_points(pts, m), invert_affine(m))
    np.testing.assert_allclose(back, pts, atol=1e-4)
    np.testing.assert_allclose(compose_affine(invert_affine(m), m), np.eye(2, 3), atol=1e-5)
    with pytest.raises(InputError):
        invert_affine(np.zeros((2, 3), np.float32))
