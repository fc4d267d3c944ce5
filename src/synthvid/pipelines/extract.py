"""Face extraction: video(s) -> a faceset of aligned crops and an alignments file.

Steps per frame: detect and track faces -> keep the wanted person (reference photo, or the video's dominant
identity) -> smooth landmarks -> align to the canonical crop -> skip small, blurry and duplicate faces -> save.

Resumable: progress is committed to the faceset every few seconds; running the same command again continues
after the last committed frame of each video.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from synthvid.config import Config, option
from synthvid.errors import InputError, NoFaceError
from synthvid.face import identity as ident
from synthvid.face.align import alignment_matrix, warp_face
from synthvid.face.detect import DetectedFace, FaceDetector
from synthvid.face.pose import estimate_head_pose
from synthvid.face.select import IdentitySelector, reference_embedding, scan_identities
from synthvid.face.track import FaceTracker, Track
from synthvid.io.faceset import FACES_DIR, Faceset, new_faceset
from synthvid.io.files import check_input_file
from synthvid.io.output import Stamp, write_image
from synthvid.io.video import VideoReader, probe_video
from synthvid.progress import progress
from synthvid.types import Frame

COMMIT_SECONDS = 10.0  # how often progress is saved (what a crash can lose)


@dataclasses.dataclass(frozen=True)
class ExtractConfig(Config):
    """Face extraction settings."""

    size: int = option(256, "side of the saved face crops in pixels")
    coverage: float = option(0.6, "share of the crop's side spanned by the face outline (smaller = more context)")
    max_faces: int = option(4, "faces searched per frame")
    every: int = option(1, "look at every N-th frame")
    min_size: int = option(40, "skip faces whose outline is smaller than this many pixels")
    blur: float = option(0.3, "skip faces blurrier than this share of the video's median sharpness (0: keep all)")
    duplicate: float = option(0.005, "skip faces differing from the last kept one by less than this mean absolute "
                                     "difference on a 32x32 thumbnail, 0..1 (0: keep all)")
    smooth: bool = option(True, "smooth landmarks over time so crops do not jitter")
    quality: int = option(95, "JPEG quality of the saved crops")

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 32 <= self.size <= 2048:
            raise InputError(f"size must be between 32 and 2048 pixels, got {self.size}")
        if not 0.2 <= self.coverage <= 1.0:
            raise InputError(f"coverage must be between 0.2 and 1.0, got {self.coverage}")
        if self.every < 1 or self.max_faces < 1:
            raise InputError("every and max_faces must be at least 1")


@dataclasses.dataclass
class ExtractReport:
    """What an extraction did (counts are over all videos, this run and earlier resumed runs)."""

    faceset: Path
    faces: int  # faces in the faceset
    frames: int  # frames looked at
    skipped: dict[str, int]  # reason -> count: no_face, small, blurry, duplicate, other_person
    added: int  # faces added by this run

    def summary(self) -> str:
        reasons = ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in sorted(self.skipped.items()) if v)
        return f"kept {self.faces} faces from {self.frames} frames" + (f" (skipped {reasons})" if reasons else "")


def _source_key(path: Path) -> dict[str, Any]:
    st = path.stat()
    return {"path": str(path.resolve()), "bytes": st.st_size}


def _thumb(crop: Frame) -> np.ndarray:
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    return cv2.resize(grey, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0


def _sharpness(crop: Frame) -> float:
    """Laplacian variance of the central half of the crop (the face), at a fixed 128 px scale."""
    s = crop.shape[0]
    centre = crop[s // 4: 3 * s // 4, s // 4: 3 * s // 4]
    grey = cv2.cvtColor(cv2.resize(centre, (128, 128), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_32F).var())


def extract(videos: list[str | os.PathLike] | str | os.PathLike, out_dir: str | os.PathLike,
            config: ExtractConfig | None = None, reference: str | os.PathLike | None = None,
            frames: tuple[int, int | None] = (0, None), quiet: bool = False) -> ExtractReport:
    """Extract aligned faces of one person from one or more videos into a faceset folder.

    Args:
        videos: video file(s).
        out_dir: faceset folder (created; reopened and continued if it exists).
        config: extraction settings.
        reference: photo of the wanted person (default: the most frequent person in each video).
        frames: (start, end) frame range of each video to use; end None = to the end.
        quiet: no progress bar.

    Returns:
        An :class:`ExtractReport`. Raises NoFaceError if no face was found at all.
    """
    cfg = config or ExtractConfig()
    paths = [check_input_file(v, "video") for v in ([videos] if isinstance(videos, (str, os.PathLike)) else videos)]
    if not paths:
        raise InputError("no video given")
    infos = [probe_video(p) for p in paths]  # fail on a bad video before creating anything
    target = reference_embedding(reference) if reference is not None else None
    out = Path(out_dir)
    created = not out.exists()
    settings = {"size": cfg.size, "coverage": cfg.coverage}
    faceset = new_faceset(out, settings)
    faceset.info["settings"] = cfg.to_dict()
    start, end = frames
    skipped: Counter[str] = Counter(faceset.info.get("skipped", {}))
    added = 0
    try:
        for path, info in zip(paths, infos):
            added += _extract_video(faceset, path, info, cfg, target, start, end, skipped, quiet)
    except BaseException:
        faceset.info["skipped"] = dict(skipped)
        if len(faceset.alignments):
            faceset.save()  # keep what is done for the next run
        elif created:
            _remove_empty(out)  # a first run that failed before any face leaves nothing behind
        raise
    faceset.info["skipped"] = dict(skipped)
    if len(faceset.alignments) == 0:
        if created:
            _remove_empty(out)
        names = ", ".join(p.name for p in paths)
        raise NoFaceError(f"no usable face found in any frame of {names}" + (
            f" ({', '.join(f'{k}: {v}' for k, v in skipped.items() if v)})" if skipped else ""))
    faceset.save()
    frames_seen = sum(s.get("frames_seen", 0) for s in faceset.info["sources"])
    return ExtractReport(faceset=out, faces=len(faceset), frames=frames_seen, skipped=dict(skipped), added=added)


def _remove_empty(out: Path) -> None:
    for p in sorted(out.rglob("*"), reverse=True):
        if p.is_file():
            p.unlink()
        else:
            p.rmdir()
    out.rmdir()


def _source_entry(faceset: Faceset, path: Path, start: int, end: int | None) -> tuple[int, dict[str, Any]]:
    key = {**_source_key(path), "start": start, "end": end}
    for i, src in enumerate(faceset.info["sources"]):
        if all(src.get(k) == v for k, v in key.items()):
            return i, src
    entry = {**key, "name": path.name, "next_frame": start, "complete": False, "frames_seen": 0}
    faceset.info["sources"].append(entry)
    return len(faceset.info["sources"]) - 1, entry


def _extract_video(faceset: Faceset, path: Path, info: Any, cfg: ExtractConfig, target: np.ndarray | None,
                   start: int, end: int | None, skipped: Counter[str], quiet: bool) -> int:
    index, src = _source_entry(faceset, path, start, end)
    if src["complete"]:
        return 0
    resume_at = int(src["next_frame"])
    if target is None:
        who, several = scan_identities(path, cfg.max_faces, start, end)
    else:
        who, several = target, True
    selector = IdentitySelector(who, several)
    max_faces = cfg.max_faces if several else 1
    stop = min(end, info.frame_count) if end is not None else info.frame_count
    tracker = FaceTracker(info.fps, smooth=cfg.smooth)
    sharp_history: list[float] = [float(s) for s in faceset.alignments["sharpness"][faceset.alignments["source"] == index]]
    last_thumb: np.ndarray | None = None
    rows: list[dict[str, Any]] = []
    added = 0
    last_commit = time.monotonic()
    stamp = Stamp("faces.extract", cfg.to_dict(), synthetic=False, inputs=(str(path),))
    bar = progress(total=max(stop - start, 0), initial=resume_at - start, desc=f"extracting {path.name}",
                   unit="frame", quiet=quiet)

    def commit(next_frame: int, complete: bool) -> None:
        nonlocal rows, last_commit
        faceset.alignments.append(rows)
        rows = []
        src["next_frame"], src["complete"] = next_frame, complete
        faceset.info["skipped"] = dict(skipped)
        faceset.save()
        last_commit = time.monotonic()

    with FaceDetector(max_faces=max_faces, video=True) as detector, VideoReader(path, start=start, end=end) as reader:
        i = start - 1
        for i, frame in enumerate(reader, start=start):
            # Frames before the resume point are still tracked (cheap) so smoothing starts warm.
            if i < resume_at - 3 or (i - start) % cfg.every:
                continue
            tracks = tracker.update(detector.detect(frame), i)
            if i < resume_at:
                continue
            bar.update(1)
            src["frames_seen"] += 1
            track = selector.choose(frame, tracks, i)
            reason = None
            if track is None:
                reason = "no_face" if not tracks else "other_person"
            else:
                reason, row, last_thumb = _consider(frame, track, i, index, cfg, sharp_history, last_thumb, faceset,
                                                    stamp)
                if row is not None:
                    rows.append(row)
                    added += 1
            if reason:
                skipped[reason] += 1
            if time.monotonic() - last_commit > COMMIT_SECONDS:
                commit(i + 1, False)
            if added and not quiet:
                bar.set_postfix_str(f"kept {len(faceset.alignments) + len(rows)}")
        commit(i + 1, True)
    bar.close()
    return added


def _consider(frame: Frame, track: Track, frame_index: int, source: int, cfg: ExtractConfig,
              sharp_history: list[float], last_thumb: np.ndarray | None, faceset: Faceset,
              stamp: Stamp) -> tuple[str | None, dict[str, Any] | None, np.ndarray | None]:
    """Quality checks on one face; save it if it passes. Returns (skip reason, row, thumbnail of last kept)."""
    face: DetectedFace = track.face
    if face.box[3] - face.box[1] < cfg.min_size:
        return "small", None, last_thumb
    matrix = alignment_matrix(track.smoothed, cfg.size, cfg.coverage)
    crop = warp_face(frame, matrix, cfg.size)
    sharp = _sharpness(crop)
    sharp_history.append(sharp)
    if cfg.blur > 0 and len(sharp_history) >= 10 and sharp < cfg.blur * float(np.median(sharp_history)):
        return "blurry", None, last_thumb
    thumb = _thumb(crop)
    if cfg.duplicate > 0 and last_thumb is not None and float(np.abs(thumb - last_thumb).mean()) < cfg.duplicate:
        return "duplicate", None, last_thumb
    name = f"{source:02d}_{frame_index:07d}.jpg"
    write_image(faceset.root / FACES_DIR / name, crop, stamp, quality=cfg.quality)
    if track.identity is None or track.identity_frame != frame_index:
        track.identity = ident.embed_face(frame, face.landmarks)
        track.identity_frame = frame_index
    pose = estimate_head_pose(face.landmarks)
    row = {"name": name, "source": source, "frame": frame_index, "landmarks": face.landmarks, "matrix": matrix,
           "embedding": track.identity, "sharpness": sharp, "pose": (pose.yaw, pose.pitch, pose.roll)}
    return None, row, thumb
