"""A talking clip as training/evaluation data: speech features and mouth shapes per frame.

:func:`load_clip` tracks the face (478 landmarks, pose removed), reads the sound, and lines both up at the video's
frame rate. Results can be cached (``cache_dir``) by file content, since tracking is the slow part.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path

import numpy as np

from synthvid.errors import InputError
from synthvid.io.audio import read_audio
from synthvid.io.files import check_input_file
from synthvid.lipsync.features import Normaliser, speaker_normaliser, speech_activity, speech_features
from synthvid.lipsync.shape import mouth_shape
from synthvid.reenact.motion import track_video

CACHE_VERSION = 1


@dataclasses.dataclass
class ClipData:
    name: str
    fps: float
    features: np.ndarray  # (T, DIM) normalised speech features
    shapes: np.ndarray  # (T, 59, 2) frontal lip and jaw points
    found: np.ndarray  # (T,) bool: the face was detected in that frame
    activity: np.ndarray  # (T,) share of voiced audio per frame
    normaliser: Normaliser | None  # None when not needed (not cached)

    def __len__(self) -> int:
        return len(self.shapes)

    def mean_shape(self) -> np.ndarray:
        use = self.shapes[self.found] if self.found.any() else self.shapes
        return use.mean(0)

    def offsets(self) -> np.ndarray:
        return self.shapes - self.mean_shape()

    def split(self, at: float) -> tuple[ClipData, ClipData]:
        """The first ``at`` share of the clip and the rest."""
        k = int(round(len(self) * at))
        return (dataclasses.replace(self, features=self.features[:k], shapes=self.shapes[:k], found=self.found[:k],
                                    activity=self.activity[:k]),
                dataclasses.replace(self, features=self.features[k:], shapes=self.shapes[k:], found=self.found[k:],
                                    activity=self.activity[k:]))


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:24]


def load_clip(path: str | os.PathLike, cache_dir: str | os.PathLike | None = None, quiet: bool = True,
              audio: str | os.PathLike | None = None) -> ClipData:
    """Track ``path`` and compute its speech features (from ``audio`` when given, else the video's own sound)."""
    src = check_input_file(path, "video")
    cache = None
    if cache_dir is not None and audio is None:
        cache = Path(cache_dir) / f"{src.stem}-{file_digest(src)}-v{CACHE_VERSION}.npz"
        if cache.is_file():
            d = np.load(cache, allow_pickle=False)
            return ClipData(src.name, float(d["fps"]), d["features"], d["shapes"], d["found"], d["activity"],
                            Normaliser(d["norm_mean"], d["norm_std"]))
    samples = read_audio(audio if audio is not None else src)
    motion = track_video(src, quiet=quiet)
    n = len(motion)
    norm = speaker_normaliser(samples)
    feats = speech_features(samples, motion.fps, n, norm)
    act = speech_activity(samples, motion.fps, n)
    if act.mean() < 0.05:
        raise InputError(f"{src.name} has no speech to learn from")
    clip = ClipData(src.name, float(motion.fps), feats, mouth_shape(motion.frontal()), motion.found.copy(), act, norm)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp.npz")
        np.savez(tmp, fps=clip.fps, features=clip.features, shapes=clip.shapes, found=clip.found,
                 activity=clip.activity, norm_mean=norm.mean, norm_std=norm.std)
        os.replace(tmp, cache)
    return clip
