"""A small, identity-normalised expression code measured from landmarks.

Ten measures of the pose-free (frontalised) face — mouth opening and width, smile, lip and jaw movement, each
eye's opening, each brow's raise — all in inter-ocular units. Standardised per person (z-scores against that
person's own mean and spread), they say "how open is the mouth *for this person*", which transfers from one
face to another: the face-swap decoders take it as a guide so that B's face opens its mouth and blinks when A does.
"""

from __future__ import annotations

import numpy as np

from synthvid.errors import InputError
from synthvid.face import landmarks as L
from synthvid.face.pose import frontalize
from synthvid.types import Landmarks, check_landmarks

FEATURES = ("mouth_open", "mouth_width", "smile", "upper_lip", "jaw_drop",
            "eye_open_right", "eye_open_left", "brow_right", "brow_left", "mouth_shift")
# Index permutation giving the features of the horizontally mirrored face (right and left swap).
MIRROR = (0, 1, 2, 3, 4, 6, 5, 8, 7, 9)
MIRROR_SIGN = np.array([1, 1, 1, 1, 1, 1, 1, 1, 1, -1], dtype=np.float32)
MIN_STD = 0.02  # floor on a person's spread, so a feature that barely moves in the data is not blown up
Z_LIMIT = 4.0


def expression_features(points: Landmarks) -> np.ndarray:
    """The raw (not standardised) expression measures of one face's 478 x 3 landmarks: float32 (10,)."""
    pts = check_landmarks(points, dims=(3,))
    p = frontalize(pts).astype(np.float64)  # canonical units: 1 = outer inter-ocular distance, y down
    mouth_c = (p[L.LIP_INNER_TOP] + p[L.LIP_INNER_BOTTOM]) / 2
    corners = (p[L.MOUTH_RIGHT] + p[L.MOUTH_LEFT]) / 2
    eye_line = (p[L.RIGHT_EYE_OUTER, 1] + p[L.LEFT_EYE_OUTER, 1]) / 2
    nose_base = p[2]
    width = np.linalg.norm(p[L.MOUTH_RIGHT, :2] - p[L.MOUTH_LEFT, :2])
    gap = np.linalg.norm(p[[82, 13, 312], :2] - p[[87, 14, 317], :2], axis=1).mean()
    feats = [
        gap / max(width, 1e-6),
        width,
        mouth_c[1] - corners[1],  # corners above the lip centre: a smile
        p[0, 1] - nose_base[1],  # upper lip below the nose
        p[L.CHIN, 1] - nose_base[1],  # chin below the nose
        L.eye_aspect(p, "right"),
        L.eye_aspect(p, "left"),
        eye_line - p[[105, 66, 107], 1].mean(),  # brow above the eye line
        eye_line - p[[334, 296, 336], 1].mean(),
        mouth_c[0],  # sideways jaw/mouth movement
    ]
    return np.asarray(feats, dtype=np.float32)


def expression_stats(features: np.ndarray) -> dict[str, list[float]]:
    """A person's mean and spread of each feature over N x 10 measurements (JSON-able)."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or f.shape[1] != len(FEATURES) or len(f) == 0:
        raise InputError(f"expected N x {len(FEATURES)} expression features, got shape {f.shape}")
    return {"mean": f.mean(0).tolist(), "std": np.maximum(f.std(0), MIN_STD).tolist()}


def standardize(features: np.ndarray, stats: dict[str, list[float]]) -> np.ndarray:
    """z-scores of features (any leading shape x 10) against a person's stats, clipped to +-4."""
    mean = np.asarray(stats["mean"], dtype=np.float32)
    std = np.asarray(stats["std"], dtype=np.float32)
    return np.clip((np.asarray(features, dtype=np.float32) - mean) / std, -Z_LIMIT, Z_LIMIT)


def mirror(z: np.ndarray) -> np.ndarray:
    """Standardised features of the horizontally flipped face (right/left swapped, sideways shift negated).

    Exact when the person's stats are themselves mirror-symmetric, which holds closely over a faceset.
    """
    return np.asarray(z)[..., list(MIRROR)] * MIRROR_SIGN
