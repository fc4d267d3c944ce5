"""Head pose (rotation, translation, scale) from 3-D MediaPipe landmarks against the canonical face."""

from __future__ import annotations

import dataclasses

import numpy as np

from synthvid.errors import InputError
from synthvid.face import landmarks as L
from synthvid.face.canonical import canonical_face
from synthvid.face.geometry import umeyama
from synthvid.types import Landmarks, check_landmarks


@dataclasses.dataclass(frozen=True)
class HeadPose:
    """Pose of a face: ``landmarks ≈ scale * rotation @ canonical + translation`` (weak perspective, pixels).

    Angles in degrees. yaw > 0: the face turns toward the image's right (subject's left); pitch > 0: the chin
    moves toward the camera... i.e. the head tilts down; roll > 0: the head tilts clockwise in the image.
    """

    rotation: np.ndarray  # 3 x 3, canonical -> camera
    translation: np.ndarray  # 3, pixels
    scale: float  # pixels per canonical unit (about the outer inter-ocular distance)
    yaw: float
    pitch: float
    roll: float

    def as_vector(self) -> np.ndarray:
        """(yaw, pitch, roll, scale, tx, ty) as float32."""
        return np.array([self.yaw, self.pitch, self.roll, self.scale, *self.translation[:2]], dtype=np.float32)


def rotation_to_euler(rotation: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees for ``R = Rz(roll) @ Ry(yaw) @ Rx(pitch)``."""
    r = np.asarray(rotation, dtype=np.float64)
    yaw = np.degrees(np.arcsin(np.clip(-r[2, 0], -1.0, 1.0)))
    pitch = np.degrees(np.arctan2(r[2, 1], r[2, 2]))
    roll = np.degrees(np.arctan2(r[1, 0], r[0, 0]))
    return float(yaw), float(pitch), float(roll)


def euler_to_rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Inverse of :func:`rotation_to_euler`: ``Rz(roll) @ Ry(yaw) @ Rx(pitch)`` from degrees."""
    y, p, r = np.radians([yaw, pitch, roll])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return rz @ ry @ rx


def estimate_head_pose(points: Landmarks) -> HeadPose:
    """Fit the canonical face's stable points to 478 x 3 landmarks (x, y, z in pixels)."""
    pts = check_landmarks(points, dims=(3,))
    if len(pts) < L.NUM_LANDMARKS - 10:
        raise InputError(f"head pose needs the 478 (or 468) MediaPipe landmarks, got {len(pts)}")
    idx = list(L.STABLE)
    s, rot, t = umeyama(canonical_face()[idx], pts[idx])
    yaw, pitch, roll = rotation_to_euler(rot)
    return HeadPose(rotation=rot.astype(np.float32), translation=t.astype(np.float32), scale=s,
                    yaw=yaw, pitch=pitch, roll=roll)


def frontalize(points: Landmarks, pose: HeadPose | None = None) -> np.ndarray:
    """Landmarks brought into the canonical frame (pose removed): N x 3 in canonical units."""
    pts = check_landmarks(points, dims=(3,)).astype(np.float64)
    pose = pose or estimate_head_pose(pts)
    return (((pts - pose.translation) @ pose.rotation.astype(np.float64)) / pose.scale).astype(np.float32)
