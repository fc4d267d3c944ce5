"""A lip-sync model: the audio-to-mouth network plus what it knows about one target person.

Stage 1 is the speaker-generic network shipped with synthvid (``data/audio2mouth.pt``, trained by
``scripts/train_audio2mouth.py``). Stage 2 (Neural Voice Puppetry's person-specific step) adapts it to a target
from a few minutes or less of the target speaking: the network is fine-tuned on the target's own clips with the
shared resumable loop, and a ridge-regression map from the network's output (with +-2 frames of context) to the
target's own mouth offsets corrects the remaining person-specific differences (how wide this person opens, how
far the jaw drops). A model folder holds ``checkpoint.pt`` (the fine-tuned network, shared loop format) and
``person.npz`` (mean mouth shape and the ridge map).
"""

from __future__ import annotations

import dataclasses
import functools
import os
from importlib import resources
from pathlib import Path

import numpy as np
from synthvid.errors import CheckpointError, InputError
from synthvid.lipsync.data import ClipData
from synthvid.models.audio2mouth import ARCH, Audio2Mouth, Audio2MouthConfig
from synthvid.train.checkpoint import load_checkpoint

CONTEXT = 2  # frames either side fed to the person-specific map
RIDGE = 3.0  # ridge strength (relative to the mean squared input)
PERSON_FILE = "person.npz"


def _load_network(source: str | os.PathLike | None) -> tuple[Audio2Mouth, int]:
    if source is None:
        with resources.as_file(resources.files("synthvid.data").joinpath("audio2mouth.pt")) as p:
            ck = load_checkpoint(p, ARCH)
    else:
        ck = load_checkpoint(source, ARCH)
    try:
        net = Audio2Mouth(Audio2MouthConfig.from_dict(ck["config"]))
        net.load_state_dict(ck["state_dict"]["audio2mouth"])
    except (KeyError, RuntimeError, TypeError, ValueError) as e:
        raise CheckpointError(f"audio-to-mouth weights do not fit the network: {str(e).splitlines()[0][:160]}") \
            from None
    net.eval()
    return net, int(ck["step"])


@functools.lru_cache(maxsize=1)
def generic_network() -> Audio2Mouth:
    """The shipped speaker-generic network (loaded once)."""
    return _load_network(None)[0]


def _context(c: np.ndarray) -> np.ndarray:
    """(T, K) -> (T, (2*CONTEXT+1)*K + 1): the rows around each frame (edges repeated) and a constant."""
    t = len(c)
    idx = np.clip(np.arange(t)[:, None] + np.arange(-CONTEXT, CONTEXT + 1)[None], 0, t - 1)
    return np.concatenate([c[idx].reshape(t, -1), np.ones((t, 1), c.dtype)], 1)


@dataclasses.dataclass
class LipSyncModel:
    """Turns speech features into the target's mouth shapes."""

    network: Audio2Mouth
    mean_shape: np.ndarray | None = None  # (59, 2) the target's mean lip/jaw shape (frontal), when fitted
    ridge: np.ndarray | None = None  # ((2C+1)K+1, 118) person-specific map, when fitted

    @classmethod
    def generic(cls) -> LipSyncModel:
        return cls(generic_network())

    @classmethod
    def load(cls, folder: str | os.PathLike) -> LipSyncModel:
        d = Path(folder)
        if not d.is_dir():
            raise InputError(f"lip-sync model folder not found: {d}")
        net, _ = _load_network(d / "checkpoint.pt")
        person = d / PERSON_FILE
        if not person.is_file():
            raise CheckpointError(f"{d} has no {PERSON_FILE}: not a trained lip-sync model")
        try:
            with np.load(person, allow_pickle=False) as z:
                mean, ridge = z["mean_shape"].astype(np.float32), z["ridge"].astype(np.float32)
        except (OSError, ValueError, KeyError) as e:
            raise CheckpointError(f"{person} is not readable ({str(e)[:120]})") from None
        k = net.cfg.components * (2 * CONTEXT + 1) + 1
        if mean.shape != (59, 2) or ridge.shape != (k, 118) or not (np.isfinite(mean).all() and np.isfinite(ridge).all()):
            raise CheckpointError(f"{person} does not match its network")
        return cls(net, mean, ridge)

    def save_person(self, folder: str | os.PathLike) -> Path:
        from synthvid.io.files import atomic_path  # noqa: PLC0415

        p = Path(folder) / PERSON_FILE
        with atomic_path(p) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, mean_shape=self.mean_shape, ridge=self.ridge)
        return p

    def fit_person(self, clips: list[ClipData]) -> None:
        """Fit the target's mean shape and the ridge map on the target's clips."""
        xs, ys, means = [], [], []
        for c in clips:
            m = c.found
            xs.append(_context(self.network.predict(c.features, c.fps))[m])
            ys.append(c.offsets()[m].reshape(int(m.sum()), -1))
            means.append(c.mean_shape() * m.sum())
        x, y = np.concatenate(xs).astype(np.float64), np.concatenate(ys).astype(np.float64)
        self.mean_shape = (np.sum(means, 0) / sum(int(c.found.sum()) for c in clips)).astype(np.float32)
        lam = RIDGE * float(np.mean(x[:, :-1] ** 2)) * len(x) / 100.0
        reg = lam * np.eye(x.shape[1])
        reg[-1, -1] = 0.0
        self.ridge = np.linalg.solve(x.T @ x + reg, x.T @ y).astype(np.float32)

    def offsets(self, features: np.ndarray, fps: float) -> np.ndarray:
        """(T, 59, 2) predicted offsets from the person's mean mouth."""
        coefs = self.network.predict(features, fps)
        if self.ridge is None:
            return self.network.pca.decode(coefs)
        return (_context(coefs) @ self.ridge).reshape(len(coefs), 59, 2)

    def shapes(self, features: np.ndarray, fps: float, mean_shape: np.ndarray | None = None) -> np.ndarray:
        """(T, 59, 2) absolute frontal mouth shapes: the person's mean (or ``mean_shape``) plus the offsets."""
        base = mean_shape if mean_shape is not None else self.mean_shape
        if base is None:
            raise InputError("the target's mean mouth shape is unknown: fit the model on the target first")
        return base[None] + self.offsets(features, fps)

