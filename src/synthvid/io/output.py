"""The single output writer: every file synthvid writes goes through here.

One place means one place to stamp provenance: the container/image tags say the file is synthetic (or derived, for
face crops), which tool and version made it, which job, and with which settings; every frame and image gets the
invisible watermark (:meth:`VideoOutput.write`, :func:`write_image`), and every finished file is signed with a C2PA
manifest before it is moved into place (:mod:`synthvid.provenance`).

Every writer is atomic: the file appears at its final path complete, or not at all.
"""

from __future__ import annotations

import dataclasses
import json
import os
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from synthvid import TOOL_NAME, __version__
from synthvid.errors import OutputError
from synthvid.io.files import (
    atomic_path,
    check_not_input,
    check_output_path,
    finalize_partial,
    partial_path,
    write_bytes_atomic,
)
from synthvid.io.image import IMAGE_SUFFIXES, encode_image
from synthvid.io.video import VIDEO_SUFFIXES, VideoWriter
from synthvid.provenance import Marker
from synthvid.types import Frame, check_frame, check_rgba


@dataclasses.dataclass(frozen=True)
class Stamp:
    """What an output says about itself."""

    job: str  # the job that made it, e.g. "swap.convert"
    settings: dict[str, Any] = dataclasses.field(default_factory=dict)  # resolved settings (JSON-able)
    synthetic: bool = True  # True: the content is generated; False: derived from real input (e.g. face crops)
    inputs: tuple[str, ...] = ()  # names of the input files
    # the input whose picture the output carries (re-encoded, edited): a synthvid mark found there is carried on
    # with its payload rather than overwritten by a clashing one (see synthvid.provenance.Marker)
    pixels_from: str | None = None

    def tags(self) -> dict[str, str]:
        """Key/value tags for containers and images."""
        kind = "synthetic (AI-generated) media" if self.synthetic else "media derived from real footage"
        return {
            "comment": f"{kind} made by {TOOL_NAME} {__version__} ({self.job})",
            "Software": f"{TOOL_NAME} {__version__}",
            "synthvid_synthetic": "true" if self.synthetic else "false",
            "synthvid_job": self.job,
            "synthvid_version": __version__,
            "synthvid_settings": json.dumps(self.settings, sort_keys=True, default=str),
            "synthvid_inputs": json.dumps([os.path.basename(i) for i in self.inputs]),
        }


class VideoOutput:
    """An H.264 video written to a hidden temporary file and renamed into place on :meth:`close`.

    Use as a context manager: leaving the block with an exception removes the temporary file and leaves whatever
    was at the final path untouched. Closing after no frame was written raises OutputError (and writes nothing):
    an empty video is never a useful result. Arguments are those of :class:`~synthvid.io.video.VideoWriter`; odd
    sizes are stored padded to even.
    """

    def __init__(self, path: str | os.PathLike, stamp: Stamp, *, fps: float | Fraction, width: int, height: int,
                 audio_from: str | os.PathLike | None = None, audio_start: float = 0.0,
                 audio_end: float | None = None, crf: int = 18, preset: str = "veryfast",
                 alpha: bool = False) -> None:
        self.path = check_output_path(path, VIDEO_SUFFIXES)
        check_not_input(self.path, (*stamp.inputs, stamp.pixels_from, audio_from))
        self.stamp = stamp
        self.marker = Marker(stamp, self.path)
        self._tmp = partial_path(self.path)
        try:
            self._writer = VideoWriter(self._tmp, fps=fps, width=width, height=height, crf=crf, preset=preset,
                                       audio_from=audio_from, audio_start=audio_start, audio_end=audio_end,
                                       metadata=stamp.tags(), label=str(self.path), alpha=alpha)
        except BaseException:
            self._tmp.unlink(missing_ok=True)
            raise
        self._open = True

    @property
    def frames_written(self) -> int:
        return self._writer.frames_written

    def write(self, frame: Frame) -> None:
        """Watermark and encode one uint8 H x W x 3 RGB frame (H x W x 4 RGBA for an ``alpha`` output: the colour
        is watermarked, the alpha kept) of the size given at construction."""
        if self._writer.alpha:
            check_rgba(frame, f"frame for {self.path}")
            marked = self.marker.mark(np.ascontiguousarray(frame[..., :3]))
            self._writer.write(np.concatenate([marked, frame[..., 3:]], axis=2))
            return
        check_frame(frame, f"frame for {self.path}")
        self._writer.write(self.marker.mark(frame))

    def close(self) -> Path:
        """Finish the file and move it to its final path."""
        if self._open:
            self._open = False
            try:
                if self._writer.frames_written == 0:
                    self._writer.abort()
                    raise OutputError(f"no frames were written to {self.path}; nothing saved")
                self._writer.close()
                self.marker.sign(self._tmp)
                finalize_partial(self._tmp, self.path)
            except OSError as e:
                self._tmp.unlink(missing_ok=True)
                raise OutputError(f"cannot write {self.path}: {e.strerror or e}") from None
            except BaseException:
                self._tmp.unlink(missing_ok=True)
                raise
        return self.path

    def abort(self) -> None:
        """Drop the partial file; the final path is left untouched."""
        if self._open:
            self._open = False
            self._writer.abort()
            self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> VideoOutput:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_image(path: str | os.PathLike, frame: Frame, stamp: Stamp, quality: int = 95) -> Path:
    """Write a watermarked, signed PNG/JPEG with the stamp in its tags, atomically."""
    p = check_output_path(path, IMAGE_SUFFIXES)
    check_not_input(p, (*stamp.inputs, stamp.pixels_from))
    check_frame(frame, f"image for {p}")
    marker = Marker(stamp, p)
    with atomic_path(p) as tmp:
        tmp.write_bytes(encode_image(marker.mark(frame), p.suffix, stamp.tags(), quality=quality))
        marker.sign(tmp)
    return p


def write_json(path: str | os.PathLike, data: Any) -> Path:
    """Write JSON atomically (settings, reports, alignments metadata)."""
    p = check_output_path(path, (".json",))
    return write_bytes_atomic(p, (json.dumps(data, indent=2, sort_keys=True, default=str) + "\n").encode("utf-8"))


def write_text(path: str | os.PathLike, text: str) -> Path:
    p = check_output_path(path)
    return write_bytes_atomic(p, text.encode("utf-8"))


def write_figure(path: str | os.PathLike, figure: Any, stamp: Stamp) -> Path:
    """Save a matplotlib figure as PNG through the same atomic path (stamped as derived, not synthetic media)."""
    p = check_output_path(path, (".png",))
    with atomic_path(p) as tmp:
        figure.savefig(tmp, format="png", dpi=100, metadata={k: v for k, v in stamp.tags().items() if k in ("Software", "comment")})
    return p


__all__ = ["Stamp", "VideoOutput", "atomic_path", "write_figure", "write_image", "write_json", "write_text"]
