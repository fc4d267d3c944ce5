"""synthvid's canonical 3-D face: 478 MediaPipe points, frontal, built by scripts/build_canonical_face.py.

Axes: x from the subject's right to left, y from forehead to chin, z away from the camera; origin midway between
the eyes; 1 unit = distance between the outer eye corners.
"""

from __future__ import annotations

import functools
from importlib import resources

import numpy as np


@functools.lru_cache(maxsize=1)
def canonical_face() -> np.ndarray:
    """The canonical face, 478 x 3 float32 (read-only)."""
    with resources.files("synthvid.data").joinpath("canonical_face.npz").open("rb") as fh:
        points = np.load(fh, allow_pickle=False)["points"].astype(np.float32)
    points.setflags(write=False)
    return points
