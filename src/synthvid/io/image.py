"""Reading and writing still images (RGB uint8), with EXIF orientation applied and decompression bombs refused."""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, PngImagePlugin

from synthvid.errors import InputError, OutputError
from synthvid.io.files import check_input_file
from synthvid.types import Frame, check_frame

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
# Refuse images above this many pixels (a hostile file can declare a gigapixel canvas in a few bytes).
MAX_PIXELS = 80_000_000


def read_image(path: str | os.PathLike) -> Frame:
    """Read an image file as uint8 H x W x 3 RGB, upright per its EXIF orientation."""
    p = check_input_file(path, "image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(p) as im:
                if im.width * im.height > MAX_PIXELS:
                    raise InputError(f"{p} is too large ({im.width}x{im.height} pixels)")
                im = ImageOps.exif_transpose(im)
                rgb = im.convert("RGB")
                return np.asarray(rgb, dtype=np.uint8).copy()
    except InputError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise InputError(f"{p} is not a readable image ({e})") from None


def encode_image(frame: Frame, suffix: str, tags: dict[str, str] | None = None, quality: int = 95) -> bytes:
    """Encode an RGB frame as PNG or JPEG bytes; ``tags`` become PNG text chunks or the JPEG comment + EXIF."""
    check_frame(frame)
    suffix = suffix.lower()
    im = Image.fromarray(frame, "RGB")
    buf = io.BytesIO()
    tags = tags or {}
    if suffix == ".png":
        info = PngImagePlugin.PngInfo()
        for k, v in tags.items():
            info.add_itxt(k, v)
        im.save(buf, format="PNG", pnginfo=info, compress_level=3)
    elif suffix in (".jpg", ".jpeg"):
        exif = Image.Exif()
        if "Software" in tags:
            exif[0x0131] = tags["Software"]
        if "Comment" in tags:
            exif[0x010E] = tags["Comment"]  # ImageDescription
        comment = "\n".join(f"{k}={v}" for k, v in tags.items())
        im.save(buf, format="JPEG", quality=quality, exif=exif.tobytes(), comment=comment.encode("utf-8"))
    else:
        raise OutputError(f"image output must end in {', '.join(IMAGE_SUFFIXES)}, got {suffix or 'no suffix'}")
    return buf.getvalue()


def read_image_tags(path: str | os.PathLike) -> dict[str, str]:
    """Text tags of a PNG, or the ``key=value`` lines of a JPEG comment, as written by :func:`encode_image`."""
    p = Path(check_input_file(path, "image"))
    try:
        with Image.open(p) as im:
            if im.format == "PNG":
                return {k: str(v) for k, v in im.text.items()}
            comment = im.info.get("comment", b"")
    except (OSError, ValueError, SyntaxError) as e:
        raise InputError(f"{p} is not a readable image ({e})") from None
    text = comment.decode("utf-8", "replace") if isinstance(comment, bytes) else str(comment)
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
