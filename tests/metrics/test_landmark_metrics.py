"""Tests for synthvid.metrics.landmarks: smoke, exceptions, shapes, known values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from synthvid.errors import InputError
from synthvid.face.landmarks import LEFT_EYE_OUTER, NUM_LANDMARKS, RIGHT_EYE_OUTER, inter_ocular_distance
from synthvid.metrics import (
    landmark_distance,
    landmark_distance_sequence,
    opening_series,
    series_correlation,
    temporal_jitter,
)

IOD = 80.0


def _face(seed: int = 0) -> np.ndarray:
    """A fake 478 x 2 face: random points in a 200 x 200 box, outer eye corners IOD pixels apart."""
    points = np.random.default_rng(seed).uniform(50, 250, (NUM_LANDMARKS, 2)).astype(np.float32)
    points[RIGHT_EYE_OUTER] = (110, 120)
    points[LEFT_EYE_OUTER] = (110 + IOD, 120)
    return points


def _face_with_openings(mouth: float, eye: float) -> np.ndarray:
    """A fake face whose mouth_opening is ``mouth`` and eye_opening is ``eye`` (indices as face.landmarks uses)."""
    points = _face()
    width = 60.0
    points[[61, 291]] = [(120, 200), (120 + width, 200)]  # mouth corners
    for i, (top, bottom) in enumerate(((82, 87), (13, 14), (312, 317))):
        x = 130 + 20 * i
        points[top], points[bottom] = (x, 200 - mouth * width / 2), (x, 200 + mouth * width / 2)
    eye_width = 30.0
    for outer, inner, tops, bottoms, x0 in ((33, 133, (160, 159, 158), (144, 145, 153), 110),
                                            (263, 362, (385, 386, 387), (380, 374, 373), 190)):
        points[outer], points[inner] = (x0, 120), (x0 + eye_width, 120)
        for j, (top, bottom) in enumerate(zip(tops, bottoms)):
            points[top], points[bottom] = (x0 + 8 * (j + 1), 120 - eye * eye_width / 2), \
                (x0 + 8 * (j + 1), 120 + eye * eye_width / 2)
    return points


def _track(frames: int = 30, velocity: tuple[float, float] = (1.5, -0.5)) -> np.ndarray:
    """T x 478 x 3 sequence moving at constant velocity (z stays constant)."""
    base = np.concatenate([_face(), np.zeros((NUM_LANDMARKS, 1), np.float32)], axis=1)
    shift = np.arange(frames)[:, None, None] * np.array([*velocity, 0.0])[None, None]
    return (base[None] + shift).astype(np.float32)


# smoke

def test_smoke() -> None:
    track = _track()
    assert isinstance(landmark_distance(track[0], track[1]), float)
    assert isinstance(temporal_jitter(track), float)
    assert isinstance(series_correlation(opening_series(track, "mouth"), opening_series(track, "eye")), float)


# exceptions

def test_exceptions() -> None:
    face = _face()
    with pytest.raises(InputError, match="at least 468"):
        landmark_distance(face[:68], face[:68])
    with pytest.raises(InputError, match="N x 2/3"):
        landmark_distance(face[:, :1], face[:, :1])
    with pytest.raises(InputError, match="normalize"):
        landmark_distance(face, face, normalize="bbox")
    with pytest.raises(InputError, match="same number"):
        landmark_distance(_track(3), _track(4))
    with pytest.raises(InputError, match="at least 3 frames"):
        temporal_jitter(_track(2))
    with pytest.raises(InputError, match="T x N"):
        temporal_jitter(face)
    with pytest.raises(InputError, match="kind"):
        opening_series(_track(3), "nose")
    with pytest.raises(InputError, match="same length"):
        series_correlation(np.arange(3.0), np.arange(4.0))
    with pytest.raises(InputError, match="1-D"):
        series_correlation(np.zeros((3, 2)), np.zeros((3, 2)))
    degenerate = face.copy()
    degenerate[LEFT_EYE_OUTER] = degenerate[RIGHT_EYE_OUTER]
    with pytest.raises(InputError, match="inter-ocular"):
        landmark_distance(face, degenerate)
    nan_face = face.copy()
    nan_face[3, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        landmark_distance(nan_face, face)


# shapes

def test_shapes() -> None:
    track = _track(7)
    assert landmark_distance_sequence(track, track).shape == (7,)
    assert opening_series(track, "mouth").shape == (7,)
    assert opening_series(track[..., :2], "eye").dtype == np.float64


# known values

@pytest.mark.parametrize("d", [0.0, 2.0, 12.5])
def test_translated_copy_distance(d: float) -> None:
    face = _face()
    moved = face + np.array([d * 0.6, d * 0.8], np.float32)  # |(0.6 d, 0.8 d)| = d
    assert landmark_distance(moved, face) == pytest.approx(d / IOD, abs=1e-5)
    assert landmark_distance(moved, face, normalize="none") == pytest.approx(d, abs=1e-4)


def test_distance_ignores_z_and_averages_sequences() -> None:
    track = _track(5)
    moved = track.copy()
    moved[..., 2] += 100.0  # depth differences are ignored
    moved[2, :, 0] += 4.0   # one frame shifted 4 px
    per_frame = landmark_distance_sequence(moved, track)
    np.testing.assert_allclose(per_frame, [0, 0, 4 / IOD, 0, 0], atol=1e-6)
    assert landmark_distance(moved, track) == pytest.approx(4 / IOD / 5, abs=1e-6)


def test_jitter_constant_velocity_is_zero_and_grows_with_noise() -> None:
    track = _track(40)
    assert temporal_jitter(track) == pytest.approx(0.0, abs=1e-6)
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(track.shape).astype(np.float32)
    noise[..., 2] = 0
    jitters = [temporal_jitter(track + sigma * noise) for sigma in (0.25, 1.0, 4.0)]
    assert jitters[0] < jitters[1] < jitters[2]
    # Independent noise of s pixels per coordinate: mean |acceleration| is sqrt(3 pi) s.
    assert jitters[1] == pytest.approx(math.sqrt(3 * math.pi) / IOD, rel=0.05)
    noisy = track + noise
    mean_iod = np.mean([inter_ocular_distance(frame) for frame in noisy])  # the noise moves the eye corners too
    assert temporal_jitter(noisy, normalize="none") == pytest.approx(jitters[1] * mean_iod, rel=1e-6)


@pytest.mark.parametrize("mouth, eye", [(0.0, 0.3), (1 / 3, 0.1), (0.5, 0.25)])
def test_opening_series_known_ratios(mouth: float, eye: float) -> None:
    track = np.stack([_face_with_openings(mouth, eye), _face_with_openings(mouth / 2, eye / 2)])
    np.testing.assert_allclose(opening_series(track, "mouth"), [mouth, mouth / 2], atol=1e-6)
    np.testing.assert_allclose(opening_series(track, "eye"), [eye, eye / 2], atol=1e-6)


def test_series_correlation_known_values() -> None:
    x = np.random.default_rng(0).standard_normal(50)
    assert series_correlation(x, 2 * x + 1) == pytest.approx(1.0)
    assert series_correlation(x, -x) == pytest.approx(-1.0)
    assert math.isnan(series_correlation(x, np.full(50, 3.0)))
    assert series_correlation(np.arange(4), np.array([1.0, 0.0, 0.0, 1.0])) == pytest.approx(0.0)
