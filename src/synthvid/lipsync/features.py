"""Speech features at the video's frame rate: MFCC + log energy + their deltas, normalised per speaker.

Everything runs on 16 kHz mono audio (:func:`synthvid.io.audio.read_audio` resamples on reading). MFCCs are taken
every 10 ms (25 ms windows) and averaged into video frames, so a 25 or 30 fps clip gets one 28-value vector per
frame: 13 cepstral coefficients (c1..c13), log energy, and the deltas of all 14. Per-speaker normalisation uses
the mean and deviation over the voiced 10-ms frames of the clip, so loudness and voice timbre differences between
recordings are taken out and only the articulation is left.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from synthvid.errors import InputError
from synthvid.io.audio import SPEECH_RATE

HOP = 160  # samples between MFCC frames (10 ms at 16 kHz)
WIN = 400  # 25 ms analysis window
N_MFCC = 13
DIM = 2 * (N_MFCC + 1)  # features per video frame
MIN_DYNAMIC_DB = 12.0  # speech must rise this far above the noise floor to count as speech
VOICED_SHARE = 0.35  # a 10-ms frame is voiced above floor + this share of the (peak - floor) range


def _frame_energy_db(samples: np.ndarray) -> np.ndarray:
    n = max(1 + (len(samples) - WIN) // HOP, 1)
    x = np.pad(samples, (0, max(WIN + (n - 1) * HOP - len(samples), 0)))
    frames = np.lib.stride_tricks.sliding_window_view(x, WIN)[::HOP][:n]
    return 10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-10)


def voiced_mask(samples: np.ndarray) -> np.ndarray:
    """Bool per 10-ms frame: speech energy (all False when the clip never rises above its noise floor)."""
    db = _frame_energy_db(samples)
    floor, peak = np.percentile(db, 10), np.percentile(db, 97)
    if peak - floor < MIN_DYNAMIC_DB or peak < -55:
        return np.zeros(len(db), dtype=bool)
    return db > floor + VOICED_SHARE * (peak - floor)


def speech_activity(samples: np.ndarray, fps: float, frames: int) -> np.ndarray:
    """Share (0..1) of voiced 10-ms frames within each video frame."""
    v = voiced_mask(samples).astype(np.float32)
    return _pool(v[:, None], fps, frames)[:, 0]


def _pool(x: np.ndarray, fps: float, frames: int) -> np.ndarray:
    """Average 100-Hz rows into ``frames`` video frames at ``fps`` (frames past the audio repeat its last row)."""
    rate = SPEECH_RATE / HOP
    edges = np.round(np.arange(frames + 1) * rate / fps).astype(int)
    edges = np.clip(edges, 0, len(x))
    out = np.empty((frames, x.shape[1]), dtype=np.float32)
    c = np.concatenate([np.zeros((1, x.shape[1])), np.cumsum(x, 0, dtype=np.float64)])
    for i in range(frames):
        a, b = edges[i], edges[i + 1]
        if b <= a:
            a, b = min(a, len(x) - 1), min(a, len(x) - 1) + 1
        out[i] = (c[b] - c[a]) / (b - a)
    return out


@dataclasses.dataclass(frozen=True)
class Normaliser:
    """Per-speaker mean and deviation of the raw features."""

    mean: np.ndarray
    std: np.ndarray

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        return ((raw - self.mean) / self.std).astype(np.float32)

    def to_dict(self) -> dict[str, list[float]]:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, d: dict[str, list[float]]) -> Normaliser:
        return cls(np.asarray(d["mean"], np.float32), np.asarray(d["std"], np.float32))


def raw_features(samples: np.ndarray) -> np.ndarray:
    """100-Hz rows of [c1..c13, log energy, deltas]: (frames, 28) float32."""
    import librosa  # noqa: PLC0415 - librosa (and numba) take a second to import; only speech jobs need them

    x = np.asarray(samples, dtype=np.float32).reshape(-1)
    if x.size < WIN:
        x = np.pad(x, (0, WIN - x.size))
    mfcc = librosa.feature.mfcc(y=x, sr=SPEECH_RATE, n_mfcc=N_MFCC + 1, n_fft=512, hop_length=HOP, win_length=WIN,
                                n_mels=40, fmin=50, fmax=7600, center=False)[1:]
    energy = _frame_energy_db(x)[None, : mfcc.shape[1]] / 10.0
    n = min(mfcc.shape[1], energy.shape[1])
    base = np.concatenate([mfcc[:, :n], energy[:, :n]], 0)
    delta = librosa.feature.delta(base, width=9, mode="nearest") if n >= 9 else np.zeros_like(base)
    return np.concatenate([base, delta], 0).T.astype(np.float32)


def speaker_normaliser(samples: np.ndarray, raw: np.ndarray | None = None) -> Normaliser:
    """Mean and deviation over the voiced frames (all frames when too few are voiced)."""
    raw = raw_features(samples) if raw is None else raw
    voiced = voiced_mask(samples)[: len(raw)]
    use = raw[: len(voiced)][voiced] if voiced.sum() >= 50 else raw
    return Normaliser(use.mean(0).astype(np.float32), np.maximum(use.std(0), 1e-3).astype(np.float32))


def speech_features(samples: np.ndarray, fps: float, frames: int | None = None,
                    normaliser: Normaliser | None = None) -> np.ndarray:
    """Normalised features per video frame: (frames, :data:`DIM`). ``frames`` defaults to the audio's length."""
    if fps <= 0:
        raise InputError(f"frame rate must be positive, got {fps}")
    raw = raw_features(samples)
    norm = normaliser or speaker_normaliser(samples, raw)
    n = frames if frames is not None else max(int(round(len(samples) / SPEECH_RATE * fps)), 1)
    return _pool(norm(raw), fps, n)
