"""Opening media files with PyAV, with FFmpeg's errors turned into one-line InputErrors that name the file."""

from __future__ import annotations

import os
from typing import Any

import av

from synthvid.errors import InputError
from synthvid.io.files import check_input_file

# What PyAV/FFmpeg raise on bad media: FFmpegError subclasses, some of which are also OSError/ValueError.
AV_ERRORS = (av.error.FFmpegError, OSError, ValueError)


def open_media(path: str | os.PathLike, what: str = "video", need_video: bool = True) -> Any:
    """Open ``path`` for reading as an ``av`` input container; InputError if it is missing, not media, or (when
    ``need_video``) has no video stream. ``what`` names the file's role in messages ("video", "audio source")."""
    p = check_input_file(path, what)
    try:
        container = av.open(str(p), "r", metadata_errors="ignore")
    except (*AV_ERRORS, UnicodeDecodeError) as e:
        raise InputError(f"{p} is not a readable {what} file ({ffmpeg_reason(e)})") from None
    if need_video and not container.streams.video:
        container.close()
        raise InputError(f"{p} has no video stream (or only an empty one)")
    return container


def ffmpeg_reason(e: BaseException) -> str:
    """FFmpeg's short reason ("Invalid data found when processing input") without the errno and file name."""
    text = getattr(e, "strerror", None) or str(e)
    return text.split(":")[-1].strip() if text else type(e).__name__
