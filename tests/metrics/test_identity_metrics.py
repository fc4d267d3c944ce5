"""Tests for synthvid.metrics.identity: synthetic descriptors, and real dlib descriptors of the astronaut."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data

from synthvid.errors import InputError
from synthvid.face.identity import embed_face
from synthvid.face.landmarks import CHIN, LEFT_EYEBROW, NUM_LANDMARKS, RIGHT_EYEBROW
from synthvid.metrics import closer_to, identity_distance, share_closer_to

ASTRONAUT_FACE = (170, 50, 290, 190)


def test_identity_distance_known_value() -> None:
    e1 = np.zeros(128, np.float32)
    e2 = np.zeros(128, np.float32)
    e2[:4] = 0.3  # |(0.3, 0.3, 0.3, 0.3)| = 0.6
    assert identity_distance(e1, e2) == pytest.approx(0.6)
    assert identity_distance(e2, e2) == 0.0


def test_identity_distance_exceptions() -> None:
    with pytest.raises(InputError, match="same size"):
        identity_distance(np.zeros(128), np.zeros(64))
    with pytest.raises(InputError, match="descriptor"):
        identity_distance(np.zeros((1, 128)), np.zeros(128))
    with pytest.raises(InputError, match="NaN"):
        identity_distance(np.full(128, np.nan), np.zeros(128))


def test_closer_to_and_share() -> None:
    rng = np.random.default_rng(0)
    ref_a, ref_b = rng.standard_normal(128), rng.standard_normal(128)
    weights = np.array([0.0, 0.2, 0.45, 0.55, 0.9, 1.0])  # position on the segment from a to b
    embeddings = ref_a + weights[:, None] * (ref_b - ref_a)  # 6 x 128
    np.testing.assert_array_equal(closer_to(embeddings, ref_b, ref_a), weights > 0.5)
    assert closer_to(embeddings, ref_b, ref_a).shape == (6,)
    assert share_closer_to(embeddings, ref_b, ref_a) == pytest.approx(0.5)
    assert closer_to(ref_b, ref_b, ref_a).tolist() == [True]  # one D-vector counts as N = 1
    with pytest.raises(InputError, match="references"):
        closer_to(embeddings, ref_b[:64], ref_a)
    with pytest.raises(InputError, match="at least one"):
        share_closer_to(np.zeros((0, 128)), ref_b, ref_a)


def _landmarks_spanning(box: tuple[int, int, int, int]) -> np.ndarray:
    """Fake 478 x 2 landmarks whose extent (width, brows to chin) is ``box``: embed_face derives its dlib box so."""
    x0, y0, x1, y1 = box
    rng = np.random.default_rng(0)
    points = np.stack([rng.uniform(x0, x1, NUM_LANDMARKS), rng.uniform(y0 + 20, y1 - 20, NUM_LANDMARKS)], 1)
    points[:2, 0] = (x0, x1)
    points[list(RIGHT_EYEBROW + LEFT_EYEBROW), 1] = y0
    points[CHIN, 1] = y1
    return points.astype(np.float32)


def test_dlib_descriptors_of_astronaut() -> None:
    # The real dlib model through synthvid.face.identity, compared with the metrics here.
    image = skimage.data.astronaut()  # 512 x 512 x 3 uint8
    original = embed_face(image, _landmarks_spanning(ASTRONAUT_FACE))
    assert original.shape == (128,) and original.dtype == np.float32
    assert 1.0 < np.linalg.norm(original) < 2.0  # dlib descriptors are not unit vectors (about 1.46 here)
    # Shifted by (4, 3) px and brightened: the same person, well inside dlib's 0.6 threshold.
    shifted = np.clip(np.roll(image, (3, 4), axis=(0, 1)).astype(np.int16) + 15, 0, 255).astype(np.uint8)
    moved_box = (ASTRONAUT_FACE[0] + 4, ASTRONAUT_FACE[1] + 3, ASTRONAUT_FACE[2] + 4, ASTRONAUT_FACE[3] + 3)
    same = embed_face(shifted, _landmarks_spanning(moved_box))
    assert identity_distance(original, same) < 0.3
    assert closer_to(same, original, -original).tolist() == [True]
