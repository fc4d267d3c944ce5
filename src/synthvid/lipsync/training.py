"""Training the audio-to-mouth network: the closed-form speech filter, and its LSTM correction with the shared
resumable loop.

Targets are the generic PCA coefficients of each clip's mouth-shape offsets from its own mean shape, so speakers
with different mouths share one output space. :func:`filter_stats` gathers the ridge regression's sufficient
statistics over clips (frames without a tracked face left out); the network keeps them and solves its filter from
them. The LSTM is then trained with the filter frozen: windows of ``window`` frames are drawn at random (clips
weighted by length); the loss is the mean squared coefficient error plus the error of their frame-to-frame change
(so the mouth moves as briskly as the real one instead of averaging into a mumble), masked where no face was found.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import torch

from synthvid.config import Config, option
from synthvid.errors import InputError
from synthvid.lipsync.data import ClipData
from synthvid.lipsync.features import DIM
from synthvid.lipsync.shape import ShapePCA, opening
from synthvid.models.audio2mouth import ARCH, Audio2Mouth, Audio2MouthConfig, context_rows, to_model_rate
from synthvid.train.loop import numpy_rng_state, restore_numpy_rng
from synthvid.types import Frame


@dataclasses.dataclass(frozen=True)
class Audio2MouthTrainConfig(Config):
    """How the audio-to-mouth network is trained (not saved as architecture)."""

    batch: int = option(16, "windows per step")
    window: int = option(90, "frames per training window")
    lr: float = option(2e-3, "Adam learning rate")
    velocity_weight: float = option(1.0, "weight of the frame-to-frame change loss")
    feature_noise: float = option(0.3, "std of Gaussian noise added to the normalised speech features")


def at_model_rate(clip: ClipData, pca: ShapePCA) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A clip's (features, PCA coefficients of its mouth offsets, face-found mask) at the network's frame rate."""
    found = to_model_rate(clip.found.astype(np.float32), clip.fps) > 0.99
    return to_model_rate(clip.features, clip.fps), to_model_rate(pca.encode(clip.offsets()), clip.fps), found


def filter_stats(clips: Sequence[ClipData], model: Audio2Mouth) -> tuple[np.ndarray, np.ndarray]:
    """(X^T X, X^T Y) of the filter's ridge regression over ``clips``: feature windows against the model's PCA
    coefficients of each clip's mouth offsets, frames with a tracked face only."""
    n = model.cfg.taps * DIM + 1
    xtx, xty = np.zeros((n, n)), np.zeros((n, model.cfg.components))
    pca = model.pca
    for c in clips:
        if not len(c):
            continue
        feats, coefs, found = at_model_rate(c, pca)
        x = context_rows(feats, model.cfg.taps)[found].astype(np.float64)
        y = coefs[found].astype(np.float64)
        xtx += x.T @ x
        xty += x.T @ y
    return xtx, xty


def fit_generic_pca(clips: Sequence[ClipData], k: int) -> ShapePCA:
    offsets = np.concatenate([c.offsets()[c.found] for c in clips])
    return ShapePCA.fit(offsets, k, mean=np.zeros(offsets.shape[1:], np.float32).reshape(-1))


class Audio2MouthTask:
    arch = ARCH

    def __init__(self, clips: Sequence[ClipData], model: Audio2Mouth, cfg: Audio2MouthTrainConfig,
                 seed: int = 0) -> None:
        if not clips:
            raise InputError("no clips to train on")
        self.model, self.cfg = model, cfg
        self.images_per_step = cfg.batch * cfg.window  # "images" = frames here
        pca = model.pca
        self.data = []
        for c in clips:
            feats, coefs, found = at_model_rate(c, pca)
            self.data.append((feats, coefs, found.astype(np.float32), c.fps))
        lengths = np.array([len(c) for c in clips], np.float64)
        self.weights = lengths / lengths.sum()
        self.max_delay = max(model.delay(c.fps) for c in clips)
        self.opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=cfg.lr)
        self.rng = np.random.default_rng(seed)
        self.preview_clip = clips[0]
        # Components matter as much as the shape variance they carry: unit-variance coefficients would otherwise
        # give the 16th (mostly tracking noise) the weight of the first (mouth opening).
        var = torch.from_numpy(pca.sd.astype(np.float32)) ** 2
        self.component_weight = (var / var.mean()).to(model.pca_sd.device)

    def config_dict(self) -> dict[str, Any]:
        return self.model.cfg.to_dict()

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"audio2mouth": self.model}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"adam": self.opt}

    def rng_state(self) -> dict[str, Any]:
        return {"numpy": numpy_rng_state(self.rng)}

    def set_rng_state(self, state: dict[str, Any]) -> None:
        self.rng = restore_numpy_rng(state["numpy"])

    def _batch(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
        """Windows of ``window`` target frames, each input ``delay`` frames longer (the network outputs frame t
        after hearing t + delay), so output ``delay + j`` is target ``j``."""
        w, k = self.cfg.window, self.model.cfg.components
        big = self.max_delay
        xs = np.zeros((self.cfg.batch, w + big, DIM), np.float32)
        ys = np.zeros((self.cfg.batch, w, k), np.float32)
        ms = np.zeros((self.cfg.batch, w), np.float32)
        for b in range(self.cfg.batch):
            x, y, m, fps = self.data[self.rng.choice(len(self.data), p=self.weights)]
            d = self.model.delay(fps)
            s = int(self.rng.integers(0, max(len(x) - w, 0) + 1))
            seg = x[s: s + w + d]
            xs[b, big - d: big - d + len(seg)] = seg
            n = len(y[s: s + w])
            ys[b, :n], ms[b, :n] = y[s: s + w], m[s: s + w]
        x = torch.from_numpy(xs)
        x = x + self.cfg.feature_noise * torch.randn_like(x)
        return x, torch.from_numpy(ys), torch.from_numpy(ms), big

    def train_step(self, step: int, sync: Any) -> dict[str, float]:
        self.model.train()
        x, y, m, d = self._batch()
        dev = self.model.pca_sd.device
        x, y, m = x.to(dev), y.to(dev), m.to(dev)
        out = self.model(x)[:, d:]
        w = self.component_weight
        err = ((out - y) ** 2 * w).mean(-1)
        coef = (err * m).sum() / m.sum().clamp(min=1)
        vm = m[:, 1:] * m[:, :-1]
        verr = (((out[:, 1:] - out[:, :-1]) - (y[:, 1:] - y[:, :-1])) ** 2 * w).mean(-1)
        vel = (verr * vm).sum() / vm.sum().clamp(min=1)
        loss = coef + self.cfg.velocity_weight * vel
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        sync(self.model.parameters())
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.opt.step()
        return {"total": loss.item(), "coef": coef.item(), "velocity": vel.item()}

    def preview(self) -> Frame:
        """Mouth opening over time of the first clip: real (green) and predicted (red)."""
        c = self.preview_clip
        pred = c.mean_shape() + self.model.offsets(c.features, c.fps)
        return opening_plot(opening(c.shapes), opening(pred))


def opening_plot(real: np.ndarray, pred: np.ndarray, height: int = 160, max_frames: int = 600) -> Frame:
    """Two mouth-opening curves as an image (real green, predicted red)."""
    n = min(len(real), max_frames)
    img = np.full((height, max(n, 2) * 2, 3), 255, np.uint8)
    top = max(float(np.max(real[:n])), float(np.max(pred[:n])), 1e-3)
    for curve, colour in ((real, (0, 150, 0)), (pred, (210, 0, 0))):
        ys = height - 5 - (np.clip(curve[:n], 0, None) / top * (height - 10))
        pts = np.stack([np.arange(n) * 2, ys], 1).astype(np.int32)
        cv2.polylines(img, [pts], False, colour, 1, cv2.LINE_AA)
    return img


def new_model(cfg: Audio2MouthConfig, pca: ShapePCA, clips: Sequence[ClipData] = ()) -> Audio2Mouth:
    """A network with the given PCA basis; with ``clips``, its filter statistics gathered and the filter solved
    (and frozen: the LSTM learns on top of it)."""
    model = Audio2Mouth(cfg)
    model.set_pca(pca)
    if clips:
        model.set_stats(*filter_stats(clips, model))
        model.solve_filter()
        model.freeze_filter()
    return model
