"""Following faces from frame to frame: track identities by box overlap, smooth landmarks against jitter, and
keep to the wanted person by identity descriptor.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from synthvid.face import landmarks as L
from synthvid.face.detect import DetectedFace
from synthvid.face.landmarks import OneEuroFilter

# Smoothing defaults, in units of the track's inter-ocular distance (so they hold at any resolution).
MIN_CUTOFF = 1.5  # Hz at rest: removes MediaPipe's frame-to-frame shimmer
BETA = 1.0  # cut-off rises by this many Hz per inter-ocular distance per second of motion


def box_iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@dataclasses.dataclass
class Track:
    """One face followed over time."""

    track_id: int
    face: DetectedFace  # latest raw detection
    smoothed: np.ndarray  # latest smoothed landmarks, 478 x 3 (use for crop placement; raw for expression)
    last_seen: int  # frame index of the latest detection
    hits: int = 1
    identity: np.ndarray | None = None  # 128-D descriptor, once computed
    identity_frame: int = -1  # frame at which ``identity`` was computed
    _filter: OneEuroFilter | None = dataclasses.field(default=None, repr=False)
    _unit: float = 1.0


class FaceTracker:
    """Assign detections to tracks across frames and smooth each track's landmarks.

    Args:
        fps: frame rate (sets the smoothing filter's time step).
        smooth: apply One Euro smoothing to the landmarks (the raw ones stay available on ``track.face``).
        max_lost: frames a track survives without a detection.
        min_iou: box overlap needed to continue a track.
    """

    def __init__(self, fps: float, smooth: bool = True, max_lost: int = 5, min_iou: float = 0.3,
                 min_cutoff: float = MIN_CUTOFF, beta: float = BETA) -> None:
        self.fps, self.smooth, self.max_lost, self.min_iou = fps, smooth, max_lost, min_iou
        self.min_cutoff, self.beta = min_cutoff, beta
        self.tracks: list[Track] = []
        self._next_id = 0

    def update(self, faces: list[DetectedFace], frame_index: int) -> list[Track]:
        """Feed one frame's detections; return the tracks seen in this frame (same order as ``faces``)."""
        self.tracks = [t for t in self.tracks if frame_index - t.last_seen <= self.max_lost]
        free = list(self.tracks)
        seen: list[Track] = []
        for face in faces:
            best = max(free, key=lambda t: box_iou(t.face.box, face.box), default=None)
            if best is not None and box_iou(best.face.box, face.box) >= self.min_iou:
                free.remove(best)
                if frame_index - best.last_seen > 1 and best._filter is not None:
                    best._filter.reset()  # a gap: don't drag stale motion into the new position
                self._advance(best, face, frame_index)
                seen.append(best)
            else:
                seen.append(self._start(face, frame_index))
        return seen

    def _start(self, face: DetectedFace, frame_index: int) -> Track:
        unit = max(L.inter_ocular_distance(face.landmarks), 1.0)
        filt = OneEuroFilter(self.fps, self.min_cutoff, self.beta) if self.smooth else None
        track = Track(self._next_id, face, face.landmarks.copy(), frame_index, _filter=filt, _unit=unit)
        if filt is not None:
            filt(face.landmarks / unit)
        self._next_id += 1
        self.tracks.append(track)
        return track

    def _advance(self, track: Track, face: DetectedFace, frame_index: int) -> None:
        track.face = face
        track.last_seen = frame_index
        track.hits += 1
        track.smoothed = track._filter(face.landmarks / track._unit) * track._unit if track._filter else face.landmarks
