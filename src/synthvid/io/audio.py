"""Writing audio (PCM WAV) with PyAV, e.g. for generated sound tracks."""

from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np

from synthvid.errors import InputError
from synthvid.io.files import atomic_path, check_output_path


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
