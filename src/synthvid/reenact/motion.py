"""Facial motion of a video or a photo: 478 landmarks per frame, head pose, and the pose-free (frontal) face.

Driving frames without a face hold the last face seen (and are counted); faces before the first detection take
the first one. Head pose comes from the tracker's One-Euro smoothed landmarks (so crops and poses do not jitter);
the expression from the raw landmarks brought into the canonical frame with that pose (so fast mouth movements —
syllables come at 4-8 Hz — are not smoothed away).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from synthvid.errors import InputError, NoFaceError
from synthvid.face.detect import DetectedFace, FaceDetector
from synthvid.face.pose import HeadPose, estimate_head_pose, frontalize
from synthvid.face.track import FaceTracker
from synthvid.io.files import check_input_file
from synthvid.io.video import VideoReader, probe_video
from synthvid.progress import progress
from synthvid.types import Frame


@dataclasses.dataclass
class FaceState:
    """One face at one moment: image landmarks, head pose and the frontal (canonical) landmarks."""

    landmarks: np.ndarray  # 478 x 3, pixels
    pose: HeadPose
    frontal: np.ndarray  # 478 x 3, canonical units

    @classmethod
    def of(cls, landmarks: np.ndarray, smoothed: np.ndarray | None = None) -> FaceState:
        """From raw landmarks (and optionally temporally smoothed ones, for a steadier head pose)."""
        pose = estimate_head_pose(landmarks if smoothed is None else smoothed)
        return cls(np.asarray(landmarks, dtype=np.float32), pose, frontalize(landmarks, pose))


@dataclasses.dataclass
class Motion:
    """A tracked face over a whole clip."""

    fps: float
    size: tuple[int, int]  # (width, height) of the frames
    states: list[FaceState]
    found: np.ndarray  # bool per frame: a face was detected (else the last one is held)

    def __len__(self) -> int:
        return len(self.states)

    @property
    def missing(self) -> int:
        return int((~self.found).sum())

    def frontal(self) -> np.ndarray:
        return np.stack([s.frontal for s in self.states])

    def landmarks(self) -> np.ndarray:
        return np.stack([s.landmarks for s in self.states])

    def resample(self, fps: float) -> Motion:
        """The motion at another frame rate (nearest earlier frame: expressions are not blended)."""
        if fps <= 0:
            raise InputError(f"frame rate must be positive, got {fps}")
        if abs(fps - self.fps) < 1e-6:
            return self
        n = max(int(round(len(self) * fps / self.fps)), 1)
        idx = np.minimum(np.floor(np.arange(n) * self.fps / fps + 1e-6).astype(int), len(self) - 1)
        return Motion(fps, self.size, [self.states[i] for i in idx], self.found[idx])


Observed = tuple[np.ndarray, np.ndarray]  # (raw, smoothed) landmarks of one frame


class FaceFollower:
    """Follow the wanted (largest) face through consecutive frames: (raw, smoothed) landmarks, or None."""

    def __init__(self, fps: float, max_faces: int = 1) -> None:
        self.detector = FaceDetector(max_faces=max_faces, video=True)
        self.tracker = FaceTracker(fps)
        self._index = 0

    def __call__(self, frame: Frame) -> Observed | None:
        tracks = self.tracker.update(self.detector.detect(frame), self._index)
        self._index += 1
        return (tracks[0].face.landmarks, tracks[0].smoothed) if tracks else None

    def close(self) -> None:
        self.detector.close()

    def __enter__(self) -> FaceFollower:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def fill_missing(faces: list[Any], what: str) -> tuple[list[Any], np.ndarray]:
    """Hold the last face over gaps (the first face back-fills a leading gap); (faces, found mask)."""
    found = np.array([f is not None for f in faces], dtype=bool)
    if not found.any():
        raise NoFaceError(f"no face found in any frame of {what}")
    first = faces[int(np.argmax(found))]
    out, last = [], first
    for f in faces:
        last = f if f is not None else last
        out.append(last)
    return out, found


def track_frames(frames: Iterable[Frame], fps: float, size: tuple[int, int], what: str,
                 total: int | None = None, quiet: bool = True) -> Motion:
    """Track the largest face through ``frames``."""
    states: list[FaceState | None] = []
    bar = progress(total=total, desc=f"tracking {what}", unit="frame", quiet=quiet)
    with FaceFollower(fps) as follow:
        for frame in frames:
            seen = follow(frame)
            states.append(None if seen is None else FaceState.of(*seen))
            bar.update(1)
    bar.close()
    return motion_from(states, fps, size, what)


def motion_from(states: list[FaceState | None], fps: float, size: tuple[int, int], what: str) -> Motion:
    """A :class:`Motion` from per-frame face states (None where no face was found; the last one is held)."""
    if not states:
        raise InputError(f"{what} has no decodable frames")
    held, found = fill_missing(states, what)
    return Motion(fps, size, held, found)


def track_video(path: str | os.PathLike, frames: tuple[int, int | None] = (0, None), quiet: bool = True) -> Motion:
    """Track the largest face of a video file (streaming; only landmarks are kept)."""
    src = check_input_file(path, "video")
    info = probe_video(src)
    start, end = frames
    stop = min(end, info.frame_count) if end is not None else info.frame_count
    with VideoReader(src, start=start, end=end) as reader:
        return track_frames(reader, info.fps, (info.width, info.height), src.name, max(stop - start, 0), quiet)


def faces_in_photo(image: Frame, max_faces: int = 8) -> list[DetectedFace]:
    """All faces of a still image, left to right."""
    with FaceDetector(max_faces=max_faces, video=False) as det:
        faces = det.detect(image)
    return sorted(faces, key=lambda f: f.center[0])


def choose_face(faces: list[DetectedFace], index: int | None, what: str) -> DetectedFace:
    """Face number ``index`` (1-based, left to right), or the largest when None."""
    if not faces:
        raise NoFaceError(f"no face found in {what}")
    if index is None:
        return max(faces, key=lambda f: f.size)
    if not 1 <= index <= len(faces):
        raise InputError(f"{what} shows {len(faces)} face(s); --face must be between 1 and {len(faces)}, got {index}")
    return faces[index - 1]


def iter_states(frames: Iterator[Frame], fps: float) -> Iterator[tuple[Frame, FaceState | None]]:
    """Streaming: each frame with its face state (None while no face has been seen yet)."""
    last: FaceState | None = None
    with FaceFollower(fps) as follow:
        for frame in frames:
            seen = follow(frame)
            if seen is not None:
                last = FaceState.of(*seen)
            yield frame, last
