"""Reading and writing still images (RGB uint8), with EXIF orientation applied and decompression bombs refused."""

from __future__ import annotations

import io
import os
import re
import warnings

import numpy as np
from PIL import Image, ImageOps, PngImagePlugin

from synthvid.errors import InputError, OutputError
from synthvid.io.files import check_input_file
from synthvid.types import Frame, check_frame

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
# Refuse images above this many pixels (a hostile file can declare a gigapixel canvas in a few bytes).
MAX_PIXELS = 80_000_000
# A JPEG comment segment holds at most 65533 bytes; longer tag values are shortened to fit.
_JPEG_COMMENT_MAX = 65_000
_PIL_ERRORS = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError, Image.DecompressionBombWarning)


def read_image(path: str | os.PathLike) -> Frame:
    """Read an image file as uint8 H x W x 3 RGB, upright per its EXIF orientation.

    Alpha is dropped (not composited); 16-bit greyscale is scaled to 8 bits. Raises InputError for missing,
    unreadable or oversized (more than ``MAX_PIXELS``) images.
    """
    p = check_input_file(path, "image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(p) as im:
                if im.width * im.height > MAX_PIXELS:
                    raise InputError(f"{p} is too large ({im.width}x{im.height} pixels, limit {MAX_PIXELS})")
                im = ImageOps.exif_transpose(im)
                if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
                    # Pillow's I->RGB conversion clips at 255, turning 16-bit pictures white: scale instead.
                    grey = (np.asarray(im).astype(np.uint32) >> 8).clip(0, 255).astype(np.uint8)
                    return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))
                rgb = im.convert("RGB")
                return np.asarray(rgb, dtype=np.uint8).copy()
    except InputError:
        raise
    except _PIL_ERRORS as e:
        raise InputError(f"{p} is not a readable image ({_reason(e)})") from None


def _reason(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


def encode_image(frame: Frame, suffix: str, tags: dict[str, str] | None = None, quality: int = 95) -> bytes:
    """Encode an RGB frame as PNG or JPEG bytes.

    ``tags`` become PNG iTXt chunks, or for JPEG one ``key=value`` line each in the comment segment (newlines and
    backslashes in values escaped; values shortened if the segment would overflow its 64 KB), with ``comment`` and
    ``Software`` also in EXIF. :func:`read_image_tags` reads either back.
    """
    check_frame(frame)
    suffix = suffix.lower()
    tags = {str(k): str(v) for k, v in (tags or {}).items()}
    for key in tags:
        if not key or "=" in key or "\n" in key or "\r" in key or len(key) > 79:
            raise OutputError(f"image tag name {key!r} must be 1-79 characters without '=' or line breaks")
    im = Image.fromarray(frame, "RGB")
    buf = io.BytesIO()
    if suffix == ".png":
        info = PngImagePlugin.PngInfo()
        for k, v in tags.items():
            info.add_itxt(k, v)
        im.save(buf, format="PNG", pnginfo=info, compress_level=3)
    elif suffix in (".jpg", ".jpeg"):
        exif = Image.Exif()
        if "Software" in tags:
            exif[0x0131] = _exif_ascii(tags["Software"])
        if "comment" in tags:
            exif[0x010E] = _exif_ascii(tags["comment"])  # ImageDescription
        im.save(buf, format="JPEG", quality=quality, exif=exif.tobytes(), comment=_jpeg_comment(tags))
    else:
        raise OutputError(f"image output must end in {', '.join(IMAGE_SUFFIXES)}, got {suffix or 'no suffix'}")
    return buf.getvalue()


def _exif_ascii(text: str) -> str:
    # EXIF ASCII fields are 7-bit and short in practice; the full text lives in the comment.
    return text.encode("ascii", "replace").decode("ascii")[:1000]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "r": "\r"}.get(m.group(1), m.group(1)), value)


def _jpeg_comment(tags: dict[str, str]) -> bytes:
    lines = {k: _escape(v) for k, v in tags.items()}
    text = "\n".join(f"{k}={v}" for k, v in lines.items()).encode("utf-8")
    while len(text) > _JPEG_COMMENT_MAX:
        key = max(lines, key=lambda k: len(lines[k]))  # shorten the longest value (settings, in practice)
        excess = len(text) - _JPEG_COMMENT_MAX
        keep = max(0, len(lines[key]) - excess - 32)
        shortened = lines[key][:keep].rstrip("\\") + "...[truncated]"
        if len(shortened) >= len(lines[key]):
            raise OutputError(f"{len(tags)} image tags do not fit in a JPEG comment")
        lines[key] = shortened
        text = "\n".join(f"{k}={v}" for k, v in lines.items()).encode("utf-8")
    return text


def read_image_tags(path: str | os.PathLike) -> dict[str, str]:
    """Text tags of a PNG (chunks before the image data, where :func:`encode_image` puts them), or the ``key=value``
    lines of a JPEG comment. Does not decode the pixels."""
    p = check_input_file(path, "image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(p) as im:
                if im.format == "PNG":
                    # im.text would decode the whole image to reach chunks after it; im.info holds those before.
                    return {k: str(v) for k, v in im.info.items() if isinstance(v, str)}
                comment = im.info.get("comment", b"")
    except _PIL_ERRORS as e:
        raise InputError(f"{p} is not a readable image ({_reason(e)})") from None
    text = comment.decode("utf-8", "replace") if isinstance(comment, bytes) else str(comment)
    return {k: _unescape(v) for k, v in (line.split("=", 1) for line in text.splitlines() if "=" in line)}
