"""Image grids and strips for previews and docs (pure array operations)."""

from __future__ import annotations

import cv2
import numpy as np

from synthvid.errors import InputError
from synthvid.types import Frame, check_frame


def fit_height(image: Frame, height: int) -> Frame:
    """Resize to ``height`` keeping the aspect ratio."""
    check_frame(image)
    if image.shape[0] == height:
        return image
    width = max(1, round(image.shape[1] * height / image.shape[0]))
    interp = cv2.INTER_AREA if height < image.shape[0] else cv2.INTER_LINEAR
    return cv2.resize(image, (width, height), interpolation=interp)


def image_grid(rows: list[list[Frame]], cell: int | None = None, gap: int = 2, background: int = 255) -> Frame:
    """Tile images into a grid: each row a list of frames, all resized to ``cell`` pixels high (default: the
    first image's height), separated by ``gap`` pixels of ``background`` grey."""
    if not rows or not all(rows):
        raise InputError("image_grid needs at least one non-empty row")
    cell = cell or rows[0][0].shape[0]
    lines = []
    for row in rows:
        tiles = [fit_height(im, cell) for im in row]
        parts = []
        for t in tiles:
            parts += [t, np.full((cell, gap, 3), background, np.uint8)]
        lines.append(np.concatenate(parts[:-1], axis=1))
    width = max(line.shape[1] for line in lines)
    out = []
    for line in lines:
        pad = width - line.shape[1]
        out += [np.pad(line, ((0, 0), (0, pad), (0, 0)), constant_values=background),
                np.full((gap, width, 3), background, np.uint8)]
    return np.ascontiguousarray(np.concatenate(out[:-1], axis=0))


def label(image: Frame, text: str, scale: float = 0.45) -> Frame:
    """A copy of ``image`` with ``text`` written in its top-left corner (white on a dark band)."""
    out = check_frame(image).copy()
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    cv2.rectangle(out, (0, 0), (w + 6, h + base + 6), (0, 0, 0), -1)
    cv2.putText(out, text, (3, h + 3), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return out
