"""Compositing: colour transfer (``color``), blending (``blend``) and pasting a face crop back (``paste``)."""

from synthvid.composite.blend import (
    BLEND_METHODS,
    blend,
    blend_feather,
    blend_laplacian,
    blend_poisson,
    feather_mask,
)
from synthvid.composite.color import COLOR_METHODS, match_histograms, transfer_color, transfer_color_reinhard
from synthvid.composite.paste import crop_scale, paste_back, roi_of_crop, warp_to_frame

__all__ = [
    "BLEND_METHODS",
    "COLOR_METHODS",
    "blend",
    "blend_feather",
    "blend_laplacian",
    "blend_poisson",
    "crop_scale",
    "feather_mask",
    "match_histograms",
    "paste_back",
    "roi_of_crop",
    "transfer_color",
    "transfer_color_reinhard",
    "warp_to_frame",
]
