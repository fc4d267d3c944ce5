"""Streaming video reading and writing on PyAV (FFmpeg inside the wheel).

Memory stays flat whatever the length: frames are decoded and encoded one at a time, and audio is copied packet
by packet. Frames are uint8 H x W x 3 RGB, already turned upright when the container carries a display matrix
(rotation and/or mirroring, e.g. phone footage).

Sizes: H.264 in 4:2:0 needs even sizes, so :class:`VideoWriter` pads an odd width/height by repeating the last
column/row, and a reader of that file returns the stored (even) size. Crop back with ``frame[:h, :w]`` if the exact
odd size matters.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from synthvid.errors import InputError, OutputError
from synthvid.io.audio_copy import AudioCopier
from synthvid.io.files import check_output_path
from synthvid.io.media import AV_ERRORS, ffmpeg_reason, open_media
from synthvid.types import Frame, check_frame, check_rgba

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv")
# Stop reading after this many consecutive undecodable packets: the rest of the file is garbage.
_MAX_BAD_PACKETS = 50
# Colour tags written on every output: the BT.601 matrix is what FFmpeg's RGB->YUV conversion uses when nothing is
# asked for; tagging it stops players from guessing BT.709 for HD outputs (a visible colour shift).
_SMPTE170M = 6  # AVCOL_SPC / AVCOL_PRI / AVCOL_TRC_SMPTE170M
_RANGE_MPEG = 1  # AVCOL_RANGE_MPEG (limited)


@dataclasses.dataclass(frozen=True)
class VideoInfo:
    """What a reader knows about a video before decoding it."""

    path: str
    width: int  # display width in pixels (after rotation): the width of the frames a reader yields
    height: int  # display height in pixels (after rotation)
    fps: float  # average frame rate
    fps_fraction: Fraction  # the same, exact
    frame_count: int  # frames declared by the container, or estimated from duration when it declares none
    duration: float  # seconds
    # Degrees counter-clockwise that the stored frames are turned for display (0, 90, 180, 270), the FFmpeg/PyAV
    # convention: a phone portrait clip (MP4 matrix 0,1,-1,0) reports 270, i.e. stored frames turn 90° clockwise.
    rotation: int
    codec: str
    has_audio: bool
    audio_codec: str | None
    audio_rate: int | None
    mirrored: bool = False  # the display matrix also mirrors the picture (applied by the reader, like rotation)


@dataclasses.dataclass(frozen=True)
class _Upright:
    """How to turn a stored frame upright: an optional transpose, then optional flips (exact for 90° multiples)."""

    transpose: bool = False
    flip_rows: bool = False
    flip_cols: bool = False
    rotation: int = 0  # degrees counter-clockwise, as VideoInfo.rotation
    mirrored: bool = False

    def apply(self, rgb: Frame) -> Frame:
        if not (self.transpose or self.flip_rows or self.flip_cols):
            return rgb
        out = rgb.transpose(1, 0, 2) if self.transpose else rgb
        out = out[:: -1 if self.flip_rows else 1, :: -1 if self.flip_cols else 1]
        return np.ascontiguousarray(out)


def _upright_from(frame: Any) -> _Upright:
    """Read the display matrix off a decoded frame (PyAV exposes it as per-frame side data).

    FFmpeg's matrix maps a stored pixel (p, q) to the display point (a*p + c*q, b*p + d*q) (16.16 fixed point,
    laid out a b u / c d v / x y w). For 90° multiples with or without mirroring, a..d are 0 or ±1, so the
    display frame is the stored one, transposed when a = d = 0, with rows/columns reversed per the signs.
    """
    rotation = _snap_rotation(getattr(frame, "rotation", 0))
    matrix = None
    try:
        container = frame.side_data
        for item in container:
            # PyAV up to 18.1.0 iterates side-data entries; 18.1.1 iterates their types, like a mapping's keys
            sd = item if hasattr(item, "type") else container[item]
            if getattr(getattr(sd, "type", None), "name", None) == "DISPLAYMATRIX" and sd.buffer_size >= 36:
                matrix = np.frombuffer(bytes(sd)[:36], dtype=np.int32)  # native byte order, as FFmpeg stores it
                break
    except (AttributeError, TypeError, ValueError, KeyError):
        matrix = None
    if matrix is None:
        return _upright_for_rotation(rotation)
    a, b, c, d = (float(matrix[i]) / 65536.0 for i in (0, 1, 3, 4))
    if abs(a) + abs(d) >= abs(b) + abs(c):
        upright = _Upright(False, flip_rows=d < 0, flip_cols=a < 0)
    else:
        upright = _Upright(True, flip_rows=b < 0, flip_cols=c < 0)
    mirrored = a * d - b * c < 0
    if not mirrored and upright == _Upright() and rotation:
        return _upright_for_rotation(rotation)  # matrix unreadable in a way we did not foresee: trust FFmpeg
    return dataclasses.replace(upright, rotation=rotation, mirrored=mirrored)


def _upright_for_rotation(rotation: int) -> _Upright:
    # np.rot90(x, k) turns counter-clockwise: k=1 is transpose + flip rows, k=2 flips both, k=3 transpose + flip cols.
    table = {0: _Upright(), 90: _Upright(True, True, False), 180: _Upright(False, True, True),
             270: _Upright(True, False, True)}
    return dataclasses.replace(table[rotation], rotation=rotation)


def _snap_rotation(rotation: Any) -> int:
    try:
        r = round(float(rotation) / 90.0) * 90
    except (TypeError, ValueError, OverflowError):
        return 0
    return r % 360


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Read a video's header: size, frame rate, frame count, rotation, audio. Raises InputError on bad files."""
    container = open_media(path)
    try:
        return _info_from(container, str(path), _peek_upright(path))
    finally:
        container.close()


def _peek_upright(path: str | os.PathLike) -> _Upright:
    """The display transform, read off the first decoded frame (PyAV exposes the display matrix per frame only)."""
    container = open_media(path)
    try:
        stream = container.streams.video[0]
        for packet in container.demux(stream):
            if packet.is_corrupt:
                continue
            for frame in packet.decode():
                return _upright_from(frame)
    except AV_ERRORS:
        pass
    finally:
        container.close()
    return _Upright()


def _info_from(container: Any, path: str, upright: _Upright) -> VideoInfo:
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
        count = round(duration * rate)
    width, height = v.codec_context.width, v.codec_context.height
    if upright.transpose:
        width, height = height, width
    audio = container.streams.audio[0] if container.streams.audio else None
    return VideoInfo(
        path=path, width=width, height=height, fps=float(rate), fps_fraction=rate, frame_count=count,
        duration=duration, rotation=upright.rotation, codec=v.codec_context.name, has_audio=audio is not None,
        audio_codec=audio.codec_context.name if audio is not None else None,
        audio_rate=audio.codec_context.sample_rate if audio is not None else None, mirrored=upright.mirrored,
    )


class VideoReader:
    """Iterate the frames of a video, one uint8 RGB array at a time, upright.

    Args:
        path: the video file.
        start: index of the first frame to yield.
        end: index one past the last frame to yield (None: to the end).

    After iteration, ``frames_read`` says how many frames were yielded and ``truncated`` whether decoding stopped
    early on damaged or missing data (the frames before the damage are still yielded). A video yielding no frame at
    all raises InputError. Iterating again starts again from ``start``. Frames before ``start`` are decoded and
    dropped (exact, but a late ``start`` in a long video costs decoding time).
    """

    def __init__(self, path: str | os.PathLike, *, start: int = 0, end: int | None = None) -> None:
        if start < 0 or (end is not None and end <= start):
            raise InputError(f"frame range {start}:{end} of {path} is empty or negative")
        self.path = Path(path)
        self._container = open_media(path)
        try:
            self._upright = _peek_upright(path)
            self.info = _info_from(self._container, str(path), self._upright)
            self._declared = int(self._container.streams.video[0].frames or 0)
        except BaseException:
            self._container.close()
            raise
        self._fresh = True  # the container has not been read from yet
        self.start, self.end = start, end
        self.frames_read = 0
        self.truncated = False

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._fresh = False
        self._container.close()

    def __len__(self) -> int:
        """Frames this reader is expected to yield (from the header; the real count is ``frames_read``)."""
        end = self.info.frame_count if self.end is None else min(self.end, self.info.frame_count)
        return max(0, end - self.start)

    def __iter__(self) -> Iterator[Frame]:
        self._restart()
        return self._frames()

    def _restart(self) -> None:
        if not self._fresh:
            self._container.close()
            self._container = open_media(self.path)
        self._fresh = False
        self.frames_read = 0
        self.truncated = False

    def pick(self, indices: Iterable[int]) -> Iterator[tuple[int, Frame]]:
        """(index, frame) for the wanted frame indices only, in order (indices past the end are simply not
        yielded; a video with no decodable frame at all raises InputError, as iterating does). The frames between
        them are decoded but never converted to RGB, so a few sampled frames of a long video cost little more than
        decoding it."""
        wanted = {int(i) for i in indices if int(i) >= self.start and (self.end is None or int(i) < self.end)}
        self._restart()
        if not wanted:
            return
        last = max(wanted)
        index = -1
        for index, frame in enumerate(self._decoded()):
            if index in wanted:
                self.frames_read += 1
                yield index, self._rgb(frame)
            if index >= last:
                return
        if index < 0:
            raise InputError(f"{self.path} has no decodable frames")

    def _rgb(self, frame: Any) -> Frame:
        # PyAV converts with the frame's own colour matrix and range tags (BT.709, full range, ...).
        # Rows can be padded for alignment (odd widths): hand out plain C-contiguous arrays.
        return np.ascontiguousarray(self._upright.apply(frame.to_ndarray(format="rgb24")))

    def _frames(self) -> Iterator[Frame]:
        index = 0
        for frame in self._decoded():
            if index >= self.start:
                rgb = self._rgb(frame)
                self.frames_read += 1
                yield rgb
            index += 1
            if self.end is not None and index >= self.end:
                return
        if self.frames_read == 0:
            if index == 0:
                raise InputError(f"{self.path} has no decodable frames")
            raise InputError(f"{self.path} has only {index} frames; frame range {self.start}:{self.end} is past the end")
        if self.end is None and self._declared and index < self._declared * 0.98:
            self.truncated = True

    def _decoded(self) -> Iterator[Any]:
        """Decoded av.VideoFrames in order, skipping damaged packets; sets ``truncated`` when it meets damage."""
        stream = self._container.streams.video[0]
        stream.thread_type = "AUTO"  # frame + slice threads: decoding is a large share of plain conversion time
        packets = self._container.demux(stream)
        bad = 0
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                return  # demux ends with an empty packet, which already flushed the decoder
            except AV_ERRORS as e:
                self.truncated = True
                log.debug("stopped reading %s: %s", self.path, e)
                break
            if packet.is_corrupt:
                # A partial packet (file cut short) or one the demuxer flagged: feeding it to a frame-threaded
                # decoder can lose the good frames queued before it, so drop it.
                self.truncated = True
                continue
            try:
                frames = packet.decode()
            except av.error.EOFError:
                return
            except AV_ERRORS as e:
                # Damaged packet (bit errors): skip it, give up after a run of them.
                bad += 1
                self.truncated = True
                log.debug("skipping undecodable packet in %s: %s", self.path, e)
                if bad >= _MAX_BAD_PACKETS:
                    break
                continue
            bad = 0
            yield from frames
        # Reading stopped on an error, so no flush packet came: drain the frames still inside the decoder.
        try:
            yield from stream.codec_context.decode(None)
        except AV_ERRORS:
            pass


def read_frames(path: str | os.PathLike, *, start: int = 0, end: int | None = None) -> Iterator[Frame]:
    """Convenience generator over :class:`VideoReader`."""
    with VideoReader(path, start=start, end=end) as reader:
        yield from reader


class VideoWriter:
    """Encode RGB frames to H.264 in MP4/MOV/MKV, optionally copying the audio track of another file.

    Args:
        path: output file (written directly; use :mod:`synthvid.io.output` for atomic, stamped outputs).
        fps: frame rate, float or exact Fraction (e.g. ``Fraction(30000, 1001)``; ``probe_video(...).fps_fraction``).
        width, height: frame size of the frames given to :meth:`write`. Odd sizes are stored padded to even
            (``stored_width``/``stored_height``) by repeating the last column/row; readers return the stored size.
        crf: x264 constant rate factor (lower = better; 18 is visually lossless for most content).
        preset: x264 speed preset.
        audio_from: a video or audio file whose first audio track is copied (or re-encoded to AAC when the
            container cannot carry its codec, e.g. PCM into MP4) into the output. None, or a file without audio:
            no audio.
        audio_start, audio_end: the part of that audio to keep, in seconds (e.g. when a frame range was converted).
        metadata: container tags written as they are (MP4/MOV/MKV keep arbitrary keys).
        label: how the output is named in error messages (default: ``path``).
        alpha: write ProRes 4444 with an alpha channel (MOV only; frames are then uint8 H x W x 4 RGBA), the
            format video editors import as a layer with transparency. ``crf`` and ``preset`` do not apply.
    """

    def __init__(self, path: str | os.PathLike, *, fps: float | Fraction, width: int, height: int, crf: int = 18,
                 preset: str = "veryfast", audio_from: str | os.PathLike | None = None, audio_start: float = 0.0,
                 audio_end: float | None = None, metadata: dict[str, str] | None = None,
                 label: str | None = None, alpha: bool = False) -> None:
        self.path = Path(path)
        self._label = label or str(self.path)
        suffix = self.path.suffix.lower()
        if suffix not in VIDEO_SUFFIXES:
            raise OutputError(f"video output must end in {', '.join(VIDEO_SUFFIXES)}, got {self._label}")
        if alpha and suffix != ".mov":
            raise OutputError(f"a video with an alpha channel is written as ProRes 4444 in .mov, got {self._label}")
        self.alpha = alpha
        check_output_path(self.path)  # FFmpeg only opens the file at the first frame: fail now, not then
        if int(width) != width or int(height) != height or width < 2 or height < 2:
            raise OutputError(f"video size {width}x{height} for {self._label} must be whole numbers >= 2")
        rate = _exact_rate(fps, self._label)
        if audio_start < 0 or (audio_end is not None and audio_end <= audio_start):
            raise InputError(f"audio range {audio_start}:{audio_end} s for {self._label} is empty or negative")
        self.width, self.height = int(width), int(height)
        self.stored_width, self.stored_height = self.width + self.width % 2, self.height + self.height % 2
        self._rate = rate
        self.frames_written = 0
        self._closed = False
        # Open the audio source first: a bad one must fail before anything is written.
        self._audio: AudioCopier | None = None
        if audio_from is not None:
            copier = AudioCopier(audio_from, suffix, audio_start, audio_end)
            self._audio = copier if copier.active else None
        options = {"movflags": "+faststart+use_metadata_tags"} if suffix in (".mp4", ".mov") else {}
        try:
            self._container = av.open(str(self.path), "w", options=options)
        except AV_ERRORS as e:
            if self._audio is not None:
                self._audio.close()
            raise OutputError(f"cannot write {self._label}: {ffmpeg_reason(e)}") from None
        try:
            for key, value in (metadata or {}).items():
                self._container.metadata[key] = value
            if alpha:  # ProRes 4444 (profile 4) keeps a 4:4:4 picture and a 10-bit alpha plane
                self._stream = self._container.add_stream("prores_ks", rate=rate, options={"profile": "4"})
                self._stream.pix_fmt = "yuva444p10le"
            else:
                self._stream = self._container.add_stream("libx264", rate=rate,
                                                          options={"crf": str(crf), "preset": preset})
                self._stream.pix_fmt = "yuv420p"
            self._stream.width, self._stream.height = self.stored_width, self.stored_height
            self._stream.thread_type = "AUTO"
            ctx = self._stream.codec_context
            ctx.colorspace = ctx.color_primaries = ctx.color_trc = _SMPTE170M
            ctx.color_range = _RANGE_MPEG
            if self._audio is not None:
                self._audio.add_stream(self._container)
        except BaseException as e:
            self._closed = True
            self._release()
            if isinstance(e, AV_ERRORS):
                raise OutputError(f"cannot set up {self._label}: {ffmpeg_reason(e)}") from None
            raise

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.close()

    def write(self, frame: Frame) -> None:
        """Encode one frame (uint8 H x W x 3 RGB, or H x W x 4 RGBA with ``alpha``, of ``width`` x ``height``)."""
        if self._closed:
            raise OutputError(f"{self._label} is already closed")
        if self.alpha:
            check_rgba(frame, f"frame {self.frames_written} for {self._label}")
        else:
            check_frame(frame, f"frame {self.frames_written} for {self._label}")
        if frame.shape[:2] != (self.height, self.width):
            raise InputError(f"frame {self.frames_written} for {self._label} is {frame.shape[1]}x{frame.shape[0]}, "
                             f"expected {self.width}x{self.height}")
        if self.width % 2 or self.height % 2:
            frame = np.pad(frame, ((0, self.height % 2), (0, self.width % 2), (0, 0)), mode="edge")
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgba" if self.alpha else "rgb24")
        vf.pts = self.frames_written
        try:
            for packet in self._stream.encode(vf):
                self._container.mux(packet)
            self.frames_written += 1
            if self._audio is not None:
                # Keep audio roughly interleaved with video (about one second ahead) for players that stream.
                self._audio.mux_until(self.frames_written / self._rate + 1.0)
        except AV_ERRORS as e:
            raise OutputError(f"cannot write {self._label}: {ffmpeg_reason(e)}") from None

    def close(self) -> None:
        """Flush the encoder, copy the remaining audio and finish the file."""
        if self._closed:
            return
        self._closed = True
        try:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
            if self._audio is not None:
                self._audio.mux_until(None)
        except AV_ERRORS as e:
            self._release()
            raise OutputError(f"cannot finish {self._label}: {ffmpeg_reason(e)}") from None
        except BaseException:
            self._release()
            raise
        self._release(check=True)

    def abort(self) -> None:
        """Stop without flushing or copying the rest of the audio (the file is left incomplete: delete it)."""
        if not self._closed:
            self._closed = True
            self._release()

    def _release(self, check: bool = False) -> None:
        if self._audio is not None:
            self._audio.close()
        try:
            self._container.close()
        except AV_ERRORS as e:
            if check:
                raise OutputError(f"cannot finish {self._label}: {ffmpeg_reason(e)}") from None


def _exact_rate(fps: Any, label: str) -> Fraction:
    """A positive, finite frame rate as a Fraction; floats near the NTSC rates become exactly N*1000/1001."""
    try:
        if isinstance(fps, Fraction):
            rate = fps
        else:
            value = float(fps)
            if not math.isfinite(value):
                raise ValueError
            rate = Fraction(value).limit_denominator(1001 * 1000)
            ntsc = Fraction(round(value * 1.001) * 1000, 1001)
            if ntsc > 0 and abs(float(ntsc) - value) < 5e-4 and rate.denominator > 1:
                rate = ntsc
    except (TypeError, ValueError, OverflowError):
        raise OutputError(f"frame rate for {label} must be a positive number, got {fps!r}") from None
    if rate <= 0 or rate > 1000:
        raise OutputError(f"frame rate for {label} must be in (0, 1000], got {fps!r}")
    return rate


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """Container-level tags of a media file (e.g. the synthvid stamp).

    Matroska stores tag names upper-case; they are returned lower-case so that ``synthvid_*`` keys read the same
    from every container. Other containers' keys are returned as stored.
    """
    container = open_media(path, "media", need_video=False)
    try:
        tags = dict(container.metadata)
        if "matroska" in container.format.name:
            tags = {k.lower(): v for k, v in tags.items()}
        return tags
    finally:
        container.close()
