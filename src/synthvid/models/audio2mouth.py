"""Audio -> mouth shape: an LSTM with a look-ahead delay (Synthesizing Obama), predicting PCA coefficients of the
lip and jaw shape in the pose-free face.

The network reads speech features frame by frame and outputs the mouth shape of ``delay`` frames earlier, so each
prediction has heard ``delay`` frames (about 0.2 s) of the future: lips move before the sound they make. The PCA
basis travels with the weights (as buffers), so a checkpoint alone turns features into shapes.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
import torch.nn as nn

from synthvid.config import Config, option
from synthvid.lipsync.features import DIM
from synthvid.lipsync.shape import POINTS, ShapePCA

ARCH = "audio2mouth-lstm"


@dataclasses.dataclass(frozen=True)
class Audio2MouthConfig(Config):
    """Shape of the audio-to-mouth network (saved with the weights; must match on resume)."""

    hidden: int = option(64, "LSTM width")
    layers: int = option(1, "LSTM layers")
    components: int = option(16, "PCA components of the mouth/jaw shape predicted")
    delay_s: float = option(0.2, "look-ahead: seconds of future speech heard before a shape is output")
    dropout: float = option(0.1, "dropout between LSTM layers while training")


class Audio2Mouth(nn.Module):
    def __init__(self, cfg: Audio2MouthConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.inp = nn.Sequential(nn.Linear(DIM, 64), nn.Tanh())
        self.lstm = nn.LSTM(64, cfg.hidden, num_layers=cfg.layers, batch_first=True,
                            dropout=cfg.dropout if cfg.layers > 1 else 0.0)
        self.out = nn.Linear(cfg.hidden, cfg.components)
        d = 2 * len(POINTS)
        self.register_buffer("pca_mean", torch.zeros(d))
        self.register_buffer("pca_components", torch.zeros(cfg.components, d))
        self.register_buffer("pca_sd", torch.ones(cfg.components))

    def set_pca(self, pca: ShapePCA) -> None:
        self.pca_mean.copy_(torch.from_numpy(pca.mean))
        self.pca_components.copy_(torch.from_numpy(pca.components))
        self.pca_sd.copy_(torch.from_numpy(pca.sd))

    @property
    def pca(self) -> ShapePCA:
        return ShapePCA(self.pca_mean.cpu().numpy(), self.pca_components.cpu().numpy(), self.pca_sd.cpu().numpy())

    def delay(self, fps: float) -> int:
        return max(int(round(self.cfg.delay_s * fps)), 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, DIM) features -> (B, T, K) coefficients; output t is the shape of frame t - delay."""
        h, _ = self.lstm(self.inp(x))
        return self.out(h)

    @torch.no_grad()
    def predict(self, features: np.ndarray, fps: float) -> np.ndarray:
        """Coefficients (T, K) aligned with the (T, DIM) features' frames."""
        was = self.training
        self.eval()
        d = self.delay(fps)
        x = np.concatenate([features, np.zeros((d, features.shape[1]), np.float32)]).astype(np.float32)
        y = self(torch.from_numpy(x)[None].to(self.pca_sd.device))[0, d:].cpu().numpy()
        self.train(was)
        return y

    def offsets(self, features: np.ndarray, fps: float) -> np.ndarray:
        """Predicted (T, 59, 2) shape offsets from the speaker's mean mouth (canonical units)."""
        return self.pca.decode(self.predict(features, fps))
