"""Streaming video reading and writing on PyAV (FFmpeg inside the wheel).

Memory stays flat whatever the length: frames are decoded and encoded one at a time, and audio is copied packet
by packet. Frames are uint8 H x W x 3 RGB, already turned upright when the container carries a rotation.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from synthvid.errors import InputError, OutputError
from synthvid.io.files import check_input_file
from synthvid.types import Frame, check_frame

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv")
# Audio codecs MP4/MOV/MKV carry as they are; anything else (PCM, ...) is re-encoded to AAC.
_COPYABLE_AUDIO = {".mp4": {"aac", "mp3", "alac", "opus"}, ".mov": {"aac", "mp3", "alac", "pcm_s16le"},
                   ".mkv": {"aac", "mp3", "opus", "vorbis", "flac", "pcm_s16le"}}
# Stop reading after this many consecutive undecodable packets: the rest of the file is garbage.
_MAX_BAD_PACKETS = 50


@dataclasses.dataclass(frozen=True)
class VideoInfo:
    """What a reader knows about a video before decoding it."""

    path: str
    width: int  # display width in pixels (after rotation)
    height: int  # display height in pixels (after rotation)
    fps: float  # average frame rate
    fps_fraction: Fraction  # the same, exact
    frame_count: int  # frames declared by the container, or estimated from duration when it declares none
    duration: float  # seconds
    rotation: int  # degrees counter-clockwise applied to stored frames for display (0, 90, 180, 270)
    codec: str
    has_audio: bool
    audio_codec: str | None
    audio_rate: int | None


def _open_input(path: str | os.PathLike) -> Any:
    p = check_input_file(path, "video")
    try:
        container = av.open(str(p), "r", metadata_errors="ignore")
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as e:
        raise InputError(f"{p} is not a readable video ({_ffmpeg_reason(e)})") from None
    if not container.streams.video:
        container.close()
        raise InputError(f"{p} has no video stream")
    return container


def _ffmpeg_reason(e: Exception) -> str:
    text = getattr(e, "strerror", None) or str(e)
    return text.split(":")[-1].strip() if text else type(e).__name__


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Read a video's header: size, frame rate, frame count, rotation, audio. Raises InputError on bad files."""
    container = _open_input(path)
    try:
        return _info_from(container, str(path), _peek_rotation(path))
    finally:
        container.close()


def _peek_rotation(path: str | os.PathLike) -> int:
    """The display rotation, read off the first decoded frame (PyAV exposes the display matrix per frame)."""
    container = _open_input(path)
    try:
        stream = container.streams.video[0]
        for packet in container.demux(stream):
            for frame in packet.decode():
                return _snap_rotation(frame.rotation)
    except (av.error.FFmpegError, ValueError):
        return 0
    finally:
        container.close()
    return 0


def _snap_rotation(rotation: Any) -> int:
    try:
        r = int(round(float(rotation) / 90.0)) * 90
    except (TypeError, ValueError):
        return 0
    return r % 360


def _info_from(container: Any, path: str, rotation: int) -> VideoInfo:
    v = container.streams.video[0]
    rate = v.average_rate or v.guessed_rate or Fraction(25, 1)
    rate = Fraction(rate)
    if rate <= 0 or rate > 1000:
        rate = Fraction(25, 1)
    duration = 0.0
    if v.duration is not None and v.time_base is not None:
        duration = float(v.duration * v.time_base)
    elif container.duration is not None:
        duration = container.duration / av.time_base
    count = int(v.frames or 0)
    if count <= 0 and duration > 0:
        count = int(round(duration * rate))
    width, height = v.codec_context.width, v.codec_context.height
    if rotation in (90, 270):
        width, height = height, width
    audio = container.streams.audio[0] if container.streams.audio else None
    return VideoInfo(
        path=path, width=width, height=height, fps=float(rate), fps_fraction=rate, frame_count=count,
        duration=duration, rotation=rotation, codec=v.codec_context.name, has_audio=audio is not None,
        audio_codec=audio.codec_context.name if audio is not None else None,
        audio_rate=audio.codec_context.sample_rate if audio is not None else None,
    )


class VideoReader:
    """Iterate the frames of a video, one uint8 RGB array at a time.

    Args:
        path: the video file.
        start: index of the first frame to yield.
        end: index one past the last frame to yield (None: to the end).

    After iteration, ``frames_read`` says how many frames were decoded and ``truncated`` whether decoding stopped
    on damaged data (the frames before the damage are still yielded). A video yielding no frame at all raises
    InputError.
    """

    def __init__(self, path: str | os.PathLike, *, start: int = 0, end: int | None = None) -> None:
        if start < 0 or (end is not None and end <= start):
            raise InputError(f"frame range {start}:{end} is empty or negative")
        self.path = Path(path)
        self._container = _open_input(path)
        self.info = _info_from(self._container, str(path), _peek_rotation(path))
        self.start, self.end = start, end
        self.frames_read = 0
        self.truncated = False

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._container.close()

    def __len__(self) -> int:
        """Frames this reader is expected to yield (from the header; the real count is ``frames_read``)."""
        end = self.info.frame_count if self.end is None else min(self.end, self.info.frame_count)
        return max(0, end - self.start)

    def __iter__(self) -> Iterator[Frame]:
        stream = self._container.streams.video[0]
        stream.thread_type = "AUTO"  # frame + slice threads: decoding is a large share of plain conversion time
        index = 0
        bad = 0
        k = self.info.rotation // 90
        packets = self._container.demux(stream)
        while True:
            try:
                packet = next(packets)
                frames = packet.decode()
                bad = 0
            except StopIteration:
                break
            except (av.error.FFmpegError, ValueError) as e:
                # Damaged packet (truncated file, bit errors): skip it, give up after a run of them.
                bad += 1
                self.truncated = True
                log.debug("skipping undecodable packet in %s: %s", self.path, e)
                if bad >= _MAX_BAD_PACKETS or isinstance(e, av.error.EOFError):
                    break
                continue
            for frame in frames:
                if index >= self.start and (self.end is None or index < self.end):
                    rgb = frame.to_ndarray(format="rgb24")
                    if k:
                        rgb = np.ascontiguousarray(np.rot90(rgb, k))
                    self.frames_read += 1
                    yield rgb
                index += 1
                if self.end is not None and index >= self.end:
                    return
        if self.frames_read == 0:
            if index == 0:
                raise InputError(f"{self.path} has no decodable frames")
            raise InputError(f"{self.path} has only {index} frames; frame range {self.start}:{self.end} is past the end")
        if index < self.info.frame_count * 0.98 and self.end is None:
            self.truncated = True


def read_frames(path: str | os.PathLike, *, start: int = 0, end: int | None = None) -> Iterator[Frame]:
    """Convenience generator over :class:`VideoReader`."""
    with VideoReader(path, start=start, end=end) as reader:
        yield from reader


class _AudioCopier:
    """Copies (or, when the container cannot carry the codec, re-encodes to AAC) one audio stream, packet by packet.

    ``start``/``end`` (seconds) cut the audio to the part of the video that was converted; timestamps are shifted
    so the cut starts at zero.
    """

    def __init__(self, output: Any, source: str | os.PathLike, suffix: str, start: float, end: float | None) -> None:
        self._src = _open_input(source)
        if not self._src.streams.audio:
            self._src.close()
            self._src = None
            return
        self._in = self._src.streams.audio[0]
        self._start, self._end = start, end
        self._copy = self._in.codec_context.name in _COPYABLE_AUDIO.get(suffix, set())
        if self._copy:
            self._out = output.add_stream_from_template(self._in)
        else:
            rate = self._in.codec_context.sample_rate or 48000
            self._out = output.add_stream("aac", rate=rate)
            self._out.layout = "stereo" if (self._in.codec_context.channels or 1) > 1 else "mono"
            self._resampler = av.AudioResampler(format="fltp", layout=self._out.layout, rate=rate)
        self._output = output
        self._packets = self._src.demux(self._in)
        self._pending: Any = None
        self._done = False
        self._offset: int | None = None

    @property
    def active(self) -> bool:
        return self._src is not None

    def mux_until(self, seconds: float | None) -> None:
        """Mux source audio whose time is below ``seconds`` (None: everything left)."""
        if self._src is None or self._done:
            return
        while True:
            packet = self._pending or self._next_packet()
            self._pending = None
            if packet is None:
                self._finish()
                return
            t = float(packet.pts * packet.time_base)
            if self._end is not None and t >= self._end:
                self._finish()
                return
            if seconds is not None and t - self._start > seconds:
                self._pending = packet
                return
            if t < self._start:
                continue
            self._write(packet)

    def _next_packet(self) -> Any:
        while True:
            try:
                packet = next(self._packets)
            except StopIteration:
                return None
            except av.error.FFmpegError:
                continue  # a damaged audio packet is dropped, the video goes on
            if packet.pts is not None and packet.size:
                return packet

    def _write(self, packet: Any) -> None:
        if self._copy:
            if self._offset is None:
                self._offset = packet.pts
            packet.pts -= self._offset
            packet.dts = packet.pts if packet.dts is None else packet.dts - self._offset
            packet.stream = self._out
            self._output.mux(packet)
            return
        try:
            frames = packet.decode()
        except av.error.FFmpegError:
            return
        for frame in frames:
            frame.pts = None
            for resampled in self._resampler.resample(frame):
                for out_packet in self._out.encode(resampled):
                    self._output.mux(out_packet)

    def _finish(self) -> None:
        if self._done:
            return
        self._done = True
        if not self._copy:
            for resampled in self._resampler.resample(None):
                for p in self._out.encode(resampled):
                    self._output.mux(p)
            for p in self._out.encode(None):
                self._output.mux(p)

    def close(self) -> None:
        if self._src is not None:
            self._src.close()


class VideoWriter:
    """Encode RGB frames to H.264 in MP4/MOV/MKV, optionally copying the audio track of another video.

    Args:
        path: output file (written directly; use :mod:`synthvid.io.output` for atomic, stamped outputs).
        fps: frame rate, float or exact Fraction.
        width, height: frame size; odd sizes are padded by one pixel (H.264 4:2:0 needs even sizes).
        crf: x264 constant rate factor (lower = better; 18 is visually lossless for most content).
        preset: x264 speed preset.
        audio_from: a video whose first audio track is copied into the output (None: no audio).
        audio_start, audio_end: the part of that audio to keep, in seconds (e.g. when a frame range was converted).
        metadata: container tags written as they are (MP4 keeps arbitrary keys).
    """

    def __init__(self, path: str | os.PathLike, *, fps: float | Fraction, width: int, height: int, crf: int = 18,
                 preset: str = "veryfast", audio_from: str | os.PathLike | None = None, audio_start: float = 0.0,
                 audio_end: float | None = None, metadata: dict[str, str] | None = None) -> None:
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in VIDEO_SUFFIXES:
            raise OutputError(f"video output must end in {', '.join(VIDEO_SUFFIXES)}, got {self.path.name}")
        if width < 2 or height < 2:
            raise OutputError(f"video size {width}x{height} is too small")
        rate = Fraction(fps).limit_denominator(1001 * 1000) if not isinstance(fps, Fraction) else fps
        if rate <= 0:
            raise OutputError(f"frame rate must be positive, got {fps}")
        self.width, self.height = width, height
        options = {"movflags": "+faststart+use_metadata_tags"} if suffix in (".mp4", ".mov") else {}
        try:
            self._container = av.open(str(self.path), "w", options=options)
        except (av.error.FFmpegError, OSError) as e:
            raise OutputError(f"cannot write {self.path}: {_ffmpeg_reason(e)}") from None
        for key, value in (metadata or {}).items():
            self._container.metadata[key] = value
        self._stream = self._container.add_stream("libx264", rate=rate, options={"crf": str(crf), "preset": preset})
        self._stream.width, self._stream.height = width + width % 2, height + height % 2
        self._stream.pix_fmt = "yuv420p"
        self._stream.thread_type = "AUTO"
        self._rate = rate
        self._audio = None
        if audio_from is not None:
            copier = _AudioCopier(self._container, audio_from, suffix, audio_start, audio_end)
            self._audio = copier if copier.active else None
        self.frames_written = 0
        self._closed = False

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.close()

    def write(self, frame: Frame) -> None:
        """Encode one frame (uint8 H x W x 3 RGB of the writer's size)."""
        check_frame(frame)
        if frame.shape[:2] != (self.height, self.width):
            raise InputError(f"frame is {frame.shape[1]}x{frame.shape[0]}, writer expects {self.width}x{self.height}")
        if self.width % 2 or self.height % 2:
            frame = np.pad(frame, ((0, self.height % 2), (0, self.width % 2), (0, 0)), mode="edge")
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        vf.pts = self.frames_written
        for packet in self._stream.encode(vf):
            self._container.mux(packet)
        self.frames_written += 1
        if self._audio is not None:
            # Keep audio roughly interleaved with video (about one second ahead) for players that stream.
            self._audio.mux_until(self.frames_written / self._rate + 1.0)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
            if self._audio is not None:
                self._audio.mux_until(None)
        finally:
            if self._audio is not None:
                self._audio.close()
            self._container.close()


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """Container-level tags of a media file (e.g. the synthvid stamp)."""
    container = _open_input(path)
    try:
        return dict(container.metadata)
    finally:
        container.close()
