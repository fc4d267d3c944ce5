"""Audio -> mouth shape: a linear speech filter followed by an LSTM with a look-ahead delay (after Synthesizing
Obama), predicting PCA coefficients of the lip and jaw shape in the pose-free face.

Two paths, summed:

- **Filter**: a linear map from the speech features of ``taps`` frames centred on a frame to that frame's mouth
  coefficients (a 1-D convolution over time). It is not learned by gradient descent but solved in closed form as a
  ridge regression, from sufficient statistics (``X^T X``, ``X^T Y``) that travel with the weights. Those statistics
  make the person-specific stage a principled MAP update: the target's own statistics are added with a weight and
  the filter re-solved (:meth:`Audio2Mouth.adapt_filter`), so twenty seconds of a new speaker move the generic
  filter toward that person without forgetting what many speakers taught it.
- **LSTM**: reads the filter's per-frame estimates as they arrive and outputs a correction for the frame ``delay``
  frames back, so each correction has heard ``delay - taps // 2`` frames of later articulation (co-articulation:
  lips move before the sound they make). Its output layer starts at zero, so an untrained LSTM leaves the filter's
  answer unchanged.

Why this shape: the development data is about four minutes of speech from fifteen speakers. On it, an LSTM reading
the raw features (the first version of this module) overfit within a hundred steps and, on held-out speech,
predicted mouth opening worse (correlation 0.27-0.36) than the closed-form linear filter alone (0.49); the filter
plus a small LSTM correction is the best of the variants measured (docs/lip_sync.md).

The PCA basis travels with the weights (as buffers), so a checkpoint alone turns features into shapes.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
import torch.nn as nn

from synthvid.config import Config, option
from synthvid.errors import InputError
from synthvid.lipsync.features import DIM
from synthvid.lipsync.shape import POINTS, ShapePCA

ARCH = "audio2mouth-filter-lstm"


@dataclasses.dataclass(frozen=True)
class Audio2MouthConfig(Config):
    """Shape of the audio-to-mouth network (saved with the weights; must match on resume)."""

    hidden: int = option(8, "LSTM width")
    components: int = option(16, "PCA components of the mouth/jaw shape predicted")
    taps: int = option(5, "speech frames the linear filter reads, centred on the frame it predicts (odd)")
    delay: int = option(6, "look-ahead in frames: a shape is output after hearing this many later frames")
    ridge: float = option(300.0, "ridge strength of the closed-form filter (features are unit-variance)")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.taps < 1 or self.taps % 2 == 0:
            raise InputError(f"taps must be odd and positive, got {self.taps}")
        if self.delay < self.taps // 2:
            raise InputError(f"delay ({self.delay}) must be at least taps // 2 ({self.taps // 2})")


MODEL_FPS = 27.5  # the training clips run at 25 and 30 fps; far other rates are resampled toward this one


def rate_factor(fps: float) -> int:
    """How a clip at ``fps`` is brought to the model's frame rate: k > 1 averages blocks of k frames (50, 60 fps),
    k < -1 interpolates |k| frames per frame (12, 15 fps), 1 leaves it (20-40 fps)."""
    if fps > 40:
        return max(int(round(fps / MODEL_FPS)), 2)
    if 0 < fps < 20:
        return -max(int(round(MODEL_FPS / fps)), 2)
    return 1


def to_model_rate(x: np.ndarray, fps: float) -> np.ndarray:
    """(T, ...) per-frame values at ``fps`` -> the same at the model's rate (see :func:`rate_factor`)."""
    x = np.asarray(x, np.float32)
    k = rate_factor(fps)
    if k == 1 or len(x) == 0:
        return x
    if k > 1:
        m = -(-len(x) // k)
        padded = np.concatenate([x, np.repeat(x[-1:], m * k - len(x), 0)])
        return padded.reshape(m, k, *x.shape[1:]).mean(1)
    pos = np.arange(len(x) * -k) / -k
    flat = x.reshape(len(x), -1)
    out = np.stack([np.interp(pos, np.arange(len(x)), col) for col in flat.T], 1)
    return out.reshape(len(pos), *x.shape[1:]).astype(np.float32)


def from_model_rate(y: np.ndarray, fps: float, n: int) -> np.ndarray:
    """Values at the model's rate back to ``n`` frames at ``fps`` (inverse of :func:`to_model_rate`)."""
    k = rate_factor(fps)
    if k == 1:
        return y[:n]
    if k < 1:
        return y[:: -k][:n]
    centres = np.arange(len(y)) * k + (k - 1) / 2
    flat = y.reshape(len(y), -1)
    out = np.stack([np.interp(np.arange(n), centres, col) for col in flat.T], 1)
    return out.reshape(n, *y.shape[1:]).astype(np.float32)


def context_rows(features: np.ndarray, taps: int) -> np.ndarray:
    """(T, DIM) -> (T, taps * DIM + 1): each frame's window of features (zeros past the ends, as the network pads)
    and a constant, in the filter's order (earliest frame first)."""
    x = np.asarray(features, np.float32)
    h = taps // 2
    pad = np.concatenate([np.zeros((h, x.shape[1]), np.float32), x, np.zeros((h, x.shape[1]), np.float32)])
    win = np.lib.stride_tricks.sliding_window_view(pad, (taps, x.shape[1]))[:, 0]  # T x taps x DIM
    return np.concatenate([win.reshape(len(x), -1), np.ones((len(x), 1), np.float32)], 1)


class Audio2Mouth(nn.Module):
    def __init__(self, cfg: Audio2MouthConfig) -> None:
        super().__init__()
        self.cfg = cfg
        k = cfg.components
        self.filter = nn.Conv1d(DIM, k, cfg.taps)
        self.lstm = nn.LSTM(k, cfg.hidden, batch_first=True)
        self.out = nn.Linear(cfg.hidden, k)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        d = 2 * len(POINTS)
        n = cfg.taps * DIM + 1
        self.register_buffer("pca_mean", torch.zeros(d))
        self.register_buffer("pca_components", torch.zeros(k, d))
        self.register_buffer("pca_sd", torch.ones(k))
        self.register_buffer("stats_xtx", torch.zeros(n, n, dtype=torch.float64))
        self.register_buffer("stats_xty", torch.zeros(n, k, dtype=torch.float64))

    def set_pca(self, pca: ShapePCA) -> None:
        self.pca_mean.copy_(torch.from_numpy(pca.mean))
        self.pca_components.copy_(torch.from_numpy(pca.components))
        self.pca_sd.copy_(torch.from_numpy(pca.sd))

    @property
    def pca(self) -> ShapePCA:
        return ShapePCA(self.pca_mean.cpu().numpy(), self.pca_components.cpu().numpy(), self.pca_sd.cpu().numpy())

    def delay(self, fps: float) -> int:  # noqa: ARG002 - in frames at the model's rate (see to_model_rate)
        return self.cfg.delay

    # -- the closed-form filter ------------------------------------------------------------------------------

    def set_stats(self, xtx: np.ndarray, xty: np.ndarray) -> None:
        """Keep the filter's sufficient statistics (from :func:`filter_stats` over the training clips)."""
        self.stats_xtx.copy_(torch.from_numpy(np.asarray(xtx, np.float64)))
        self.stats_xty.copy_(torch.from_numpy(np.asarray(xty, np.float64)))

    def solve_filter(self, extra_xtx: np.ndarray | None = None, extra_xty: np.ndarray | None = None,
                     weight: float = 1.0) -> None:
        """Set the filter to the ridge solution of the stored statistics, plus ``weight`` x extra ones."""
        xtx = self.stats_xtx.cpu().numpy().copy()
        xty = self.stats_xty.cpu().numpy().copy()
        if extra_xtx is not None and extra_xty is not None:
            xtx += weight * np.asarray(extra_xtx, np.float64)
            xty += weight * np.asarray(extra_xty, np.float64)
        reg = self.cfg.ridge * np.eye(len(xtx))
        reg[-1, -1] = 0.0  # the constant is not shrunk
        w = np.linalg.solve(xtx + reg, xty)  # (taps * DIM + 1, K)
        k, taps = self.cfg.components, self.cfg.taps
        weight_t = w[:-1].reshape(taps, DIM, k).transpose(2, 1, 0)  # K x DIM x taps
        with torch.no_grad():
            self.filter.weight.copy_(torch.from_numpy(np.ascontiguousarray(weight_t)).float())
            self.filter.bias.copy_(torch.from_numpy(w[-1]).float())

    def freeze_filter(self) -> None:
        for p in self.filter.parameters():
            p.requires_grad_(False)

    # -- running ---------------------------------------------------------------------------------------------

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, DIM) features -> (B, T, K) coefficients; output t is the shape of frame t - delay."""
        h = self.cfg.taps // 2
        t = x.shape[1]
        # f[p]: the filter's estimate for frame p - h (it reads frames p - 2h .. p; zeros before the start)
        f = self.filter(nn.functional.pad(x.transpose(1, 2), (2 * h, 0))).transpose(1, 2)
        lag = self.cfg.delay - h  # output p is frame p - delay, i.e. filter estimate f[p - lag]
        skip = torch.cat([f.new_zeros(f.shape[0], lag, f.shape[2]) + self.filter.bias, f[:, : max(t - lag, 0)]],
                         1)[:, :t]
        r, _ = self.lstm(f)
        return skip + self.out(r)

    @torch.no_grad()
    def predict(self, features: np.ndarray, fps: float) -> np.ndarray:
        """Coefficients (T, K) aligned with the (T, DIM) features' frames (at ``fps``; clips far from the model's
        25-30 fps are resampled to it and back, so the filter and look-ahead keep their meaning in seconds)."""
        was = self.training
        self.eval()
        d = self.delay(fps)
        feats = to_model_rate(features, fps)
        x = np.concatenate([feats, np.zeros((d, feats.shape[1]), np.float32)]).astype(np.float32)
        y = self(torch.from_numpy(x)[None].to(self.pca_sd.device))[0, d:].cpu().numpy()
        self.train(was)
        return from_model_rate(y, fps, len(features))

    def offsets(self, features: np.ndarray, fps: float) -> np.ndarray:
        """Predicted (T, 59, 2) shape offsets from the speaker's mean mouth (canonical units)."""
        return self.pca.decode(self.predict(features, fps))
