"""Carrying the audio track of a source file into a written video: copied packet by packet, or re-encoded to AAC.

Used by :class:`synthvid.io.video.VideoWriter` (``audio_from=``); memory stays flat whatever the length.
"""

from __future__ import annotations

import os
from fractions import Fraction
from typing import Any

import av
import numpy as np

from synthvid.io.media import AV_ERRORS, open_media

# Audio codecs MP4/MOV/MKV carry as they are; anything else (PCM in MP4, ...) is re-encoded to AAC.
COPYABLE_AUDIO = {".mp4": {"aac", "mp3", "alac", "opus"}, ".mov": {"aac", "mp3", "alac", "pcm_s16le"},
                  ".mkv": {"aac", "mp3", "opus", "vorbis", "flac", "pcm_s16le"}}


class AudioCopier:
    """Copies (or, when the container cannot carry the codec, re-encodes to AAC) one audio stream, packet by packet.

    The source may be a video or an audio-only file (WAV, M4A, ...). ``start``/``end`` (seconds) cut the audio to
    the part of the video that was converted, and source time ``start`` becomes output time 0, so the audio stays in
    sync with frames taken from ``start`` on. Re-encoded audio is cut to the sample; copied audio to the packet
    (about 20 ms for AAC), its timestamps still shifted by exactly ``start``.
    """

    # Re-encoding decodes from this long before ``start``: codecs with overlapping frames (AAC, MP3) need it.
    _PREROLL = 0.1

    def __init__(self, source: str | os.PathLike, suffix: str, start: float, end: float | None) -> None:
        self._src = open_media(source, "audio source", need_video=False)
        if not self._src.streams.audio:
            self._src.close()
            self._src = None
            return
        self._in = self._src.streams.audio[0]
        self._start, self._end = start, end
        self._copy = self._in.codec_context.name in COPYABLE_AUDIO.get(suffix, set())
        self._pending: Any = None
        self._done = False

    @property
    def active(self) -> bool:
        return self._src is not None

    def add_stream(self, output: Any) -> None:
        """Create the output audio stream (call before the first packet is muxed)."""
        if self._copy:
            self._out = output.add_stream_from_template(self._in)
        else:
            rate = self._in.codec_context.sample_rate or 48000
            self._out = output.add_stream("aac", rate=rate)
            self._out.layout = "stereo" if (self._in.codec_context.channels or 1) > 1 else "mono"
            self._resampler = av.AudioResampler(format="fltp", layout=self._out.layout, rate=rate)
            self._samples_in: int | None = None  # output samples so far; set from the first kept frame
        self._output = output
        self._packets = self._src.demux(self._in)

    def mux_until(self, seconds: float | None) -> None:
        """Mux source audio whose output time is below ``seconds`` (None: everything left up to ``end``)."""
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
            self._write(packet, t)

    def _next_packet(self) -> Any:
        while True:
            try:
                packet = next(self._packets)
            except StopIteration:
                return None
            except AV_ERRORS:
                return None  # the source is damaged from here on: keep the audio read so far
            if packet.pts is not None and packet.size and not packet.is_corrupt:
                return packet

    def _write(self, packet: Any, t: float) -> None:
        if self._copy:
            # Packets starting before a cut are dropped (a packet cannot be split without re-encoding): the audio
            # then starts up to one packet late, still in sync. Without a cut, the encoder-priming packets that
            # sit before 0 (AAC) are kept, as the source has them.
            if self._start > 0 and t < self._start:
                return
            shift = round(self._start / packet.time_base)
            packet.pts -= shift
            packet.dts = packet.pts if packet.dts is None else packet.dts - shift
            packet.stream = self._out
            self._output.mux(packet)
            return
        if t < self._start - self._PREROLL:
            return
        try:
            frames = packet.decode()
        except AV_ERRORS:
            return  # a damaged audio packet is dropped, the video goes on
        for frame in frames:
            t0 = float(frame.pts * frame.time_base) if frame.pts is not None and frame.time_base else None
            part = self._trim(frame, t0)
            if part is None:
                continue
            if self._samples_in is None:
                # Audio that starts after ``start`` in the source starts as late in the output.
                lead = 0.0 if t0 is None else max(0.0, t0 - self._start)
                self._samples_in = round(lead * frame.sample_rate)
            self._encode(part)

    def _trim(self, frame: Any, t0: float | None) -> Any:
        """The part of a decoded frame (starting at source time ``t0``) inside [start, end), or None."""
        if t0 is None:
            return frame
        rate = frame.sample_rate
        first = max(0, round((self._start - t0) * rate))
        last = frame.samples if self._end is None else min(frame.samples, round((self._end - t0) * rate))
        if first >= last:
            return None
        if first == 0 and last == frame.samples:
            return frame
        data = frame.to_ndarray()
        step = 1 if frame.format.is_planar else len(frame.layout.channels)  # packed: channels interleaved
        part = av.AudioFrame.from_ndarray(np.ascontiguousarray(data[:, first * step:last * step]),
                                          format=frame.format.name, layout=frame.layout)
        part.sample_rate = rate
        return part

    def _encode(self, frame: Any) -> None:
        frame.pts = None
        for resampled in self._resampler.resample(frame):
            self._encode_resampled(resampled)

    def _encode_resampled(self, frame: Any) -> None:
        # Number the samples from 0 (output time 0 = source time ``start``). Explicit timestamps let the AAC encoder
        # mark its priming samples (first packet before 0), which players then skip: without them all audio would
        # play one AAC frame (~21 ms) late.
        frame.pts, frame.time_base = self._samples_in or 0, Fraction(1, frame.sample_rate)
        self._samples_in = frame.pts + frame.samples
        for out_packet in self._out.encode(frame):
            self._output.mux(out_packet)

    def _finish(self) -> None:
        if self._done:
            return
        self._done = True
        if not self._copy:
            for resampled in self._resampler.resample(None):
                self._encode_resampled(resampled)
            for p in self._out.encode(None):
                self._output.mux(p)

    def close(self) -> None:
        if self._src is not None:
            self._src.close()
