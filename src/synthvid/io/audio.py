"""Audio with PyAV: reading any file's sound as mono float samples, writing PCM WAV (e.g. generated speech)."""

from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np

from synthvid.errors import InputError
from synthvid.io.files import atomic_path, check_input_file, check_output_path
from synthvid.io.media import AV_ERRORS, ffmpeg_reason, open_media


def write_wav(path: str | os.PathLike, samples: np.ndarray, rate: int) -> Path:
    """Write mono float samples in [-1, 1] as 16-bit PCM WAV, atomically."""
    x = np.asarray(samples, dtype=np.float32).reshape(-1)
    if rate <= 0 or x.size == 0 or not np.all(np.isfinite(x)):
        raise InputError("audio must be a non-empty finite signal with a positive sample rate")
    pcm = (np.clip(x, -1, 1) * 32767).astype(np.int16)
    p = check_output_path(path, (".wav",))
    with atomic_path(p) as tmp:
        with av.open(str(tmp), "w", format="wav") as out:
            stream = out.add_stream("pcm_s16le", rate=rate)
            stream.layout = "mono"
            for start in range(0, len(pcm), rate):
                chunk = pcm[start: start + rate]
                frame = av.AudioFrame.from_ndarray(chunk[None, :], format="s16", layout="mono")
                frame.sample_rate = rate
                for packet in stream.encode(frame):
                    out.mux(packet)
            for packet in stream.encode(None):
                out.mux(packet)
    return p


SPEECH_RATE = 16000  # Hz: every speech feature works at this rate; other rates are resampled on reading


def read_audio(path: str | os.PathLike, rate: int = SPEECH_RATE, max_seconds: float | None = None) -> np.ndarray:
    """The first audio stream of any media file (WAV, MP3, M4A, a video, ...) as mono float32 at ``rate`` Hz.

    Raises InputError for files without audio, undecodable files, or empty audio.
    """
    src = check_input_file(path, "audio")
    chunks: list[np.ndarray] = []
    total, limit = 0, None if max_seconds is None else int(max_seconds * rate)
    container = open_media(src, "audio", need_video=False)
    try:
        if not container.streams.audio:
            raise InputError(f"{src.name} has no audio stream")
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1).astype(np.float32))
                    total += chunks[-1].size
                if limit is not None and total >= limit:
                    break
            else:
                for out in resampler.resample(None):
                    chunks.append(out.to_ndarray().reshape(-1).astype(np.float32))
        except AV_ERRORS as e:
            if not chunks:
                raise InputError(f"cannot decode the audio of {src.name}: {ffmpeg_reason(e)}") from None
    finally:
        container.close()
    x = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    if limit is not None:
        x = x[:limit]
    if x.size < rate // 10:
        raise InputError(f"{src.name} has no usable audio (shorter than 0.1 s)")
    return np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
