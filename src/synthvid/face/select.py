"""Choosing the wanted person among the faces of a video: by a reference photo, or the video's dominant identity."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from synthvid.errors import AmbiguousFaceError, NoFaceError
from synthvid.face import identity as ident
from synthvid.face.detect import FaceDetector
from synthvid.face.track import Track
from synthvid.io.image import read_image
from synthvid.io.video import VideoReader, probe_video
from synthvid.types import Frame

REIDENTIFY_FRAMES = 60  # re-check a tracked face's identity this often when several people are present
SCAN_SAMPLES = 16  # at most this many frames sampled to find the dominant person (one per second of video)
SCAN_MIN_SAMPLES = 6  # and at least this many
SCAN_TILED_EVERY = 4  # the (slow) tiled search for small extra faces runs on every 4th sample...
SCAN_SMALL_FACE = 0.2  # ...and on every sample once a face under this share of the frame's short side was seen


class IdentitySelector:
    """Decides which tracked face is the wanted person."""

    def __init__(self, target: np.ndarray | None, check: bool) -> None:
        self.target, self.check = target, check

    def choose(self, frame: Frame, tracks: list[Track], frame_index: int) -> Track | None:
        if not tracks:
            return None
        if not self.check or self.target is None:
            return tracks[0]  # largest face
        best, best_d = None, ident.SAME_PERSON
        for t in tracks:
            if t.identity is None or frame_index - t.identity_frame >= REIDENTIFY_FRAMES:
                t.identity = ident.embed_face(frame, t.face.landmarks)
                t.identity_frame = frame_index
            d = float(ident.distances(t.identity, self.target)[0])
            if d < best_d:
                best, best_d = t, d
        return best


def reference_embedding(photo: str | os.PathLike) -> np.ndarray:
    """Identity descriptor of the (largest) face in a reference photo."""
    image = read_image(photo)
    with FaceDetector(max_faces=5, video=False) as det:
        faces = det.detect(image)
    if not faces:
        raise NoFaceError(f"no face found in the reference photo {photo}")
    return ident.embed_face(image, faces[0].landmarks)


def scan_identities(video: Path, max_faces: int, start: int = 0, end: int | None = None,
                    samples: int = SCAN_SAMPLES, strict: bool = True) -> tuple[np.ndarray | None, bool]:
    """Find the video's dominant person from a few evenly spaced frames.

    Returns (mean descriptor of the dominant person or None when no face was seen, whether per-frame identity
    checks are needed, i.e. several people were seen). Raises AmbiguousFaceError when two people are about
    equally present and ``strict``.
    """
    info = probe_video(video)
    stop = min(end or info.frame_count, info.frame_count) or 1
    n = min(samples, max(SCAN_MIN_SAMPLES, round((stop - start) / max(info.fps, 1.0))))
    wanted = sorted(set(np.linspace(start, max(stop - 1, start), n).round().astype(int).tolist()))
    embeddings, per_frame = [], []
    with FaceDetector(max_faces=max_faces, video=False) as det, VideoReader(video, start=start, end=end) as reader:
        small_seen = False  # a video with small faces needs the tiled search on every sample to count them fairly
        for k, (_, frame) in enumerate(reader.pick(wanted)):
            faces = det.detect(frame, tiled=small_seen or k % SCAN_TILED_EVERY == 0)
            small_seen |= any(f.size < SCAN_SMALL_FACE * min(frame.shape[:2]) for f in faces)
            per_frame.append(len(faces))
            embeddings += [ident.embed_face(frame, f.landmarks) for f in faces]
    if not embeddings:
        return None, False
    emb = np.stack(embeddings)
    labels = ident.cluster_identities(emb)
    counts = np.bincount(labels)
    if strict and len(counts) > 1 and counts[1] >= 0.8 * counts[0] and counts[1] >= 0.5 * len(per_frame):
        raise AmbiguousFaceError(f"{video.name} shows {len(counts)} people about equally often; "
                                 "pass --reference PHOTO of the person to extract")
    several = len(counts) > 1 or max(per_frame) > 1
    return ident.mean_embedding(emb[labels == 0]), several
