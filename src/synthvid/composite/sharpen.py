"""Unsharp masking: restores some of the edge contrast an autoencoder's output loses when it is scaled up."""

from __future__ import annotations

import cv2

from synthvid.errors import InputError
from synthvid.types import Frame, check_frame


def unsharp_mask(image: Frame, amount: float, sigma: float = 1.0) -> Frame:
    """``image + amount * (image - blur(image))``: amount 0 returns the image; 0.5-1 is a visible sharpening."""
    check_frame(image)
    if amount < 0 or sigma <= 0:
        raise InputError(f"sharpen amount must be >= 0 and sigma > 0, got {amount} and {sigma}")
    if amount == 0:
        return image
    blurred = cv2.GaussianBlur(image, (0, 0), sigma)
    return cv2.addWeighted(image, 1 + amount, blurred, -amount, 0)
