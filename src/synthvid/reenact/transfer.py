"""Expression transfer in a pose-normalised space, and re-posing.

Faces are compared in synthvid's canonical frame (:func:`synthvid.face.pose.frontalize`: head rotation,
position and scale removed; 1 unit = outer inter-ocular distance). The source's expression is its displacement
from its own neutral face; it is carried onto the target's neutral face with per-region scaling that respects the
target's proportions (a wide mouth opens wider, narrow eyes close by their own height), then placed back in the
image with the target's head pose, or with the source's head motion when pose transfer is asked.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from synthvid.errors import InputError
from synthvid.face import landmarks as L
from synthvid.face.pose import HeadPose, euler_to_rotation, rotation_to_euler
from synthvid.reenact.eyes import eye_sets

PARTS = ("expression", "blink", "gaze", "pose")
# Lid gap (x eye width) at which the face tracker reads a real shut eye: MediaPipe reads 0.02 and 0.04 at the
# blinks of two driving clips (0.10 on a third), never 0. A source eye this narrow shuts the target's.
SHUT_EYE_GAP = 0.04
MAX_YAW, MAX_PITCH, MAX_ROLL = 35.0, 25.0, 30.0  # beyond this, warping a 2-D image no longer looks like a head


def parse_parts(spec: str | tuple[str, ...] | list[str]) -> frozenset[str]:
    """``"pose,gaze"`` -> the set of parts to transfer (expression always included)."""
    items = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if s.strip()]
    bad = [s for s in items if s not in PARTS]
    if bad:
        raise InputError(f"unknown part to transfer: {', '.join(bad)} (choose from {', '.join(PARTS)})")
    return frozenset(items) | {"expression"}


def _mouth_size(p: np.ndarray) -> tuple[float, float]:
    return float(np.linalg.norm(p[L.MOUTH_RIGHT, :2] - p[L.MOUTH_LEFT, :2])), float(p[L.CHIN, 1] - p[2, 1])


def _ratio(a: float, b: float, lo: float = 0.5, hi: float = 2.0) -> float:
    return float(np.clip(a / max(b, 1e-6), lo, hi))


@dataclasses.dataclass
class ExpressionTransfer:
    """Carry a source face's expression onto a target face, both given as frontal (canonical) 478 x 3 landmarks.

    Args:
        source_neutral: the source actor's neutral face.
        target_neutral: the target's neutral face (for a photo: the photo's own face).
        parts: which of "blink" and "gaze" to carry besides the expression (see :data:`PARTS`).
    """

    source_neutral: np.ndarray
    target_neutral: np.ndarray
    parts: frozenset[str] = frozenset({"expression", "blink"})

    def __post_init__(self) -> None:
        s = np.asarray(self.source_neutral, dtype=np.float64)
        t = np.asarray(self.target_neutral, dtype=np.float64)
        if s.shape != (L.NUM_LANDMARKS, 3) or t.shape != (L.NUM_LANDMARKS, 3):
            raise InputError(f"expression transfer needs 478 x 3 neutral faces, got {s.shape} and {t.shape}")
        self._s, self._t = s, t
        eye, lower, iris = eye_sets()
        self._eye, self._iris = eye, iris
        scale = np.ones((L.NUM_LANDMARKS, 2))
        (sw, sh), (tw, th) = _mouth_size(s), _mouth_size(t)
        scale[lower] = (_ratio(tw, sw), _ratio(th, sh))
        for k in (0, 1):
            side = ("right", "left")[k]
            (sw, sg), (tw, tg) = L.eye_size(s, side), L.eye_size(t, side)
            # Lids close by the target's own lid gap: vertical motion scales with the gap ratio, the source's gap
            # counted from where the tracker reads a shut eye, so the source's shut eye shuts the target's.
            scale[eye == k] = (_ratio(tw, sw), _ratio(tg, sg - SHUT_EYE_GAP * sw, 0.4, 2.5))
        self._scale = scale

    def __call__(self, source: np.ndarray) -> np.ndarray:
        """The target's frontal landmarks showing the expression of ``source`` (frontal 478 x 3)."""
        src = np.asarray(source, dtype=np.float64)
        delta = src - self._s
        delta[:, :2] *= self._scale
        for k in (0, 1):
            on_eye = self._eye == k
            lids = on_eye & ~self._iris
            eye_shift = delta[lids].mean(0) if lids.any() else np.zeros(3)
            if "blink" not in self.parts:  # lids and iris follow the eye region as a whole
                delta[on_eye] = eye_shift
            if "gaze" not in self.parts:
                delta[on_eye & self._iris] = eye_shift
        return (self._t + delta).astype(np.float32)


def place(frontal: np.ndarray, pose: HeadPose) -> np.ndarray:
    """Frontal (canonical) landmarks put into the image with ``pose``: N x 3 pixels (inverse of frontalize)."""
    f = np.asarray(frontal, dtype=np.float64)
    return (pose.scale * f @ pose.rotation.astype(np.float64).T + pose.translation).astype(np.float32)


def make_pose(rotation: np.ndarray, translation: np.ndarray, scale: float) -> HeadPose:
    yaw, pitch, roll = rotation_to_euler(rotation)
    return HeadPose(rotation=np.asarray(rotation, dtype=np.float32), translation=np.asarray(translation, np.float32),
                    scale=float(scale), yaw=yaw, pitch=pitch, roll=roll)


def clamp_pose(pose: HeadPose) -> tuple[HeadPose, bool]:
    """Limit the head angles to what a 2-D warp can render; (pose, whether it was clamped)."""
    y, p, r = (float(np.clip(pose.yaw, -MAX_YAW, MAX_YAW)), float(np.clip(pose.pitch, -MAX_PITCH, MAX_PITCH)),
               float(np.clip(pose.roll, -MAX_ROLL, MAX_ROLL)))
    if (y, p, r) == (pose.yaw, pose.pitch, pose.roll):
        return pose, False
    return make_pose(euler_to_rotation(y, p, r), pose.translation, pose.scale), True


def transfer_pose(source: HeadPose, source_neutral: HeadPose, target_neutral: HeadPose) -> HeadPose:
    """The target's pose after the source's head motion since its neutral frame (rotation, shift, scale).

    The source's shift is measured in its own face sizes, so a small face far away drives a large face near the
    camera by the same relative amount.
    """
    r_rel = source.rotation.astype(np.float64) @ source_neutral.rotation.astype(np.float64).T
    rot = r_rel @ target_neutral.rotation.astype(np.float64)
    k = target_neutral.scale / max(source_neutral.scale, 1e-6)
    shift = (source.translation.astype(np.float64) - source_neutral.translation) * k
    scale = target_neutral.scale * source.scale / max(source_neutral.scale, 1e-6)
    return make_pose(rot, target_neutral.translation + shift, scale)


def neutral_index(frontal: np.ndarray, poses: list[HeadPose]) -> int:
    """Index of the most neutral face of a sequence: mouth closed, eyes normally open, head near its usual pose."""
    f = np.asarray(frontal)
    if f.ndim != 3 or len(f) == 0 or len(f) != len(poses):
        raise InputError("neutral face needs a non-empty sequence of frontal landmarks with their poses")
    mouth = np.array([L.mouth_opening(p) for p in f])
    eyes = np.array([L.eye_opening(p) for p in f])
    yaw = np.array([p.yaw for p in poses])
    pitch = np.array([p.pitch for p in poses])
    cost = (mouth / 0.05 + np.abs(eyes - np.median(eyes)) / 0.04
            + (np.abs(yaw - np.median(yaw)) + np.abs(pitch - np.median(pitch))) / 8.0)
    return int(np.argmin(cost))
