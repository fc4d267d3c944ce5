"""A/V sync check: how far a talking-head video's sound is ahead of or behind its picture, and fixing it.

The mouth opening seen in the video is compared with the mouth opening the generic audio-to-mouth network
predicts from the sound (a learnt audio-visual sync model: it knows which sounds open the mouth, which a plain
loudness envelope does not), over lags of up to ``max_offset`` frames. The lag with the highest correlation is the
offset; its margin over the other lags is the confidence. ``offset > 0``: the sound comes ``offset`` frames after
the picture (the audio is late).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from synthvid.errors import InputError
from synthvid.io.audio import read_audio, write_wav
from synthvid.io.files import check_input_file, check_output_path
from synthvid.io.output import Stamp, VideoOutput
from synthvid.io.video import VIDEO_SUFFIXES, VideoReader, probe_video
from synthvid.lipsync.data import ClipData
from synthvid.lipsync.features import speech_features, voiced_mask
from synthvid.lipsync.model import LipSyncModel
from synthvid.lipsync.shape import mouth_shape, opening
from synthvid.progress import progress
from synthvid.reenact.motion import track_video

FIX_RATE = 48000
# Training footage is moved into sync when the estimate is at least this far off (the estimator itself is within
# +-1 frame of a known shift on 97% of the benchmark's shifted clips, so smaller offsets are not acted on) ...
ALIGN_MIN_FRAMES = 2
# ... and stands out from the other lags by at least this much correlation (on the dev clips the estimates range
# 0.13-0.66; the two below 0.2 disagree with every other method tried: -9 and -2 frames, see docs/lip_sync.md).
ALIGN_MIN_CONFIDENCE = 0.2
# ... and only on clips long enough for the estimate to mean something (the dev clips are 4.9-60 s; on a 2-s clip
# a chance correlation passed the confidence bar: 11 frames "late").
ALIGN_MIN_SECONDS = 4.0


@dataclasses.dataclass
class SyncResult:
    offset: int  # frames; > 0: audio late
    fps: float
    confidence: float  # correlation at the offset minus the median over all lags
    correlation: float

    @property
    def milliseconds(self) -> float:
        return 1000.0 * self.offset / self.fps

    def summary(self) -> str:
        if self.offset == 0:
            where = "in sync"
        else:
            where = f"audio {'late' if self.offset > 0 else 'early'} by {abs(self.offset)} frames " \
                    f"({abs(self.milliseconds):.0f} ms)"
        return f"{where}; correlation {self.correlation:.2f}, confidence {self.confidence:.2f}"


def _lagged_corr(pred: np.ndarray, real: np.ndarray, max_offset: int) -> np.ndarray:
    """corr(pred[t], real[t - lag]) for lag in -max..max (lag > 0: the sound's events come after the picture's)."""
    out = np.full(2 * max_offset + 1, -1.0)
    for i, lag in enumerate(range(-max_offset, max_offset + 1)):
        a = pred[max(lag, 0): len(pred) + min(lag, 0)]
        b = real[max(-lag, 0): len(real) + min(-lag, 0)]
        if len(a) > 10 and a.std() > 1e-9 and b.std() > 1e-9:
            out[i] = float(np.corrcoef(a, b)[0, 1])
    return out


def estimate_offset(real_opening: np.ndarray, features: np.ndarray, fps: float, max_offset: int = 15,
                    model: LipSyncModel | None = None) -> SyncResult:
    """Offset from per-frame mouth opening of the picture and per-frame speech features of the sound."""
    m = model or LipSyncModel.generic()
    pred = opening(m.network.pca.decode(m.network.predict(features, fps)) + _MEAN_LIPS)
    c = _lagged_corr(pred, np.asarray(real_opening, np.float64), max_offset)
    k = int(np.argmax(c))
    return SyncResult(k - max_offset, fps, float(c[k] - np.median(c)), float(c[k]))


def shift_features(features: np.ndarray, frames: int) -> np.ndarray:
    """Per-frame speech features as if the sound came ``frames`` frames later (> 0) or earlier (< 0); the ends are
    padded with the first / last frame."""
    if frames > 0:
        return np.concatenate([np.repeat(features[:1], frames, 0), features[:-frames]])[: len(features)]
    if frames < 0:
        return np.concatenate([features[-frames:], np.repeat(features[-1:], -frames, 0)])[: len(features)]
    return features


@dataclasses.dataclass
class ClipAlignment:
    """A training clip after the sync check: ``clip`` (sound and picture paired ``result.offset`` frames apart, the
    unpaired frames at the ends dropped, when ``applied``)."""

    clip: ClipData
    result: SyncResult | None  # None: not checked (too short, no face, or alignment switched off)
    applied: bool

    def note(self) -> str:
        if self.result is None:
            return ""
        r = self.result
        if not self.applied:
            return "" if abs(r.offset) < ALIGN_MIN_FRAMES else (
                f"{self.clip.name}: sync estimate {r.offset:+d} frames left alone (confidence {r.confidence:.2f})")
        late = "late" if r.offset > 0 else "early"
        return (f"{self.clip.name}: its sound was {abs(r.offset)} frames ({abs(r.milliseconds):.0f} ms) {late}; "
                "moved into sync before fitting")


def align_clip(clip: ClipData, model: LipSyncModel | None = None, max_offset: int = 15) -> ClipAlignment:
    """Check a training clip's A/V sync with ``model`` (default: the generic one) and move its speech features into
    line with its mouth when they are :data:`ALIGN_MIN_FRAMES` or more off with confidence
    :data:`ALIGN_MIN_CONFIDENCE` or more. Footage whose sound is a few frames off (common after editing or
    re-muxing) would otherwise teach the person-specific filter to lag or lead, and every output would inherit it."""
    if len(clip) < max(3 * max_offset, ALIGN_MIN_SECONDS * clip.fps) or clip.found.sum() < 3 * max_offset:
        return ClipAlignment(clip, None, False)
    r = estimate_offset(opening(clip.shapes), clip.features, clip.fps, max_offset, model)
    if abs(r.offset) < ALIGN_MIN_FRAMES or r.confidence < ALIGN_MIN_CONFIDENCE:
        return ClipAlignment(clip, r, False)
    return ClipAlignment(shift_clip(clip, r.offset), r, True)


def shift_clip(clip: ClipData, offset: int) -> ClipData:
    """``clip`` with its sound paired ``offset`` frames later than its picture (``offset`` > 0: the sound was late):
    the picture's frame t goes with the sound's frame t + offset, and the frames at the ends that have no partner
    are dropped (padding them with copies would teach the filter a frozen mouth there)."""
    if offset == 0:
        return clip
    n = len(clip)
    sound = slice(offset, None) if offset > 0 else slice(None, n + offset)
    picture = slice(None, n - offset) if offset > 0 else slice(-offset, None)
    return dataclasses.replace(clip, features=clip.features[sound], shapes=clip.shapes[picture],
                               found=clip.found[picture], activity=clip.activity[picture])


# A neutral mouth to hang predicted offsets on (opening is a ratio; any plausible mean shape works).
def _mean_lips() -> np.ndarray:
    from synthvid.face.canonical import canonical_face  # noqa: PLC0415

    return mouth_shape(canonical_face()[None])[0]


_MEAN_LIPS = _mean_lips()


def sync_check(video: str | os.PathLike, max_offset: int = 15, quiet: bool = True) -> SyncResult:
    """Estimate the audio/video offset of a talking-head video."""
    src = check_input_file(video, "video")
    if max_offset < 1 or max_offset > 60:
        raise InputError(f"--max-offset must be 1-60 frames, got {max_offset}")
    samples = read_audio(src)
    if not voiced_mask(samples).any():
        raise InputError(f"{src.name} has no speech to check sync against")
    motion = track_video(src, quiet=quiet)
    if len(motion) < 3 * max_offset:
        raise InputError(f"{src.name} is too short to check sync ({len(motion)} frames; need {3 * max_offset})")
    feats = speech_features(samples, motion.fps, len(motion))
    real = opening(mouth_shape(motion.frontal()))
    return estimate_offset(real, feats, motion.fps, max_offset)


def shift_audio(video: str | os.PathLike, output: str | os.PathLike, offset: int, quiet: bool = True) -> Path:
    """Write ``video`` with its sound moved ``offset`` frames earlier (``offset`` > 0 fixes late audio)."""
    src = check_input_file(video, "video")
    out = check_output_path(output, VIDEO_SUFFIXES)  # (that it is not the input: the writer refuses it)
    info = probe_video(src)
    samples = read_audio(src, rate=FIX_RATE)
    k = int(round(offset / info.fps * FIX_RATE))
    shifted = samples[k:] if k >= 0 else np.concatenate([np.zeros(-k, np.float32), samples])
    scratch = Path(tempfile.mkdtemp(prefix="synthvid-sync-"))
    try:
        wav = write_wav(scratch / "audio.wav", shifted if shifted.size else np.zeros(FIX_RATE // 10, np.float32),
                        FIX_RATE)
        stamp = Stamp("sync_check.fix", {"offset_frames": offset}, synthetic=False, inputs=(str(src),),
                      pixels_from=str(src))
        bar = progress(total=info.frame_count, desc="re-muxing", unit="frame", quiet=quiet)
        with VideoOutput(out, stamp, fps=info.fps_fraction, width=info.width, height=info.height,
                         audio_from=wav) as writer, VideoReader(src) as reader:
            for frame in reader:
                writer.write(frame)
                bar.update(1)
        bar.close()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return out


__all__ = ["ClipAlignment", "SyncResult", "align_clip", "estimate_offset", "shift_audio", "shift_clip",
           "shift_features", "sync_check"]
