"""A built-in driving performance: talking, smiling, blinking, raising the brows and turning the head, with no video.

A virtual actor with synthvid's canonical face is animated through the expression basis
(``data/expression_basis.npz``, built from real faces by ``scripts/build_expression_basis.py``): each basis row is
how the landmarks move per unit of one expression measure. Mouth opening follows the loudness of a sound track
when one is given, so the mouth moves with the audio.
"""

from __future__ import annotations

import functools
import math
from importlib import resources

import numpy as np

from synthvid.errors import InputError
from synthvid.face.canonical import canonical_face
from synthvid.face.pose import euler_to_rotation
from synthvid.reenact.motion import FaceState
from synthvid.reenact.transfer import make_pose, place

PIVOT = np.array([0.0, 0.6, 1.1])  # canonical units: the top of the neck, behind and below the eyes


@functools.lru_cache(maxsize=1)
def expression_basis() -> dict[str, np.ndarray]:
    """Channel name -> 478 x 3 displacement (canonical units) per unit of that expression measure."""
    with resources.files("synthvid.data").joinpath("expression_basis.npz").open("rb") as fh:
        data = np.load(fh, allow_pickle=False)
        return {str(c): data["basis"][i].astype(np.float32) for i, c in enumerate(data["channels"])}


def loudness_envelope(audio: np.ndarray, rate: int, fps: float, frames: int) -> np.ndarray:
    """RMS loudness per video frame, scaled to [0, 1] by its 95th percentile."""
    hop = rate / fps
    env = np.zeros(frames, dtype=np.float32)
    for i in range(frames):
        seg = audio[int(i * hop): int((i + 1) * hop)]
        env[i] = float(np.sqrt(np.mean(seg.astype(np.float64) ** 2))) if len(seg) else 0.0
    top = np.percentile(env, 95) if frames else 0.0
    return np.clip(env / top, 0, 1) if top > 0 else env


def _bump(t: float, center: float, width: float) -> float:
    """Smooth 0 -> 1 -> 0 bump of total duration ``width`` centred at ``center``."""
    x = (t - center) / (width / 2)
    return 0.5 * (1 + math.cos(math.pi * x)) if abs(x) < 1 else 0.0


def _plateau(t: float, start: float, end: float, ramp: float = 0.4) -> float:
    up = np.clip((t - start) / ramp, 0, 1)
    down = np.clip((end - t) / ramp, 0, 1)
    return float(min(up, down) ** 2 * (3 - 2 * min(up, down)))


def builtin_performance(frames: int, fps: float, envelope: np.ndarray | None = None) -> list[FaceState]:
    """``frames`` face states of the built-in performance (about 8 s long, then it repeats).

    The first state is the actor's neutral face, so it can drive a target as its own reference.
    """
    if frames < 1 or fps <= 0:
        raise InputError(f"a performance needs at least one frame and a positive frame rate, got {frames} at {fps}")
    basis = expression_basis()
    neutral = canonical_face().astype(np.float32)
    if envelope is None:
        envelope = np.array([max(math.sin(2 * math.pi * 3.5 * i / fps), 0.0) ** 2 * _plateau(i / fps, 0.8, 3.0)
                             for i in range(frames)], dtype=np.float32)
    states = []
    for i in range(frames):
        t = (i / fps) % 8.0
        talk = float(envelope[i]) if i < len(envelope) else 0.0
        smile = _plateau(t, 3.4, 5.4)
        blink = max(_bump(t, c, 0.28) for c in (1.6, 4.6, 6.9))
        brow = _plateau(t, 5.9, 6.8, 0.25)
        code = {"mouth_open": 0.32 * talk * (1 - 0.5 * smile) + 0.06 * smile,
                "mouth_width": 0.10 * smile, "smile": 0.045 * smile,
                "eye_open_right": -0.24 * blink - 0.03 * smile, "eye_open_left": -0.24 * blink - 0.03 * smile,
                "brow": 0.07 * brow}
        frontal = neutral + sum(v * basis[k] for k, v in code.items())
        if i == 0:
            frontal = neutral
        yaw = 16 * math.sin(2 * math.pi * t / 8.0) * _plateau(t, 0.3, 7.7, 1.0)
        pitch = 6 * math.sin(2 * math.pi * t / 4.0) * _plateau(t, 0.3, 7.7, 1.0)
        roll = 5 * math.sin(2 * math.pi * t / 5.3) * _plateau(t, 0.3, 7.7, 1.0)
        rot = euler_to_rotation(yaw, pitch, roll)
        pose = make_pose(rot, PIVOT - rot @ PIVOT, 1.0)  # the head turns about the neck, not the eyes
        states.append(FaceState(place(frontal, pose), pose, frontal.astype(np.float32)))
    return states
