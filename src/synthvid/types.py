"""The data conventions used at every boundary, and the checks that enforce them.

- ``Frame``: uint8 array H x W x 3, RGB.
- ``Landmarks``: float32 array N x 2 (pixels, x then y) or N x 3 (x, y in pixels; z in the same pixel scale,
  smaller = closer to the camera, as MediaPipe reports it).
- ``Affine``: float32 2 x 3 matrix mapping source-image pixels to crop pixels (``cv2.warpAffine`` convention).
- ``Mask``: float32 H x W in [0, 1].
- Models take float32 N x C x H x W tensors in [-1, 1].
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from synthvid.errors import InputError

Frame = npt.NDArray[np.uint8]
Landmarks = npt.NDArray[np.float32]
Affine = npt.NDArray[np.float32]
Mask = npt.NDArray[np.float32]


def _describe(x: Any) -> str:
    if isinstance(x, np.ndarray):
        return f"array of shape {x.shape} and dtype {x.dtype}"
    return f"{type(x).__name__}"


def check_frame(frame: Any, name: str = "frame") -> Frame:
    """Return ``frame`` if it is a uint8 H x W x 3 array, else raise InputError saying what was received."""
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise InputError(f"{name} must be a uint8 H x W x 3 RGB array, got {_describe(frame)}")
    if frame.shape[0] < 2 or frame.shape[1] < 2:
        raise InputError(f"{name} is too small: {frame.shape[1]}x{frame.shape[0]} pixels")
    return frame


def check_rgba(frame: Any, name: str = "frame") -> np.ndarray:
    """A uint8 H x W x 4 RGBA image (straight, not premultiplied, alpha)."""
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 4:
        raise InputError(f"{name} must be a uint8 H x W x 4 RGBA array, got {_describe(frame)}")
    return frame


def check_landmarks(points: Any, name: str = "landmarks", dims: tuple[int, ...] = (2, 3)) -> Landmarks:
    """Return ``points`` as float32 N x D (D in ``dims``); raise InputError if the shape is wrong or values are not finite."""
    if not isinstance(points, np.ndarray) or points.ndim != 2 or points.shape[1] not in dims or len(points) == 0:
        raise InputError(f"{name} must be an N x {'/'.join(map(str, dims))} array, got {_describe(points)}")
    points = points.astype(np.float32, copy=False)
    if not np.all(np.isfinite(points)):
        raise InputError(f"{name} contains NaN or infinite values")
    return points


def check_affine(matrix: Any, name: str = "affine") -> Affine:
    """Return ``matrix`` as a float32 2 x 3 array; raise InputError if it is not one or is singular."""
    if not isinstance(matrix, np.ndarray) or matrix.shape != (2, 3):
        raise InputError(f"{name} must be a 2 x 3 matrix, got {_describe(matrix)}")
    matrix = matrix.astype(np.float32, copy=False)
    if not np.all(np.isfinite(matrix)) or abs(float(np.linalg.det(matrix[:, :2]))) < 1e-12:
        raise InputError(f"{name} is not an invertible affine transform")
    return matrix


def check_mask(mask: Any, shape: tuple[int, int] | None = None, name: str = "mask") -> Mask:
    """Return ``mask`` as float32 H x W in [0, 1] (uint8 masks are scaled by 1/255)."""
    if not isinstance(mask, np.ndarray) or mask.ndim != 2:
        raise InputError(f"{name} must be an H x W array, got {_describe(mask)}")
    if shape is not None and mask.shape != tuple(shape):
        raise InputError(f"{name} has shape {mask.shape}, expected {tuple(shape)}")
    if mask.dtype == np.uint8:
        return mask.astype(np.float32) / 255.0
    mask = mask.astype(np.float32, copy=False)
    if mask.size and (float(mask.min()) < -1e-6 or float(mask.max()) > 1 + 1e-6):
        raise InputError(f"{name} values must lie in [0, 1], got [{mask.min():.3g}, {mask.max():.3g}]")
    return mask
