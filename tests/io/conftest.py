"""Tiny seeded media for the io tests, made with PyAV/numpy (never downloaded).

The tests run with ``--import-mode=importlib`` and tests/ has no ``__init__.py``, so a helper module cannot be
imported by name; the helpers are reached through the session fixture ``io_media`` instead:
``io_media.make_clip(tmp_path / "a.mp4")``.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import av
import numpy as np
import pytest

W, H = 64, 48


def level_frame(i: int, width: int = W, height: int = H, noise: int = 0, seed: int = 0) -> np.ndarray:
    """A flat grey frame whose level encodes ``i`` (see :func:`decode_level`), optionally with seeded noise."""
    frame = np.full((height, width, 3), 10 + 8 * i, np.int16)
    if noise:
        rng = np.random.default_rng(seed + i)
        frame += rng.integers(-noise, noise + 1, frame.shape, dtype=np.int16)
    return frame.clip(0, 255).astype(np.uint8)


def decode_level(frame: np.ndarray) -> int:
    """The index a :func:`level_frame` carries, read back after lossy compression."""
    return round((float(frame.mean()) - 10) / 8)


def smooth_frame(i: int, width: int, height: int, seed: int = 0) -> np.ndarray:
    """Smooth seeded content (gradients + a moving soft blob): H.264 keeps it well above 30 dB PSNR."""
    rng = np.random.default_rng(seed)
    phase = rng.uniform(0, 2 * np.pi, 3)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    cx, cy = (0.2 + 0.04 * i) * width, 0.5 * height
    blob = 80 * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * (0.15 * width) ** 2))
    channels = [100 + 60 * np.sin(x / width * 2 * np.pi + phase[c]) * np.cos(y / height * np.pi) + blob
                for c in range(3)]
    return np.stack(channels, axis=-1).clip(0, 255).astype(np.uint8)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def ramp_signal(seconds: float, rate: int) -> np.ndarray:
    """A 440 Hz sine whose amplitude grows linearly 0.1 -> 0.9 over ``seconds`` (so a cut can be located)."""
    t = np.arange(round(seconds * rate)) / rate
    return ((0.1 + 0.8 * t / seconds) * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def ramp_amplitude(t: float, seconds: float) -> float:
    return 0.1 + 0.8 * t / seconds


def burst_signal(seconds: float, rate: int, at: float = 0.6, length: float = 0.02) -> np.ndarray:
    """Silence with one loud 1 kHz burst starting at ``at`` seconds (to measure audio/video sync)."""
    t = np.arange(round(seconds * rate)) / rate
    on = (t >= at) & (t < at + length)
    return (0.8 * np.sin(2 * np.pi * 1000 * t) * on).astype(np.float32)


def burst_time(track: dict, threshold: float = 0.2) -> float:
    """Output time (seconds) where the burst of :func:`burst_signal` starts in a decoded :func:`audio_track`."""
    loud = np.nonzero(np.abs(track["samples"]) > threshold)[0]
    assert len(loud), "no burst found"
    return (track["first_time"] or 0.0) + loud[0] / track["rate"]


def _encode_audio(container: av.container.OutputContainer, stream: av.AudioStream, signal: np.ndarray,
                  layout: str, delay: float = 0.0) -> None:
    fmt = stream.codec_context.format.name
    channels = 2 if layout == "stereo" else 1
    rate = stream.codec_context.sample_rate
    chunk, pts = 1024, round(delay * rate)
    for s in range(0, len(signal), chunk):
        x = signal[s:s + chunk]
        planar = np.repeat(x[None], channels, axis=0)  # C x N
        if fmt == "s16":
            data = (planar.T.reshape(1, -1) * 32767).astype(np.int16)  # packed: 1 x (N*C)
        elif fmt == "fltp":
            data = planar
        else:
            raise ValueError(fmt)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(data), format=fmt, layout=layout)
        frame.sample_rate, frame.pts = rate, pts
        pts += len(x)
        for packet in stream.encode(frame):
            container.mux(packet)


def make_clip(path: Path, n: int = 30, fps: int | Fraction = 25, frame: Callable[[int], np.ndarray] = level_frame,
              audio: str | None = None, audio_seconds: float | None = None, rate: int = 48000,
              layout: str = "mono", faststart: bool = False,
              signal: Callable[[float, int], np.ndarray] = ramp_signal, audio_delay: float = 0.0) -> Path:
    """Write a clip with plain PyAV (independent of synthvid's writer): H.264 frames ``frame(i)``, and optionally
    an audio track (codec ``audio``, e.g. "aac" or "pcm_s16le") carrying ``signal(seconds, rate)`` from
    ``audio_delay`` seconds on."""
    options = {"movflags": "+faststart"} if faststart else {}
    container = av.open(str(path), "w", options=options)
    first = frame(0)
    video = container.add_stream("libx264", rate=fps, options={"preset": "ultrafast", "crf": "18"})
    video.height, video.width = first.shape[:2]
    video.pix_fmt = "yuv420p"
    astream = None
    if audio:
        astream = container.add_stream(audio, rate=rate)
        astream.layout = layout
    for i in range(n):
        vf = av.VideoFrame.from_ndarray(frame(i), format="rgb24")
        vf.pts = i
        for packet in video.encode(vf):
            container.mux(packet)
    if astream is not None:
        seconds = audio_seconds if audio_seconds is not None else float(n / Fraction(fps))
        _encode_audio(container, astream, signal(seconds, rate), layout, audio_delay)
        for packet in astream.encode(None):
            container.mux(packet)
    for packet in video.encode(None):
        container.mux(packet)
    container.close()
    return path


def make_audio_file(path: Path, codec: str, seconds: float = 1.0, rate: int = 48000, layout: str = "mono",
                    signal: Callable[[float, int], np.ndarray] = ramp_signal) -> Path:
    """An audio-only file (e.g. .wav with pcm_s16le, .m4a with aac) carrying ``signal(seconds, rate)``."""
    container = av.open(str(path), "w")
    stream = container.add_stream(codec, rate=rate)
    stream.layout = layout
    _encode_audio(container, stream, signal(seconds, rate), layout)
    for packet in stream.encode(None):
        container.mux(packet)
    container.close()
    return path


def make_zero_frame_video(path: Path) -> Path:
    """A container with a video stream header but not a single frame."""
    container = av.open(str(path), "w")
    stream = container.add_stream("libx264", rate=25)
    stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
    container.start_encoding()  # writes the header; closing without frames then leaves an empty stream
    container.close()
    return path


def audio_track(path: Path) -> dict | None:
    """Decode the first audio track: codec, rate, channels, decoded duration and the samples (mono mix, float)."""
    container = av.open(str(path))
    try:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        chunks, first_time = [], None
        for frame in container.decode(stream):
            if first_time is None and frame.pts is not None:
                first_time = float(frame.pts * frame.time_base)
            x = frame.to_ndarray().astype(np.float64)
            if frame.format.name.startswith("s16"):
                x = x / 32768.0
            if not frame.format.is_planar:
                x = x.reshape(-1, len(frame.layout.channels)).T
            chunks.append(x.mean(axis=0))
        samples = np.concatenate(chunks) if chunks else np.zeros(0)
        ctx = stream.codec_context
        return {"codec": ctx.name, "rate": ctx.sample_rate, "channels": len(ctx.layout.channels),
                "seconds": len(samples) / ctx.sample_rate, "samples": samples, "first_time": first_time}
    finally:
        container.close()


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x)))) if len(x) else 0.0


def patch_tkhd_matrix(path: Path, matrix: tuple[int, ...], out: Path) -> Path:
    """Copy an MP4, replacing the (single) video track's tkhd matrix: 9 big-endian 32-bit values
    (a, b, u in 16.16; c, d, v; x, y in 16.16, w in 2.30)."""
    data = bytearray(path.read_bytes())
    at = data.find(b"tkhd")
    assert at > 0 and data.find(b"tkhd", at + 4) < 0, "expected exactly one track"
    version = data[at + 4]
    offset = at + 4 + 4 + (32 if version == 1 else 20) + 16  # type, version+flags, times/ids, reserved/layer/volume
    assert struct.unpack(">9i", data[offset:offset + 36]) == (0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
    data[offset:offset + 36] = struct.pack(">9i", *matrix)
    out.write_bytes(bytes(data))
    return out


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG that declares ``width`` x ``height`` pixels (a decompression bomb's header) with 1 pixel of data."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 4))
            + chunk(b"IEND", b""))


@pytest.fixture(scope="session")
def io_media() -> SimpleNamespace:
    """The media-making helpers above, as attributes."""
    return SimpleNamespace(**{k: v for k, v in globals().items() if not k.startswith("_") and k != "io_media"})
