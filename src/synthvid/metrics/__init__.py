"""Network-free quality measures: image similarity and sharpness, landmark error and jitter, face identity, and how
well a detector's scores separate real from fake (ROC AUC with bootstrap intervals).

Nothing here downloads anything or loads a model: face descriptors to compare come from
:func:`synthvid.face.identity.embed_face`.
"""

from synthvid.metrics.identity import closer_to, identity_distance, share_closer_to
from synthvid.metrics.image import Box, l1, laplacian_variance, psnr, sharpness_ratio, ssim
from synthvid.metrics.landmarks import (
    landmark_distance,
    landmark_distance_sequence,
    opening_series,
    series_correlation,
    temporal_jitter,
)
from synthvid.metrics.ranking import auc_difference_interval, auc_interval, roc_auc

__all__ = [
    "Box",
    "auc_difference_interval",
    "auc_interval",
    "closer_to",
    "identity_distance",
    "l1",
    "landmark_distance",
    "landmark_distance_sequence",
    "laplacian_variance",
    "opening_series",
    "psnr",
    "roc_auc",
    "series_correlation",
    "share_closer_to",
    "sharpness_ratio",
    "ssim",
    "temporal_jitter",
]
